-- JSON with comments and trailing commas; nothing else of JSON5.
local v = jsonc.decode([[
// settings
{
  "name": "app", // trailing comment
  /* block
     comment */
  "ports": [80, 443,],
  "ratio": 1.0,
  "url": "http://x/*not a comment*/",
  "nested": {"a": null,},
}
]])
print(v.name, #v.ports, v.ports[2], math.type(v.ports[1]), v.ratio, math.type(v.ratio), v.url)
print(v.nested.a == json_null)
print(jsonc.encode({b = {1, 2}, a = "x", e = {}}))
print(jsonc.encode(v) == json_encode(v, {indent = 2}))
print(jsonc.decode('{"a": 1\n "b": 2}'))
print(jsonc.decode("{'a': 1}"))
print(jsonc.decode("{a: 1}"))
print(jsonc.decode("[0x10]"))
print(jsonc.decode("/* only a comment */"))
print(jsonc.decode("[1] [2]"))
print(jsonc.decode(string.rep("[", 200) .. string.rep("]", 200)))
print(pcall(jsonc.encode, {x = 0/0}))
