-- A wrong argument type is a programming error: it raises, and uncaught it ends the script.
print(json_decode("[1]")[1])
print(pcall(json_decode, 12))
json_decode({})
print("not reached")
