local ch = chan("pc_buf", 100)
local done = chan("pc_done", 8)
for p = 1, 8 do
  go(function(id)
    for i = 1, 10000 do send("pc_buf", id * 100000 + i) end
    send("pc_done", id)
  end, p)
end
go(function()
  for _ = 1, 8 do receive("pc_done") end
  close("pc_buf")
end)
local count, sum = 0, 0
while true do
  local v, ok = receive(ch)
  if not ok then break end
  count = count + 1
  sum = sum + v
end
wait()
print(count, sum)
