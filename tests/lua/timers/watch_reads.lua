-- A callback that reads its own file does not fire the watch again: only content changes count.
local path = os.getenv("TEST_TMP") .. "/watched.txt"
assert(write_file(path, "v1"))
local events = chan(100)
local id = watch_file(path, function(p, event)
  send(events, event .. " " .. read_file(p))      -- reads (opens) the watched file
end)
set_timeout(function() assert(write_file(path, "v2")) end, 0.2)
print(receive(events, 20))                         -- the edit
print(receive(events, 1.5))                        -- nothing more: nil false timeout
print(unwatch_file(id))
