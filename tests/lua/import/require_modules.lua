-- require also searches the script's folder and modules/ folders.
local m = require("req_mod")
print(m.answer, rawequal(require("req_mod"), m))
-- Those entries come first in package.path; stock Lua's (and LUA_PATH's) follow.
local prefix = "./?.lua;./?/init.lua;./modules/?.lua;"
print(package.path:sub(1, #prefix) == prefix, #package.path > #prefix)
