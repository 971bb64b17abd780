-- A callback registered inside a goroutine runs on that goroutine, sees its locals, and keeps it
-- alive after its function returns.
local results = chan("results", 10)
go(function()
  local mine = "goroutine-local"
  local n = 0
  local id
  id = set_interval(function()
    n = n + 1
    if n == 3 then
      clear_interval(id)
      send("results", mine .. " " .. n)
    end
  end, 0.05)
end)
print(receive("results", 5))
wait()
print("done")
