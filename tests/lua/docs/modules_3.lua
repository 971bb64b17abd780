create_server("mods", {port = 0, host = "127.0.0.1"})
handle_http("mods", "GET /lib/shout.lua", function(req)
  return "return {up = function(s) return s:upper() end}"
end)
local port = start_server("mods")
local m = import("http://127.0.0.1:" .. port .. "/lib/shout.lua")
print(m.up("fetched"), shout == m)
print(pcall(import, "http://127.0.0.1:" .. port .. "/missing.lua"))
stop_server("mods")
