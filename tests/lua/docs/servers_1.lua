create_server("api", {port = 0, host = "127.0.0.1"})
handle_http("api", "GET /{$}", function(req) return "<html>home</html>" end)
handle_http("api", "GET /users/{id}", function(req)
  return {id = req.params.id, sort = req.query_params.sort}    -- a table: JSON
end)
handle_http("api", "POST /users", function(req)
  local user = json_decode(req.body)
  return {status = 201, headers = {Location = "/users/7"}, body = {created = user.name}}
end)
handle_http("api", "/files/{path...}", function(req) return req.params.path end)
handle_http("api", "/static/", function(req) return nil end)  -- nil: 200, empty

local port = start_server("api")
local base = "http://127.0.0.1:" .. port
local function show(r) print(r.status, r.headers["content-type"], r.body) end
show(http_get(base .. "/"))
show(http_get(base .. "/users/42?sort=asc"))
show(http_post(base .. "/users", '{"name":"ada"}'))
show(http_get(base .. "/files/a/b/c.txt"))
show(http_get(base .. "/static/x.css"))
print(http_get(base .. "/nope").status)                      -- 404
local r = http_request("DELETE", base .. "/users/1")
print(r.status, r.headers["allow"])                          -- 405 with Allow
r = http_request("GET", base .. "/static", nil, nil, {follow_redirects = false})
print(r.status, r.headers["location"])                       -- 301 to /static/
print(stop_server("api"))
