-- template: Jinja syntax (minijinja), HTML escaping, safe, loops over Lua arrays, includes, errors.
local hello = template.parse("Hello {{ name }}! {% for n in numbers %}{{ n * 2 }}{% if not loop.last %},{% endif %}{% endfor %}")
print(hello({name = "<World>", numbers = {1, 2, 3}}))
print(hello:render({name = "again", numbers = {}}), hello.name, types.type(hello))

-- escaping: on for {html = true} and .html files, off otherwise; `safe` opts out
local data = {s = [[<a href="x">Tom & Jerry's</a>]]}
print(template.render("{{ s }}", data))
print(template.render("{{ s }} | {{ s | safe }} | {{ s | e }}", data, {html = true}))

-- Lua arrays iterate, nested tables and maps work, missing values are empty
local view = {
  user = {name = "ann", roles = {"admin", "dev"}},
  matrix = {{1, 2}, {3, 4}},
  counts = {b = 2, a = 1},
  sparse = {[1] = "one", [3] = "three"},
}
print(template.render([==[{{ user.name }} is {{ user.roles | join("+") }}; {{ user.roles | length }} roles; first {{ user.roles[0] }}
{% for row in matrix %}[{% for v in row %}{{ v }}{% endfor %}]{% endfor %}
{% for k, v in counts | items %}{{ k }}={{ v }} {% endfor %}
{{ sparse["1"] }} {{ sparse["3"] }} [{{ missing }}] [{{ user.missing }}]]==], view))

-- files: includes and layouts through parse_files / parse_glob
local page = template.parse_files("views/page.html", "views/base.html", "views/nav.html")
local page_data = {
  title = "Items & more",
  links = {{href = "/", text = "Home"}, {href = "/a?b=1&c=2", text = "A<B"}},
  items = {{name = "pen", tags = {"blue", "<cheap>"}}, {name = "ink", tags = {}}},
  footer = "<footer>ok</footer>",
}
print(page(page_data))
local by_glob = template.parse_glob("views/*.html")
print(by_glob.name, by_glob({title = "x", links = {}, items = {}}):match("<title>Site</title>") ~= nil)
print(template.parse_file("views/nav.html")({links = {{href = "#", text = "<x>"}}}))
print(template.parse_file("views/missing.html"))
print(template.parse_glob("views/*.nothing"))

-- errors name the template, line and column
print(pcall(template.parse, "line one\n  {% for x in %}\n"))
print(pcall(template.parse, "{{ a }", {name = "inline.txt"}))
print(pcall(template.parse_files, "bad/broken.html"))
print(pcall(template.render, "ok\n{{ x.y.z }}", {}, {strict = true}))
print(pcall(template.render, "{{ 1 / 0 }}"))
local cyclic = {}
cyclic.me = cyclic
print(pcall(hello, {name = cyclic}))
print(pcall(hello, "not a table"))

-- a parsed template crosses goroutines (here as an upvalue)
go(function() print("goroutine:", hello({name = "go", numbers = {5}})) end)
wait()
