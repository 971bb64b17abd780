-- json_encode raises errors that say what and where.
local function try(...)
  local ok, err = pcall(json_encode, ...)
  print(ok, (tostring(err):match("json_encode: [^\n]*")))
end

try(print)
try({handlers = {1, print}})
try({x = 0/0})
try({limits = {max = math.huge}})
try({["odd key"] = -math.huge})
local t = {a = {}}
t.a.self = t
try(t)
try({name = "\xff\xfe"})
try({["\xff"] = 1})
try({[true] = 1})
try({list = {[1.5] = "x"}})
try(coroutine.create(print))
try({io.stdout})
local deep = {}
for _ = 1, 200 do deep = {deep} end
try(deep)

local ok, err = pcall(json_encode, {}, {indent = -1})
print(ok, (tostring(err):match("bad argument[^\n]*")))
ok, err = pcall(json_array, "x")
print(ok, (tostring(err):match("bad argument[^\n]*")))
