-- Timers run on the goroutine that set them, between its blocking calls, and can change its locals.
local ticks = 0
local id = set_interval(function()
    ticks = ticks + 1
    print("tick", ticks)
end, 0.1)

set_timeout(function()
    clear_interval(id)
    print("stopped the interval after", ticks, "ticks")
end, 0.35)

sleep(0.5) -- callbacks run while main sleeps
print("main saw", ticks, "ticks")
