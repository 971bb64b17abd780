local inbox, port = udp_recvfrom(0, "127.0.0.1")
print(udp_sendto("127.0.0.1", port, "ping"))
local d = receive(inbox, 2)
print(d.data, d.addr, type(d.port))
close(inbox)

local first, all = resolve_dns("localhost")
print(type(first), type(all))
print(resolve_dns("no-such-host.invalid"))
