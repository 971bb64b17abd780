-- Goroutine states open `string` on first use: strings behave as if it were there from the start,
-- whatever the first thing a goroutine does with a string.
local function run(label, f)
  go(function() print(label, f()) end)
  wait()
end
run("method", function() return ("abc"):upper(), ("%d-%s"):format(5, "x") end)
run("coercion", function() return "10" + 1, "3" * "4", - "2", "7" // "2", "2" ^ "3" end)
run("arith error", function() return pcall(function() return "abc" + 1 end) end)
run("missing method", function() return ("x").nosuch, pcall(function() return ("x"):nosuch() end) end)
run("metatable", function() return getmetatable("").__index == string end)
run("debug.getmetatable", function() return debug.getmetatable("x").__index.upper == string.upper end)
run("library", function() return string.format("%5.1f", 3.14159), string.rep("ab", 2, ",") end)
run("package.loaded", function() return package.loaded.string == string end)
run("length", function() return #"hello", "a" .. "b", "a" < "b" end)
-- A metatable set on strings before `string` is opened is not replaced when it is.
run("debug.setmetatable", function()
  debug.setmetatable("", {__index = function(_, k) return "custom " .. k end})
  return ("x").hello, string.upper("ok"), ("y").bye
end)
-- A library function reaching a goroutine as a builtin.
local up = string.upper
run("builtin upvalue", function() return up("inner") end)
