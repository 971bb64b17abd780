-- The seed's module example: import("math_stuff") finds examples/modules/math_stuff.lua
-- (modules are searched beside the script and in its modules/ folder).
-- Run it from anywhere: `solvm examples/modules_demo.lua` or `cd examples && solvm modules_demo.lua`.

-- Local one
import("math_stuff")
local sum = math_stuff.add(5, 3)
print(sum) -- prints 8
