create_server("ws", {port = 0, host = "127.0.0.1"})
handle_ws("ws", "/echo", function(ws)
  while true do
    local msg = ws:receive()
    if msg == nil then break end                  -- closed
    ws:send("echo: " .. msg)
  end
end)
local port = start_server("ws")

local ws = assert(ws_connect("ws://127.0.0.1:" .. port .. "/echo"))
ws:send("hi")
print(ws:receive(2))
print(ws:receive(0.1))                            -- nil timeout
ws:close()
stop_server("ws")
