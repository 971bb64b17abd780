-- strict.lua style in a goroutine, where builtins are installed on first use: the script's
-- metatable on _G must not take the place of the builtins.
go(function()
    local mt = getmetatable(_G)
    print("metatable before:", mt)
    if mt == nil then
        mt = {}
        setmetatable(_G, mt)
    end
    mt.__declared = {}
    mt.__newindex = function(t, n, v)
        if not mt.__declared[n] then
            error("assign to undeclared variable '" .. n .. "'", 2)
        end
        rawset(t, n, v)
    end
    mt.__index = function(_, n)
        error("variable '" .. n .. "' is not declared", 2)
    end
    print(type(json_encode), type(chan), type(io.write), type(math.floor), type(utf8.char))
    print(json_encode({1, 2}), math.floor(2.5))
    print(pcall(function() return undeclared end))
    print(pcall(function() x = 1 end))
    mt.__declared.x = true
    x = 2
    print("x =", x)
end)
wait()
