-- 50 concurrent clients each send 100 lines to an echo server on loopback; every line must come
-- back intact and in order.
local CLIENTS, MESSAGES = 50, 100
local listener, port = tcp_listen(0, "127.0.0.1")

go(function()
    while true do
        local conn = receive(listener)
        if not conn then break end
        go(function()
            while true do
                local line = conn:read_line()
                if not line then break end
                conn:write(line .. "\n")
            end
            conn:close()
        end)
    end
end)

local results = chan("results", CLIENTS)
for c = 1, CLIENTS do
    go(function()
        local conn, err = tcp_connect("127.0.0.1", port, 10)
        if not conn then
            send("results", "client " .. c .. ": " .. err)
            return
        end
        local ok = 0
        for m = 1, MESSAGES do
            local msg = string.format("client %d message %d %s", c, m, string.rep("x", m))
            conn.write(msg .. "\n")
            if conn.read_line() == msg then ok = ok + 1 end
        end
        conn.close()
        send("results", ok)
    end)
end

local total, problems = 0, {}
for _ = 1, CLIENTS do
    local r = receive("results")
    if type(r) == "number" then total = total + r else problems[#problems + 1] = r end
end
close(listener)
print(("%d clients, %d of %d messages echoed intact"):format(CLIENTS, total, CLIENTS * MESSAGES))
for _, p in ipairs(problems) do print(p) end
