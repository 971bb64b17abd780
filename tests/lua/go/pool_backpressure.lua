-- A loop of go() calls far longer than --max-goroutines, each goroutine short-lived: go() waits for
-- the queue of goroutines waiting for a thread to move instead of failing.
local results = chan("results", 5000)
for i = 1, 5000 do
  go(function(i) send("results", i) end, i)
end
wait()
local sum = 0
for _ = 1, 5000 do sum = sum + receive("results") end
print(sum)
