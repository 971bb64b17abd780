-- wait() returns as soon as the last goroutine it waits for has finished: 300 rounds of go + wait
-- finish well within the 5 s timeout (each round once took the 50 ms of wait's safety deadline).
local n = 0
for _ = 1, 300 do
  go(function() end)
  wait()
  n = n + 1
end
print(n)
