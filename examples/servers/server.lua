-- The seed's full server example, as written: HTTP on / and a WebSocket echo on /ws, port 8080.
-- It serves until stopped (Ctrl-C). tests/server_examples.rs runs it (on a free port).

-- Make and set up a server
create_server("my_server", 8080, false)

-- What to do for normal web pages
handle_http("my_server", "/", function(req)
    return {
        status = 200,
        body = "Hello World from my SolVM server!"
    }
end)

-- What to do for WebSockets
handle_ws("my_server", "/ws", function(ws)
    ws.send("Youre connected!")
    while true do
        local msg = ws.receive()
        if msg then
            ws.send("You said: " .. msg)
        else
            break -- important!
        end
    end
end)

-- Kick it off
start_server("my_server")
