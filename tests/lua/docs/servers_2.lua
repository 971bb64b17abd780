create_server("lim", {port = 0, host = "127.0.0.1", max_body = 16, workers = 2})
on_error(function(msg, info) print("on_error:", info.name) end)
handle_http("lim", "POST /upload", function(req) return "got " .. #req.body end)
handle_http("lim", "/boom", function(req) error("broken") end)
handle_http("lim", "/count", function(req) return tostring(store.incr("n")) end)

local port = start_server("lim")
local base = "http://127.0.0.1:" .. port
print(http_post(base .. "/upload", "small").body)
print(http_post(base .. "/upload", string.rep("x", 100)).status)   -- 413
print(http_get(base .. "/boom").status)                            -- 500
for _ = 1, 3 do http_get(base .. "/count") end
print(store.get("n"))
stop_server("lim")
