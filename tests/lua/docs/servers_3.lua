create_server("one", {port = 0, host = "127.0.0.1"})
handle_http("one", "POST /shutdown", function(req)
  stop_server("one")
  return "bye"
end)
local port = start_server("one")
create_server("two", {port = port, host = "127.0.0.1"})
local none, err = start_server("two")            -- nil, "listen tcp ...: address already in use"
print(none, err:match("address already in use"))
print(http_post("http://127.0.0.1:" .. port .. "/shutdown", "").body)
