-- Timers run on the goroutine that set them, between its blocking calls, and can change its locals.
local ticks = 0
local three = chan(1)
local id
id = set_interval(function()
    ticks = ticks + 1
    print("tick", ticks)
    if ticks == 3 then
        clear_interval(id)
        send(three, true)
    end
end, 0.1)

set_timeout(function()
    print("the timeout fired after the interval stopped at", ticks, "ticks")
end, 0.35)

receive(three) -- callbacks run while main waits
print("main saw", ticks, "ticks")
-- The run ends once the pending timeout has fired.
