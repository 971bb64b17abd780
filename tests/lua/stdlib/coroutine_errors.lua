-- coroutine.resume and coroutine.wrap (the runtime's, which record the running coroutine for the
-- interrupt hook) report errors exactly as stock Lua's do, in main and in a goroutine.
local function show()
    print(pcall(coroutine.resume, nil))
    print(pcall(coroutine.resume))
    print(pcall(coroutine.wrap, 1))
    print(pcall(coroutine.wrap(function() error("boom") end)))
    local ok, e = pcall(coroutine.wrap(function() error({code = 7}) end))
    print(ok, type(e), e.code)
    local dead = coroutine.create(function() end)
    coroutine.resume(dead)
    print(coroutine.resume(dead))
    local gen = coroutine.wrap(function(a) local b = coroutine.yield(a + 1) return b * 2 end)
    print(gen(1), gen(5))
end
show()
go(show)
wait()
