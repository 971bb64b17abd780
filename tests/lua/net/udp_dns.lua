-- UDP to ourselves on loopback, and DNS of localhost and of a name that cannot exist.
local messages, port = udp_recvfrom(0, "127.0.0.1")
print("bound a real port:", math.type(port) == "integer" and port > 0)
print(udp_sendto("127.0.0.1", port, "first"))
print(udp_sendto("localhost", port, "bin\0ary"))
for _ = 1, 2 do
    local m = receive(messages, 10)
    print(m.data == "bin\0ary" and "bin\\0ary" or m.data, m.addr, math.type(m.port))
end
close(messages)

local ip, all = resolve_dns("localhost")
local loopback = ip == "127.0.0.1" or ip == "::1"
print("localhost:", loopback, type(all), #all >= 1, all[1] == ip)
local none, err = resolve_dns("no-such-host.invalid")
print("missing:", none, err)
print(pcall(resolve_dns))
