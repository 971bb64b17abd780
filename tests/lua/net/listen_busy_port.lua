-- A listen on a port already in use raises, naming the address and the reason.
local conns, port = tcp_listen(0, "127.0.0.1")
local ok, err = pcall(tcp_listen, port, "127.0.0.1")
print(ok, err:match("^tcp_listen: cannot listen on 127%.0%.0%.1:%d+ %(tcp%): address already in use$") ~= nil)
local inbox, uport = udp_recvfrom(0, "127.0.0.1")
ok, err = pcall(udp_recvfrom, uport, "127.0.0.1")
print(ok, err:match("^udp_recvfrom: cannot listen on 127%.0%.0%.1:%d+ %(udp%): address already in use$") ~= nil)
close(inbox)
-- The seed's shape, uncaught: the script stops at the listen, not later on a nil channel.
local server_channel = tcp_listen(port, "127.0.0.1")
go(function()
  local conn = receive(server_channel)
  print("not reached", conn)
end)
