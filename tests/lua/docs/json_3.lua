print(json_decode('{"a": 1,}'))
print(pcall(json_encode, {x = 0/0}))
local t = {}; t.self = t
print((pcall(json_encode, t)))
