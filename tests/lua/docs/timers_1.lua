local ticks = 0
local three = chan(1)
local id = set_interval(function()
  ticks = ticks + 1
  if ticks == 3 then send(three, "third tick") end
end, 0.1)
set_timeout(function() print("timeout fired") end, 0.25)
print(receive(three))                -- callbacks run while main waits here
print(clear_interval(id))            -- true: it was pending
print("ticks:", ticks)
print(clear_timeout(12345))          -- false: no such timer
