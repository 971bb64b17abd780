create_server("echo", {port = 0, host = "127.0.0.1"})
handle_http("echo", "/echo", function(req)
  return {status = 201, headers = {["X-Method"] = req.method}, body = req.body}
end)
local port = start_server("echo")
local base = "http://127.0.0.1:" .. port

local r = http_post(base .. "/echo", "ping", {["Content-Type"] = "text/plain"})
print(r.status, r.body, r.headers["x-method"])
r = http_get(base .. "/nowhere")
print(r.status)                                   -- 404 is a normal response
r = http_request("PUT", base .. "/echo", "data", nil, {timeout = 5})
print(r.status, r.headers["x-method"])
stop_server("echo")
local none, err = http_get(base .. "/echo")
print(none, err:match("connection refused"))      -- nil, err: transport failure
