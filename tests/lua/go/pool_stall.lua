-- More goroutines computing than there are cores, none of them blocking: a goroutine started after
-- them still runs at once (the pool starts a thread for it when its queue stalls), not only when
-- one of them finishes.
store.set("stop", false)
for _ = 1, 8 do
  go(function()
    local t = os.clock()
    -- Busy until main says stop (bounded, in case it never does).
    while not store.get("stop") and os.clock() - t < 60 do end
  end)
end
go(function() send("late", "ran") end)
local v, ok = receive(chan("late", 1), 20)
store.set("stop", true)
wait()
print(v, ok)
