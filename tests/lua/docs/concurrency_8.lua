chan("never")
go(function() receive("never") end)
receive("never")
print("not reached")
