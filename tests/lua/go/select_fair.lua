-- select picks at random among ready channels (Go's rule). Two buffered channels kept full are both
-- ready at every select: each gets picked about half the time (mean 500 of 1000; 200 is 19 standard
-- deviations away).
local a = chan("fa", 1000)
local b = chan("fb", 1000)
for _ = 1, 1000 do send(a, "fa"); send(b, "fb") end
local counts = {fa = 0, fb = 0}
for _ = 1, 1000 do
  local v, from, ok = select("fa", "fb")
  assert(ok and v == from, tostring(v) .. " " .. tostring(from))
  counts[from] = counts[from] + 1
end
if counts.fa >= 200 and counts.fb >= 200 then print("fair") else print(counts.fa, counts.fb) end
print(counts.fa + counts.fb)

-- With two goroutines sending as fast as they can, how often each channel is ready depends on how
-- each sender is scheduled; select still takes from both, and nothing is lost.
local c = chan("fc", 10)
local d = chan("fd", 10)
for _, name in ipairs({"fc", "fd"}) do
  go(function(n)
    while true do
      local ok = pcall(send, n, n)
      if not ok then return end
    end
  end, name)
end
local seen = {fc = 0, fd = 0}
for _ = 1, 2000 do
  local v, from, ok = select("fc", "fd")
  assert(ok and v == from, tostring(v) .. " " .. tostring(from))
  seen[from] = seen[from] + 1
end
close("fc"); close("fd")
wait()
print(seen.fc > 0 and seen.fd > 0, seen.fc + seen.fd)
