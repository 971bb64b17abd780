local a = chan("fa", 10)
local b = chan("fb", 10)
local stop = chan("fstop", 2)
for _, name in ipairs({"fa", "fb"}) do
  go(function(n)
    while true do
      local ok, err = pcall(send, n, n)
      if not ok then return end
    end
  end, name)
end
local counts = {fa = 0, fb = 0}
for _ = 1, 2000 do
  local v, from, ok = select("fa", "fb")
  assert(ok and v == from, tostring(v) .. " " .. tostring(from))
  counts[from] = counts[from] + 1
end
close("fa"); close("fb")
wait()
if counts.fa >= 200 and counts.fb >= 200 then print("fair") else print(counts.fa, counts.fb) end
print(counts.fa + counts.fb)
