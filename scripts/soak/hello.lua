-- Soak target: a hello-world handler and a JSON handler on one server (loopback, free port).
create_server("soak", {port = 0, host = "127.0.0.1"})
handle_http("soak", "GET /hello", function(req) return "hello world" end)
handle_http("soak", "/json", function(req)
  local n = tonumber(req.query_params.n) or 10
  local items = {}
  for i = 1, n do items[i] = {id = i, name = "item" .. i, ok = i % 2 == 0} end
  return {count = n, items = items, path = req.path}
end)
print(start_server("soak"))
io.stdout:flush()
