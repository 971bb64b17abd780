local path = os.getenv("TEST_TMP") .. "/config.txt"
write_file(path, "v1")
local events = {}
local id = watch_file(path, function(p, event) events[#events + 1] = event end)
sleep(0.5)
for i = 1, 3 do write_file(path, "v" .. i) end   -- one burst
sleep(1)
print("changed:", #events >= 1)              -- usually exactly 1 (see below)
unwatch_file(id)
print(watch_file(os.getenv("TEST_TMP") .. "/missing", print) == nil)
