local reloaded = chan(1)
on_signal("SIGHUP", function(name)
  print("got " .. name .. ", reloading configuration")
  reloaded:send(true)
end)
on_signal("SIGTERM", function()
  print("finishing the current job first")
  os.exit(0)
end)
-- Here the script signals itself; normally another process does (kill -HUP <pid>).
process.exec("kill", {"-HUP", tostring(process.pid)})
print(reloaded:receive())              -- the handler runs while main waits here
