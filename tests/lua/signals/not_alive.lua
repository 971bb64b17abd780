-- A signal handler alone does not keep the run alive (as in Go and Node): this run ends at once.
local id = on_signal("SIGHUP", function() print("never") end)
on_signal("SIGUSR1", function() print("never") end)
print(math.type(id), clear_signal(id), clear_signal(id))
go(function() on_signal("SIGUSR2", function() end) print("goroutine done") end)
wait()
print("main done")
for _, call in ipairs({
  function() return on_signal("SIGKILL", print) end,
  function() return on_signal("SIGNOPE", print) end,
  function() return on_signal("SIGHUP") end,
  function() return clear_signal("x") end,
}) do
  print(select(2, pcall(call)))
end
