-- A channel's buffer is not allocated up front (SPEC §4): chan(1e9) costs nothing until it fills,
-- and a large buffer keeps the semantics of a small one (full → send blocks or times out; a
-- receive makes room; closing wakes a blocked sender with an error).
local before = check_memory().rss_bytes
local huge = chan(1e9)
local named = chan("huge", math.maxinteger)
local tenth = chan(1e8)
print("caps", huge:cap(), named:cap(), tenth:cap())
print("rss grew by less than 50 MB", check_memory().rss_bytes - before < 50e6)
for i = 1, 100000 do send(huge, i) end
local sum = 0
for _ = 1, 100000 do sum = sum + receive(huge) end
print("100000 values through chan(1e9)", #huge, sum)

local c = chan(2000)
for i = 1, 2000 do assert(send(c, i, 0)) end
print("full", #c, send(c, "extra", 0.01))
print("receive makes room", receive(c), send(c, "extra", 0), #c)

-- A sender blocked on the full channel is woken by a receive in another goroutine.
local started = chan(1)
go(function()
  receive(started)
  receive(c)
end)
send(started, true)
print("blocked send completes", send(c, "last"))
wait()

-- ... and by close, with Go's error.
go(function()
  receive(started)
  close(c)
end)
send(started, true)
print(pcall(send, c, "after close"))
wait()

for _, bad in ipairs({1e300, math.huge, 0/0, -1, 1.5}) do
  print(pcall(chan, bad))
end
