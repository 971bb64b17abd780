local ch = cluster.chan("refused", 1)
local ok, err = pcall(send, ch, {name = "job", on_done = function() end})
print(ok, (err:gsub(": only data crosses.*", "")))
ok, err = pcall(store.set, "config", {greet = print})
print(ok)   -- true without --cluster (the embedded store takes functions), false with it
