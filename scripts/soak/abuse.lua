-- Target of scripts/abuse: hello, a slow handler (in-flight requests for the SIGTERM test), a handler
-- that allocates without bound (for --memory-limit), and a WebSocket echo (for close 1009).
create_server("abuse", {port = 0, host = "127.0.0.1", workers = 8})
handle_http("abuse", "GET /hello", function(req) return "hello world" end)
handle_http("abuse", "GET /slow", function(req) sleep(0.3) return "slow done" end)
handle_http("abuse", "GET /hog", function(req)
  local t = {}
  local i = 0
  while true do i = i + 1 t[i] = string.rep("x", 1024) .. i end
end)
handle_http("abuse", "POST /upload", function(req) return {bytes = #req.body} end)
handle_ws("abuse", "/ws", function(ws)
  while true do
    local m = ws.receive()
    if m == nil then return end
    ws.send(m)
  end
end)
print(start_server("abuse"))
io.stdout:flush()
