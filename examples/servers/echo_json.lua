-- Benchmark handlers (scripts/bench-http.sh): a hello-world route and a JSON echo.
create_server("bench", {port = tonumber(arg[1]) or 8080, host = "127.0.0.1"})
handle_http("bench", "/", function(req) return "Hello, World!" end)
handle_http("bench", "POST /json", function(req) return {body = json_decode(req.body)} end)
handle_ws("bench", "/ws", function(ws)
    while true do
        local m = ws.receive()
        if not m then break end
        ws.send(m)
    end
end)
print(start_server("bench"))
