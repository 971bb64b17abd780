-- URLs: encodeURIComponent-style codec, parse/build, query strings.
print(url.encode("a b&c=d/e?f#g"), url.encode("-._~"), url.encode("é"), url.encode("+"))
print(url.decode("a%20b%26c"), url.decode("%E2%82%AC"), url.decode("a+b"), url.decode("100%"))
local s = "any bytes: \0\1\255 é"
print(url.decode(url.encode(s)) == s)

local u = url.parse("https://user:p%40ss@Example.COM:8443/a%20b/c?x=1&y=two#frag")
print(u.scheme, u.user, u.password, u.host, u.port, u.path, u.query, u.fragment)
local d = url.parse("http://example.com")
print(d.port, d.path, d.query, d.user)
print(url.parse("http://[::1]:8080/x").host, url.parse("postgres://db/app").port)
print(url.parse("not a url"))
print(url.parse("http://exa mple.com/"))

print(url.build({scheme = "https", host = "example.com", path = "/search", query = {q = "lua tables", page = 2}}))
print(url.build({scheme = "http", host = "::1", port = 8080, user = "me", password = "s e", path = "a b", fragment = "top"}))
print(url.build(url.parse("https://user:pw@example.com:8443/p?q=1#f")))
print(pcall(url.build, {host = "h", port = 70000}))

print(url.query_encode({b = "2", a = "x y&z", list = {1, 2}, flag = true}))
local q = url.query_decode("?a=1&b=x+y&a=2&c=%41%42&empty=&novalue")
print(q.a[1], q.a[2], q.b, q.c, q.empty == "", q.novalue == "")
print(pcall(url.query_encode, {f = print}))
