-- pairs(_G), next(_G) and pairs(package.loaded) in a goroutine list every builtin and library,
-- although a goroutine's state installs them on first use.
local function names(t)
    local n = {}
    for k in pairs(t) do n[#n + 1] = tostring(k) end
    table.sort(n)
    return table.concat(n, " ")
end
local function count_next(t)
    local n, k = 0, next(t)
    while k ~= nil do
        n = n + 1
        k = next(t, k)
    end
    return n
end
local main_globals, main_loaded = names(_G), names(package.loaded)
local results = chan(4)
go(function()
    results:send(names(_G))
    results:send(names(package.loaded))
end)
wait()
go(function()
    results:send(count_next(_G))
    results:send(count_next(package.loaded))
end)
wait()
local g, loaded = results:receive(), results:receive()
print("pairs(_G) same as main:", g == main_globals)
print("pairs(package.loaded) same as main:", loaded == main_loaded)
local n, m = results:receive(), results:receive()
print("next(_G) count same as main:", n == count_next(_G))
print("next(package.loaded) count same as main:", m == count_next(package.loaded))
print("json_encode and io listed:", g:find(" json_encode ", 1, true) ~= nil, g:find(" io ", 1, true) ~= nil)
