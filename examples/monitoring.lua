-- The seed's monitoring snippets: error handler, memory statistics, live goroutines.
on_error(function(err)
    print("Oh no, an error:", err)
end)

chan("done")
go(function() receive("done") end)

local mem_stats = check_memory()
print("Hows the memory doin:")
print("  Allocation diff:", mem_stats.alloc_diff)
print("  Total allocation diff:", mem_stats.total_alloc_diff)
print("  System memory diff:", mem_stats.sys_diff)
print("  Number of goroutines:", mem_stats.goroutines)

local goroutines = get_goroutines()
for id, name in pairs(goroutines) do
    print("Goroutine", id, "is", name)
end

-- A goroutine's error goes to the handler above, and the run still succeeds.
go(function() error("something broke in a goroutine") end)
send("done", true)
wait()
