-- Empty tables, the array marker, null, numbers at the edges, unicode, escapes, nesting.
print(json_encode({}), json_encode(json_array({})), json_encode(setmetatable({}, json_array_mt)))
print(json_encode(json_decode("[]")), json_encode(json_decode("{}")))
print(json_encode({items = json_array({})}))

local arr = json_decode("[1, null, 3, null]")
print(#arr, arr[2] == json_null, json_encode(arr))
print(json_decode("null") == json_null, json_encode(json_null), json_encode({x = json_null}))

-- integers stay integers, floats stay floats
print(json_encode({1, 1.0, -0.0, 0.1, 1e300, 2^53, math.maxinteger, math.mininteger}))
for _, s in ipairs({"9007199254740993", "12345678901234567890", "1e2", "-0", "1.0"}) do
  local n = json_decode(s)
  print(s, n, math.type(n))
end

-- not a sequence: object with integer keys as strings
print(json_encode({1, nil, 3}), json_encode({[0] = "zero", "one"}), json_encode({1, 2, n = 2}))

-- unicode is written as is; only what JSON requires is escaped
print(json_encode("héllo 世界 🎉"))
print(json_encode("quote\" backslash\\ newline\n tab\t nul\0 bell\7"))
print(json_decode('"\\u00e9\\ud83d\\ude00 \\n"') == "é😀 \n")

-- nesting: 128 levels are fine, both ways
local t = "leaf"
for _ = 1, 128 do t = {t} end
local s = json_encode(t)
print(#s, json_encode(json_decode(s)) == s)
