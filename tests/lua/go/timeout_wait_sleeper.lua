go(function() sleep(100) end)
print("waiting")
wait()
print("unreachable")
