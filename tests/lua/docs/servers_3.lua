create_server("one", {port = 0, host = "127.0.0.1"})
handle_http("one", "POST /shutdown", function(req)
  stop_server("one")
  return "bye"
end)
local port = start_server("one")
create_server("two", {port = port, host = "127.0.0.1"})
local ok, err = pcall(start_server, "two")       -- raises: the port is taken
print(ok, err:match("address already in use"))
print(http_post("http://127.0.0.1:" .. port .. "/shutdown", "").body)
