-- import finds modules/greet.lua, returns its value and sets the global `greet`.
local g = import("greet")
print(type(g), rawequal(g, greet))
print(greet.hello("world"))
