local conns, port = tcp_listen(0, "127.0.0.1")
go(function()
  local conn = receive(conns)                     -- the next connection
  local line = conn:read_line()
  conn:write("echo: " .. line .. "\n")
  conn:close()
end)

local c = assert(tcp_connect("127.0.0.1", port, 2))
c:write("hello\n")
print(c.read_line())                              -- seed style works too
print(c:read())                                   -- nil: end of stream
c:close()
close(conns)                                      -- stops the listener
wait()
print(tcp_connect("127.0.0.1", 1, 1))
