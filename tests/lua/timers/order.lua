-- Timeouts fire in due order; an interval ticks until cleared; a callback changes main's upvalues.
local order = {}
local ticks = 0
local iv = set_interval(function() ticks = ticks + 1 end, 0.2)
set_timeout(function() order[#order + 1] = "b" end, 0.3)
set_timeout(function() order[#order + 1] = "a" end, 0.1)
set_timeout(function() order[#order + 1] = "c"; clear_interval(iv) end, 0.7)
sleep(1.0)
print(table.concat(order, " "))
-- 3 ticks are due (0.2, 0.4, 0.6); a stalled machine may skip some, never add any.
print("ticks in 1..3:", ticks >= 1 and ticks <= 3)
local after = ticks
sleep(0.5)
print("cleared interval stays quiet:", ticks == after)
