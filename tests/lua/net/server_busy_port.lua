-- start_server on a port already in use raises with the address, the server and the reason;
-- uncaught, the script stops there (exit 1) instead of running on without a server.
create_server("one", {port = 0, host = "127.0.0.1"})
local port = start_server("one")
create_server("two", {port = port, host = "127.0.0.1"})
local ok, err = pcall(start_server, "two")
print(ok, err:match("^start_server: cannot listen on 127%.0%.0%.1:%d+ %(server 'two'%): address already in use$") ~= nil)
create_server("three", {port = port, host = "127.0.0.1"})
start_server("three")
print("not reached")
