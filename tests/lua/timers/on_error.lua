-- With on_error set, a callback's error goes to the handler and the run succeeds.
on_error(function(msg, info) print("handled:", msg, info.goroutine) end)
set_timeout(function() error("boom in timer") end, 0.05)
sleep(0.2)
