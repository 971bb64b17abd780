local gate = chan(0)
local id = go(function() receive(gate) end)
sleep(0.05)
local live = get_goroutines()
print(live[1], live[id] ~= nil)              -- main true
close(gate)
wait()
local m = check_memory()
print(type(m.lua_bytes), m.rss_bytes > 0, m.goroutines >= 1)
