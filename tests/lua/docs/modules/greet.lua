-- modules/greet.lua: a module returns its value.
local M = {}
function M.hello(name) return "hello, " .. name end
return M
