-- YAML: ints, floats, sequences, null, anchors; errors with line and column.
local v = yaml.decode([[
name: demo
count: 3
ratio: 2.5
hex: 0x1F
on: true
nothing: ~
list:
  - 1
  - two
  - [3, 4]
map: {a: 1, b: {c: [x]}}
empty_list: []
empty_map: {}
base: &base {k: v}
copy: *base
text: |
  line one
  line two
]])
print(v.name, v.count, math.type(v.count), v.ratio, v.hex, v.on, v.nothing == json_null)
print(#v.list, v.list[2], v.list[3][2], v.map.b.c[1], v.copy.k)
print(json_encode(v.empty_list), json_encode(v.empty_map))
io.write(v.text)
io.write(yaml.encode({b = {1, "two", 3.5}, a = "x", c = json_null, d = {}, e = json_array({}), f = "yes"}))
print(yaml.decode(yaml.encode(v)).list[3][1])
print(yaml.decode("- 1\n- 2\n")[2], yaml.decode("42"), yaml.decode("'quoted'"))
print(yaml.encode(0/0) , yaml.encode(-math.huge))
print(yaml.decode("a: [1, 2\nb: 3\n"))
print(yaml.decode("a: b: c\n"))
print(yaml.decode("a: 1\n  b: 2\n"))
print(yaml.decode("a: *nope\n"))
print(pcall(yaml.encode, {f = print}))
