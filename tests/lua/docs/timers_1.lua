local ticks = 0
local id = set_interval(function() ticks = ticks + 1 end, 0.1)
set_timeout(function() print("timeout fired") end, 0.25)
sleep(0.55)                          -- callbacks run during sleep
print(clear_interval(id))            -- true: it was pending
print("ticks >= 4:", ticks >= 4)
print(clear_timeout(12345))          -- false: no such timer
