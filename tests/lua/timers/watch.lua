-- watch_file: a burst of writes, an append, and a replace-by-rename each give one callback.
local dir = os.getenv("TEST_TMP")
local path = dir .. "/watched.txt"
write_file(path, "v1")
local events = {}
local id = watch_file(path, function(p, event) events[#events + 1] = event end)
print(type(id))
local function settle() sleep(0.8) end
settle()
for i = 1, 5 do write_file(path, "burst " .. i) end
settle()
print("burst of writes:", #events)
append_file(path, " more")
settle()
print("after append:", #events)
write_file(dir .. "/tmp.txt", "replaced")
rename(dir .. "/tmp.txt", path)
settle()
print("after replace by rename:", #events)
write_file(dir .. "/other.txt", "unrelated")
settle()
print("other files ignored:", #events)
print(unwatch_file(id))
write_file(path, "after unwatch")
settle()
print("after unwatch:", #events)
local w, err = watch_file(dir .. "/missing.txt", function() end)
print(w, err:find("no such file or directory", 1, true) ~= nil)
