-- Hot reload: edit this file while it runs (change the greeting below and save) and it restarts
-- with the new version; a version with a syntax error is reported and the old one keeps running.
-- Run: solvm examples/services/hot_reload.lua   (Ctrl-C to stop)
local config = {
    greeting = "hello",
    every = 1,
}

count = 0

function show()
    count = count + 1
    print(string.format("%s (tick %d)", config.greeting, count))
end

set_interval(show, config.every)

watch_file(arg[0], function(path, event)
    print("changed:", path, event, "- reloading")
    reload_script()
end)
