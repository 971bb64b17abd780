local g = import("greet")
print(g.hello("world"), greet == g)
print(import("greet") == g)                   -- cached
local same = require("greet")                 -- require searches modules/ too
print(same.hello("require"))
