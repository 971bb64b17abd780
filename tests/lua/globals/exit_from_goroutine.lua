-- os.exit in a goroutine that has not touched `os` before is the runtime's, which ends the whole
-- run with its code (stock Lua's is a C function without upvalues).
go(function()
    print(type(os.time()), debug.getupvalue(os.exit, 1) ~= nil)
    os.exit(3)
end)
wait()
print("not reached")
