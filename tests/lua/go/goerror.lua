local c = chan("ge", 1)
go(function() error("boom in goroutine") end)
sleep(0.2)
go(function() send("ge", "still running") end)
print(receive("ge"))
-- no wait(): see known_bugs/wait_spurious_deadlock
print("main end")
