-- wait() while the goroutines it waits for look stuck for longer than the deadlock detector's
-- settle time (it needs the same all-blocked picture twice, 100 ms apart): one is blocked in
-- receive, but another is busy (no blocking point) for half a second and then sends to it, and a
-- third waits for a child that has already finished. None of this is a deadlock.
go(function()
  print("received", receive(chan("sd_box", 0)))
end)
go(function()
  local t = os.clock()
  while os.clock() - t < 0.5 do end
  send(chan("sd_box", 0), "late value")
end)
go(function()
  go(function() store.set("sd_child", true) end)
  wait()
  wait()
  store.set("sd_inner", true)
end)
wait()
print("child ran", store.get("sd_child"), "inner wait returned", store.get("sd_inner"))
