-- Finalizers of objects still reachable when a state closes (the end of a goroutine, the end of
-- the run) run as in stock Lua, and everything works in them: print, Lua's libraries (even one the
-- state never used before), coroutines and SolVM's builtins. (Upstream mlua closes the state after
-- dropping its handle: builtins there panicked, and a lazily installed one crashed the process.)
go(function()
  held = setmetatable({}, {__gc = function()
    print("goroutine finalizer", ("x"):rep(2), math.max(1, 2), table.concat({"a", "b"}), json_encode({2}))
  end})
end)
wait()
print(json_encode({0}))
co = coroutine.wrap(function() coroutine.yield("yielded") end)
keep = setmetatable({}, {__gc = function()
  print("main finalizer", co(), string.format("%03d", 7), json_encode({1}), type(json_decode))
end})
print("main done")
