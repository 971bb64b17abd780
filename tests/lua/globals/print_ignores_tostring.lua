-- Like stock Lua 5.4's print, print shows values with luaL_tolstring, not the global tostring, even
-- when the goroutine replaces tostring before its first print.
go(function()
    tostring = function() return "custom" end
    print(setmetatable({}, {__tostring = function() return "T" end}), 1.5, nil, true)
end)
wait()
