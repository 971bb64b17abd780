local res = chan("tr", 10)
local base = 10
local function addbase(x) return x + base end
local nested = {a = {b = {c = {1, 2, 3}}}, name = "n"}
function global_double(x) return x * 2 end
mymod = {}
function mymod.triple(x) return x * 3 end
function mymod.sq(x) return mymod.triple(x) / 3 * x end
local fmt = string.format
go(function()
  send("tr", "closure " .. addbase(5))
  send("tr", "nested " .. nested.a.b.c[3] .. nested.name .. #nested.a.b.c)
  send("tr", "global " .. global_double(21))
  send("tr", "module " .. mymod.triple(4) .. " " .. math.tointeger(mymod.sq(5)))
  send("tr", fmt("builtin %05.1f %s", 3.14159, "x"))
  send("tr", "args", 0)
end)
go(function(t, n) send("tr", "arg " .. t.k .. n) end, {k = "v"}, 7)
local out = {}
for _ = 1, 7 do out[#out + 1] = receive("tr") end
wait()
table.sort(out)
for _, s in ipairs(out) do print(s) end
local co = coroutine.create(function() end)
local function worker() return coroutine.status(co) end
local ok, err = pcall(go, worker)
print(ok)
print(err:find("cannot send a coroutine to another goroutine", 1, true) ~= nil)
print(err:find("upvalue 'co'", 1, true) ~= nil)
