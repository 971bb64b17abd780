-- TOML: integers stay integers, floats floats, arrays arrays (the Go SolVM made them nil).
local doc = toml.decode([==[
title = "config"
port = 8080
ratio = 0.5
whole = 3.0
big = 9223372036854775807
tags = ["a", "b"]
nested = [[1, 2], ["x"]]
none = []
when = 1979-05-27T07:32:00Z
day = 1979-05-27
inf = inf

[server]
host = "localhost"
"dotted.key" = true

[[users]]
name = "ada"
[[users]]
name = "bob"
]==])
print(doc.title, doc.port, math.type(doc.port), doc.ratio, doc.whole, math.type(doc.whole))
print(doc.big == math.maxinteger, #doc.tags, doc.tags[2], doc.nested[1][2], doc.nested[2][1])
print(json_encode(doc.none), doc.when, doc.day, doc.inf)
print(doc.server.host, doc.server["dotted.key"], #doc.users, doc.users[2].name)
print(json_encode(doc.users))

-- Encoding: keys sorted, scalars before tables, arrays of tables as [[...]].
io.write(toml.encode({
    name = "x", n = 1, f = 1.5, ok = false, list = {1, 2, 3}, empty = json_array({}),
    db = {host = "h", ports = {1, 2}}, items = {{id = 1}, {id = 2}},
}))
-- Round trip.
local back = toml.decode(toml.encode(doc))
print(back.port, math.type(back.port), back.whole, back.users[1].name, back.when)

-- Errors: decode gives nil, err with line and column; encode raises saying where.
print(toml.decode("a = 1\nb = \n"))
print(toml.decode("a = 1\na = 2\n"))
print(toml.decode("[t\nx = 1"))
print(toml.decode("x = 'unterminated\n"))
print(pcall(toml.encode, {a = {b = json_null}}))
print(pcall(toml.encode, {f = print}))
print(pcall(toml.encode, {1, 2}))
print(pcall(toml.encode, "text"))
local cyc = {}; cyc.self = cyc
print(pcall(toml.encode, cyc))
