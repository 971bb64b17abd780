-- A script's global with a builtin's name is the script's; goroutines get the builtin (script
-- globals with builtin names are not copied). Assigning or removing a builtin's name in a goroutine
-- before any use replaces it, as it would replace an installed builtin.
json_encode = 1
go(function() print(type(json_encode), json_encode({1})) end)
wait()
go(function()
    json_decode = nil
    print(json_decode, type(json_encode))
    go = nil
    print(go)
    read_file = "mine"
    print(read_file, type(write_file))
    io = nil
    print(io, type(package.loaded.io))
end)
wait()
print(json_encode)
