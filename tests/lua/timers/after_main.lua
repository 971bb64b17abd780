-- Main returning with a timer pending: the run waits for it (it is not a service: the timeout applies).
set_timeout(function() print("timer after main") end, 0.2)
print("main returns")
