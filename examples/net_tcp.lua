-- The seed's TCP server and TCP client snippets, in one script that ends by itself.
-- Adapted only so it runs anywhere: the server listens on loopback port 0 (any free port, since
-- 8080 may be taken) and the client connects to the port it got; at the end the server channel is
-- closed, which stops the listener.

-- TCP Server
local server_channel, port = tcp_listen(0, "127.0.0.1")

local done = chan("done")
go(function()
    while true do
        local conn = receive(server_channel) -- wait for a connection
        if conn then
            go(function() -- handle this connection in its own goroutine
                while true do
                    local data = conn.read()
                    if data then
                        print("TCP Server Got:", data)
                        conn.write("Server says echo: " .. data)
                    else
                        break -- connection closed or error
                    end
                end
                conn.close()
                send("done", true)
            end)
        else
            break -- server channel closed
        end
    end
end)

-- TCP Client
local conn = tcp_connect("localhost", port)

if conn then
    -- Send some data
    conn.write("Hello, TCP Server from SolVM!")

    -- Get a response
    local response = conn.read()
    print("TCP Client Got Response:", response)

    -- Close up
    conn.close()
else
    print("Couldnt connect to TCP server")
end

receive("done") -- the server saw the client leave
close(server_channel)
