-- The timeout reaches a coroutine spinning in a goroutine that runs in a state a pooled thread
-- built ahead of time: the coroutine is recorded with the goroutine's own interrupt handle.
go(function() end)
wait()
sleep(0.2) -- the first goroutine's thread now waits in the pool with a state for the next one
go(function()
    local spin = coroutine.wrap(function() while true do end end)
    spin()
end)
wait()
print("not reached")
