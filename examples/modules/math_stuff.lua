local math_stuff = {}

function math_stuff.add(a, b)
    return a + b
end

function math_stuff.subtract(a, b)
    return a - b
end

return math_stuff
