-- Prints when it runs, so tests can see it runs once.
print("greet loaded")
local greet = {}
function greet.hello(who)
    return "hello, " .. who
end
return greet
