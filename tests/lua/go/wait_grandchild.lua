-- wait() also waits for goroutines started by goroutines that have already finished.
local done = chan("gc_done", 1)
go(function()
  go(function()
    sleep(0.3)
    send("gc_done", "grandchild finished")
  end)
  -- the child returns at once; its child keeps running
end)
wait()
print(try_receive("gc_done"))
