-- A small HTTP API: routes with methods and path parameters, JSON in and out, a shared counter.
-- It stops itself after a moment so it can run as a demo; drop the last lines to keep it serving.

create_server("api", {port = 0, host = "127.0.0.1"})

handle_http("api", "GET /", function(req)
    return "Welcome! Try GET /hello/{name} or POST /items"
end)

handle_http("api", "GET /hello/{name}", function(req)
    store.incr("greetings")
    return {message = "Hello, " .. req.params.name .. "!", lang = req.query_params.lang or "en"}
end)

handle_http("api", "POST /items", function(req)
    local item = json_decode(req.body)
    return {status = 201, headers = {Location = "/items/1"}, body = {created = item}}
end)

handle_http("api", "/boom", function(req)
    error("this handler fails: the client gets a 500 and on_error hears about it")
end)

local port = start_server("api")
print("serving on http://127.0.0.1:" .. port)

go(function()
    sleep(0.3)
    stop_server("api")
    print("stopped")
end)
