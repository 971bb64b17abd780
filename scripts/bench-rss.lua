-- RSS with N goroutines alive, all blocked in receive (issue 3: goal <= 400 MB for 10 000).
-- Run: solvm --timeout 0 --max-goroutines 20000 scripts/bench-rss.lua [N]
local N = tonumber(arg[1]) or 10000
local gate, ready = chan(), chan(N)
local base = check_memory().rss_bytes
for _ = 1, N do
    go(function() ready:send(true); gate:receive() end)
end
for _ = 1, N do ready:receive() end
local m = check_memory()
print(string.format("rss: %d goroutines blocked in receive: %.1f MB total, %.1f KB each",
    N, m.rss_bytes / 1e6, (m.rss_bytes - base) / N / 1e3))
gate:close()
wait()
