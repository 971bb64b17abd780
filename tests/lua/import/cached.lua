-- A module runs once per state; later imports (and require) get the same value.
local a = import("greet")
local b = import("greet")
print(rawequal(a, b))
print(rawequal(require("greet"), a), rawequal(package.loaded.greet, a))
-- The global is restored by a later import.
greet = nil
import("greet")
print(rawequal(greet, a))
