-- The seed's UDP and DNS snippets, in one script that ends by itself.
-- Adapted: the listener starts before the message is sent (a datagram sent to a port nobody
-- listens on is simply lost), on loopback port 0 instead of 8080; the goroutine stops after one
-- message and closes the channel. DNS looks up localhost, so it works without a network.

-- Listen for UDP messages
local udp_listener_channel, port = udp_recvfrom(0, "127.0.0.1")
go(function()
    while true do
        local msg_table = receive(udp_listener_channel) -- {data="...", addr="...", port=...}
        if msg_table then
            print("UDP Got from", msg_table.addr, ":", msg_table.data)
            close(udp_listener_channel) -- one message is enough for this demo
        else
            break -- channel closed
        end
    end
end)

-- Send a UDP message (fire and forget!)
udp_sendto("localhost", port, "Hello, UDP world!")

wait()

-- Find IP for a hostname
local ip_addr = resolve_dns("localhost")
print("localhost IP is:", ip_addr)
