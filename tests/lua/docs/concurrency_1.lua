local jobs = chan("jobs", 10)
local results = chan("results", 10)

for w = 1, 3 do
  go(function(id)
    while true do
      local n, ok = receive("jobs")
      if not ok then break end          -- closed and drained
      send("results", n * n)
    end
  end, w)
end

for i = 1, 5 do send(jobs, i) end
close(jobs)
wait()                                  -- every worker has returned
close(results)

local sum = 0
for _ = 1, 5 do sum = sum + receive(results) end
print("sum of squares:", sum)           --> sum of squares:	55
