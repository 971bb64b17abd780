-- An error in a callback is reported with its place; the goroutine goes on; the exit code is 1.
set_timeout(function() error("boom in timer") end, 0.05)
sleep(0.2)
print("still running")
