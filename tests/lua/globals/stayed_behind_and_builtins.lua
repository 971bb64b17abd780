-- A global that cannot cross (a coroutine) stays behind with a guard on the goroutine's _G; the
-- builtins the goroutine has not used yet still work.
co = coroutine.create(print)
go(function()
    print(type(json_encode), math.max(1, 2))
    local ok, err = pcall(function() return co end)
    print(ok, err:match("global 'co' stayed in the goroutine that started this one"))
end)
wait()
