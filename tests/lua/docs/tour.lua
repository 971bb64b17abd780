-- Goroutines and channels.
local results = chan(3)
for i = 1, 3 do
  go(function() send(results, i * 10) end)
end
wait()
local total = 0
for _ = 1, 3 do total = total + receive(results) end
print("total:", total)                                  --> total:	60

-- An HTTP server on a free port, queried and stopped.
create_server("web", {port = 0, host = "127.0.0.1"})
handle_http("web", "GET /hello/{name}", function(req)
  return {greeting = "hello " .. req.params.name}
end)
local port = start_server("web")
print(http_get("http://127.0.0.1:" .. port .. "/hello/lua").body)   --> {"greeting":"hello lua"}
stop_server("web")
