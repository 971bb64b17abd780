-- Everyday use: encode Lua values, decode JSON text, round-trip.
print(json_encode({1, 2, 3}))
print(json_encode({name = "solvm", version = 1, tags = {"lua", "go"}, ok = true}))
print(json_encode("hello"), json_encode(42), json_encode(2.5), json_encode(true), json_encode(nil))
print(json_encode({zeta = 1, alpha = 2, Mid = 3, ["10"] = 4, ["9"] = 5}))

local v = json_decode('{"user": {"id": 7, "name": "ada", "roles": ["admin", "dev"]}, "score": 9.5}')
print(v.user.id, math.type(v.user.id), v.user.name, #v.user.roles, v.user.roles[2])
print(v.score, math.type(v.score))

print(json_encode({server = {host = "localhost", ports = {80, 443}}, empty = {}}, {indent = 2}))

local text = '{"a":[1,2.5,"x",null,true,false],"b":{"c":[],"d":{}}}'
print(json_encode(json_decode(text)) == text)
