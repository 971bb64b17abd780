-- An uncaught error in a goroutine is reported with the goroutine's id, its name (where its
-- function was defined) and where it was started; the rest of the run goes on and exits 1.
local c = chan("ge", 1)
local function worker()
  error("boom in goroutine")
end

go(worker)
wait()
go(function() send("ge", "still running") end)
print(receive("ge"))
wait()
print("main end")
