local log <close> = setmetatable({}, {__close = function() print("log closed") end})
print("relaunch with", arg[-1] ~= nil)          -- arg[-1]: the solvm binary, as invoked
print(pcall(os.exit, 3.5))                      -- stock argument rules
os.exit(3, true)                                -- close = true: pending <close> variables run
