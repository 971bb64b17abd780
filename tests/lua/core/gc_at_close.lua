-- Finalizers of objects still reachable when a state closes (the end of a goroutine, the end of
-- the run) run as in stock Lua: print works, so do Lua's own libraries (even one the state never
-- used before) and coroutines. A builtin made in Rust cannot run then: the call fails (errors in
-- finalizers are ignored, as in Lua) and a one-line note says so, instead of a crash or a panic's
-- backtrace.
go(function()
  held = setmetatable({}, {__gc = function()
    print("goroutine finalizer", ("x"):rep(2), math.max(1, 2), table.concat({"a", "b"}))
  end})
end)
wait()
print(json_encode({0}))
co = coroutine.wrap(function() coroutine.yield("yielded") end)
keep = setmetatable({}, {__gc = function()
  print("main finalizer", co(), string.format("%03d", 7))
  print("not reached", json_encode({1}))
end})
print("main done")
