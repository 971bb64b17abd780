-- Cluster channels: the same calls as local channels, data only. Also run with --cluster against
-- a real Redis by tests/cluster.rs, with the same expected output.
local jobs = cluster.chan("golden-jobs", 3)
print(tostring(jobs):match("^%a* ?channel 'golden%-jobs' %(capacity 3%)$") ~= nil, jobs:cap(), #jobs)
print(cluster.chan("golden-jobs") == jobs, cluster.chan("golden-jobs", 3) == jobs)
print(pcall(cluster.chan, "golden-jobs", 5))

-- Values: integers and floats stay apart, strings are bytes, shared tables and cycles keep shape.
local shared = {n = 1}
local v = {i = 1, f = 1.0, s = "a\0\255", list = {1, 2, 3}, a = shared, b = shared, null = json_null}
v.self = v
print(send(jobs, v), jobs:send(42), send(jobs, "three"))
print(#jobs, send(jobs, "full", 0.05))
local got, ok = receive(jobs)
print(ok, math.type(got.i), math.type(got.f), got.s == "a\0\255", #got.list)
print(got.a == got.b, got.self == got, got.null == json_null, getmetatable(got))
print(jobs:receive())
print(try_receive(jobs))
print(try_receive(jobs))
print(receive(jobs, 0.05))

-- Close: receivers drain what is buffered, then get nil, false.
send(jobs, "last")
close(jobs)
print(pcall(send, jobs, "late"))
print(pcall(close, jobs))
print(#jobs, jobs:is_closed(), receive(jobs))
print(#jobs, receive(jobs))
print(try_receive(jobs))

-- Goroutines share it too (it crosses by reference); each value is received once.
local work = cluster.chan("golden-work", 10)
local results = chan(10)
for w = 1, 2 do
    go(function()
        local n = 0
        for x in function() local x, more = receive(work); if more then return x end end do
            n = n + x
        end
        send(results, n)
    end)
end
for i = 1, 100 do send(work, i) end
close(work)
print(receive(results) + receive(results))
