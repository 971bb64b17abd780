-- ws_connect over TLS to our own HTTPS server with a self-signed certificate, trusted via ca_file.
local cert, key = "../../fixtures/tls/cert.pem", "../../fixtures/tls/key.pem"
create_server("s", {port = 0, host = "127.0.0.1", https = true, cert = cert, key = key})
handle_ws("s", "/ws", function(ws)
    while true do
        local m = ws.receive()
        if not m then break end
        ws.send("echo: " .. m)
    end
end)
local port = start_server("s")
local url = "wss://localhost:" .. port .. "/ws"

local ws, err = ws_connect(url, nil, {ca_file = cert})
print("trusted", ws ~= nil, err)
print(ws:send("over tls"))
print(ws:receive(5))
ws:close()

local none, e1 = ws_connect(url)
print("built-in roots", none, (e1:gsub("%d+", "N")))
local _, e2 = ws_connect(url, {}, {ca_file = "missing.pem"})
print("missing", (e2:gsub("%d+", "N")))
print(pcall(ws_connect, url, nil, {ca_file = 5}))
print(pcall(ws_connect, url, nil, "x"))
stop_server("s")
