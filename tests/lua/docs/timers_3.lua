local path = "config.txt"
write_file(path, "v1")
local changes = chan(10)
local id = watch_file(path, function(p, event) send(changes, p .. " " .. event) end)
for i = 2, 4 do write_file(path, "v" .. i) end   -- one burst
print(receive(changes, 10))                  -- "config.txt modify", true
unwatch_file(id)
print(watch_file("missing.txt", print) == nil)
remove(path)
