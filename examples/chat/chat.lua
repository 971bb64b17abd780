-- A WebSocket chat room: open http://localhost:8080/ in two browser tabs and talk.
-- Usage: solvm chat.lua [port]     (port 0 picks a free one; the bound port is printed)
--
-- Every connection runs its handler on its own goroutine. A hub goroutine owns the list of this
-- process's sockets (ws objects cross goroutines by reference, through the named channel "chat").
-- Messages go through the cluster topic "chat-room": in one process that is in-process pub/sub;
-- started as several processes sharing one Redis, each on its own port, a message typed in a
-- browser connected to one reaches the browsers connected to every other:
--   solvm --cluster redis://127.0.0.1:6379 chat.lua 8080
--   solvm --cluster redis://127.0.0.1:6379 chat.lua 8081

local port = tonumber(arg[1]) or 8080

local f = assert(io.open((arg[0]:match("^(.*)/") or ".") .. "/index.html", "rb"))
PAGE = f:read("a")
f:close()

create_server("chat", {port = port})

handle_http("chat", "GET /{$}", function(req)
    return {headers = {["Content-Type"] = "text/html; charset=utf-8"}, body = PAGE}
end)

-- The page reports what it received here, so a headless browser test can check it.
handle_http("chat", "POST /log", function(req)
    print("page log: " .. req.body)
    return {status = 204}
end)

-- A resource that takes `ms` to load: a headless browser that dumps the page once it has loaded
-- (chromium --dump-dom) stays on the page that long.
handle_http("chat", "GET /hold", function(req)
    sleep(math.min(tonumber(req.query_params.ms) or 0, 15000) / 1000)
    return {status = 204}
end)

handle_ws("chat", "/ws", function(ws)
    local hub = chan("chat")
    send(hub, {join = ws})
    while true do
        local msg = ws.receive()
        if msg == nil then break end
        cluster.publish("chat-room", msg)
    end
    send(hub, {leave = ws})
end)

-- The hub: the only goroutine that knows this process's sockets. What anyone says, in any
-- process, arrives on the room's subscription (made before the server starts, so nothing said
-- from then on is missed).
local room = cluster.subscribe("chat-room")
go(function()
    local hub = chan("chat")
    local sockets = {}
    while true do
        local ev, from = select(hub, room)
        if from == room then
            for key, ws in pairs(sockets) do
                if not ws.send(ev) then sockets[key] = nil end
            end
        elseif ev.join then
            sockets[tostring(ev.join)] = ev.join
        elseif ev.leave then
            sockets[tostring(ev.leave)] = nil
        end
    end
end)

print(start_server("chat"))
