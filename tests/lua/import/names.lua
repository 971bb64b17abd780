-- Slashed and dotted names, and a path ending in .lua, all reach the same file (loaded once); the
-- global is the last path component. A folder with init.lua is a module too.
local s1 = import("lib/strings")
local s2 = import("lib.strings")
local s3 = import("modules/lib/strings.lua")
print(rawequal(s1, s2), rawequal(s2, s3), rawequal(strings, s1), rawequal(require("lib.strings"), s1))
print(strings.shout("hi"))
print(import("pkg").kind, pkg.kind)
-- A module that returns nothing gives true, like require.
print(import("no_return"), no_return, side_effect)
