-- Goroutine churn soak: 10 000 spawn/finish cycles, then 1 000 000 channel messages; RSS before/after.
-- Then three more rounds of 10 000 cycles, to tell one-time growth (thread stacks and allocator
-- arenas reaching their working size) from growth per goroutine.
local function rss() collectgarbage() collectgarbage() return check_memory().rss_bytes end
local before = rss()
print(string.format("rss_before_bytes %d", before))
local done = chan(100)
local function cycles(n)
  for i = 1, n do
    go(function() send(done, i) end)
    receive(done)
  end
end
cycles(10000)
local after_spawn = rss()
print(string.format("rss_after_10000_goroutines_bytes %d", after_spawn))
local ch = chan(1024)
local N = 1000000
go(function() for i = 1, N do send(ch, i) end close(ch) end)
local sum = 0
while true do local v, ok = receive(ch) if not ok then break end sum = sum + v end
assert(sum == N * (N + 1) // 2, "lost messages")
local after = rss()
print(string.format("rss_after_1000000_messages_bytes %d", after))
print(string.format("growth_vs_start_pct %.1f", (after - before) * 100 / before))
for round = 2, 4 do
  cycles(10000)
  local r = rss()
  print(string.format("rss_after_%d0000_goroutines_bytes %d (%+.1f%% vs after the first 10 000)", round, r, (r - after_spawn) * 100 / after_spawn))
end
