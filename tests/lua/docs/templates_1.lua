local card = template.parse([[
<h1>{{ title }}</h1>
<ul>{% for item in items %}<li>{{ loop.index }}. {{ item.name }}{% if item.tags %} ({{ item.tags | join(", ") }}){% endif %}</li>{% endfor %}</ul>
{{ note | safe }}]], {html = true})
print(card({
  title = "Tom & Jerry",
  items = {{name = "<b>cheese</b>", tags = {"food", "yellow"}}, {name = "mousetrap"}},
  note = "<em>trusted markup</em>",
}))
print(template.render("{% for k, v in env | items %}{{ k }}={{ v }} {% endfor %}", {env = {b = 2, a = 1}}))
print(pcall(template.parse, "fine\n{% for x in %}"))
go(function() print(card:render({title = "from a goroutine", items = {}})) end)
wait()
