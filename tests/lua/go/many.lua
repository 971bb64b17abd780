local gate = chan("gate")
local results = chan("results", 2000)
for i = 1, 2000 do
  go(function()
    local v, ok = receive("gate")
    send("results", ok and 0 or 1)
  end)
end
local n = 0
for _ in pairs(get_goroutines()) do n = n + 1 end
print(n == 2001)
close("gate")
local total, count = 0, 0
for _ = 1, 2000 do
  local v = receive("results")
  total = total + v; count = count + 1
end
wait()
print(count, total)
