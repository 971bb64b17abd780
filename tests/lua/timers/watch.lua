-- watch_file: a burst of writes, an append, and a replace-by-rename each give a callback (one per
-- burst; a machine stalled for longer than the debounce window may split a burst in two).
local dir = os.getenv("TEST_TMP")
local path = dir .. "/watched.txt"
write_file(path, "v1")
local events = {}
local id = watch_file(path, function(p, event) events[#events + 1] = event end)
print(type(id))
local function settle() sleep(0.8) end
local function step(label, action)
  local before = #events
  action()
  settle()
  local n = #events - before
  print(label, n >= 1 and n <= 2)
end
settle()
step("burst of writes:", function() for i = 1, 5 do write_file(path, "burst " .. i) end end)
step("append:", function() append_file(path, " more") end)
step("replace by rename:", function()
  write_file(dir .. "/tmp.txt", "replaced")
  rename(dir .. "/tmp.txt", path)
end)
local before = #events
write_file(dir .. "/other.txt", "unrelated")
settle()
print("other files ignored:", #events == before)
print(unwatch_file(id))
write_file(path, "after unwatch")
settle()
print("after unwatch:", #events == before)
local w, err = watch_file(dir .. "/missing.txt", function() end)
print(w, err:find("no such file or directory", 1, true) ~= nil)
