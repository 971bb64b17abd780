-- clear_* stop callbacks before they run; ids are numbers; clearing twice returns false.
local ran = false
local t = set_timeout(function() ran = true end, 0.1)
print(type(t), clear_timeout(t), clear_timeout(t))
local i = set_interval(function() ran = true end, 0.05)
print(clear_interval(i))
sleep(0.3)
print("ran:", ran)
