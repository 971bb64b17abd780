local c = chan("nd")
go(function()
  sleep(0.5)
  send("nd", "late value")
end)
print(receive("nd"))
-- no wait(): see known_bugs/wait_spurious_deadlock
