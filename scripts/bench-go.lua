-- Goroutine micro-benchmarks: spawn+finish, channel ping-pong, buffered throughput.
-- Run: target/release/solvm --timeout 0 scripts/bench-go.lua

local function wall()
    local f = io.popen("date +%s.%N")
    local t = tonumber(f:read("l"))
    f:close()
    return t
end

-- Reading the clock starts a process (~5-10 ms): each interval below includes one such start,
-- measured here and taken off.
local clock_cost
do
    local best = math.huge
    for _ = 1, 3 do
        local a = wall()
        local b = wall()
        best = math.min(best, b - a)
    end
    clock_cost = best
end
local function since(t0) return wall() - t0 - clock_cost end

-- spawn + finish
local N = tonumber(arg[1]) or 2000
local t0 = wall()
for _ = 1, N do go(function() end) end
wait()
local dt = since(t0)
print(string.format("spawn+finish: %d goroutines, %.1f us each", N, dt * 1e6 / N))

-- ping-pong
local ping, pong = chan(), chan()
local R = tonumber(arg[2]) or 20000
go(function(ping, pong, R)
    for _ = 1, R do pong:send((ping:receive())) end
end, ping, pong, R)
t0 = wall()
for i = 1, R do ping:send(i); pong:receive() end
dt = since(t0)
wait()
print(string.format("ping-pong (unbuffered): %d round trips, %.2f us each", R, dt * 1e6 / R))

-- buffered throughput, small values
local ch = chan(1024)
local M = tonumber(arg[3]) or 200000
go(function(ch, M) for i = 1, M do ch:send(i) end ch:close() end, ch, M)
t0 = wall()
local n = 0
while true do local v, ok = ch:receive(); if not ok then break end n = n + 1 end
dt = since(t0)
print(string.format("buffered throughput: %d small messages, %.0f msg/s", n, n / dt))

-- buffered throughput, 1 KB tables
local big = {}
for i = 1, 64 do big["k" .. i] = string.rep("x", 8) end
local ch2 = chan(256)
local K = 20000
go(function(ch2, K, big) for _ = 1, K do ch2:send(big) end ch2:close() end, ch2, K, big)
t0 = wall()
n = 0
while true do local v, ok = ch2:receive(); if not ok then break end n = n + 1 end
dt = since(t0)
print(string.format("buffered throughput: %d ~1KB tables, %.0f msg/s", n, n / dt))
