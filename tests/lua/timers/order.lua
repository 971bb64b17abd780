-- Timeouts fire in due order; an interval ticks until cleared; a callback changes main's upvalues.
local order = {}
local ticks = 0
local done = chan(1)
local iv = set_interval(function() ticks = ticks + 1 end, 0.2)
set_timeout(function() order[#order + 1] = "b" end, 0.3)
set_timeout(function() order[#order + 1] = "a" end, 0.1)
set_timeout(function()
  order[#order + 1] = "c"
  clear_interval(iv)
  send(done, true)
end, 0.7)
receive(done)
print(table.concat(order, " "))
-- 3 ticks are due before "c" (0.2, 0.4, 0.6); a stalled machine may skip some, never add any,
-- and callbacks due together run in due order, so the first tick (0.2) always precedes "c".
print("ticks in 1..3:", ticks >= 1 and ticks <= 3)
local after = ticks
set_timeout(function() send(done, true) end, 0.5)   -- past two more would-be ticks
receive(done)
print("cleared interval stays quiet:", ticks == after)
