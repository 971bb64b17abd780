local N = 2000 -- 10000 takes ~4.5 s in a debug build
local ch = chan("pc_unbuf")
local done = chan(8)
for p = 1, 8 do
  go(function(id)
    for i = 1, N do send("pc_unbuf", id * 100000 + i) end
    done:send(id)
  end, p)
end
go(function()
  for _ = 1, 8 do done:receive() end
  close("pc_unbuf")
end)
local count, sum = 0, 0
while true do
  local v, ok = receive("pc_unbuf")
  if not ok then break end
  count = count + 1
  sum = sum + v
end
wait()
print(count, sum, ch:cap())
