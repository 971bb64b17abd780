-- uuid and random: formats, ranges, and that every outcome of a small range shows up.
local v4, v7 = uuid.v4(), uuid.v7()
local shape = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-(%x)%x%x%x%-([89ab])%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"
print(v4:match(shape), select(2, v4:match(shape)) ~= nil)
print((v7:match(shape)))
print(#uuid.v4_without_hyphens(), uuid.v4_without_hyphens():find("-"))
print(uuid.is_valid(v4), uuid.is_valid(uuid.v4_without_hyphens()), uuid.is_valid("{" .. v4 .. "}"),
    uuid.is_valid("nope"), uuid.is_valid(42))
-- v7 sorts by creation time.
local earlier = uuid.v7()
sleep(0.002)
print(earlier < uuid.v7())
-- 1000 v4 are all different.
local seen, dup = {}, false
for _ = 1, 1000 do local u = uuid.v4(); dup = dup or seen[u]; seen[u] = true end
print(not dup)

local lo, hi, hits = math.huge, -math.huge, {}
for _ = 1, 3000 do
    local n = random.int(1, 6)
    lo, hi, hits[n] = math.min(lo, n), math.max(hi, n), true
    assert(math.type(n) == "integer")
end
print(lo, hi, #hits)
print(random.int(5, 5), random.int(math.mininteger, math.maxinteger) ~= nil)
print(pcall(random.int, 2, 1))
print(pcall(random.int, 1.5, 2))
local ok = true
for _ = 1, 3000 do local x = random.number(); ok = ok and x >= 0 and x < 1 and math.type(x) == "float" end
print(ok)
local s = random.string(64)
print(#s, s:match("^[%w]+$") ~= nil, #random.string(0))
print(random.string(20, "ab"):match("^[ab]+$") ~= nil, random.string(3, "é"))
print(pcall(random.string, 3, ""))
print(random.choice({}), ({a = 1, b = 1})[random.choice({"a", "b"})])
local t = {1, 2, 3, 4, 5, 6, 7, 8}
local same = random.shuffle(t)
table.sort(t)
print(same == t, table.concat(t, ","))
