-- Nesting up to the 128-level limit fits a goroutine's small stack in every format, both ways;
-- deeper is an error, never a crash.
local function nest(n)
    local t = {leaf = 1}
    for _ = 1, n - 1 do t = {k = t} end
    return t
end
local function depth(t) local n = 0 while type(t) == "table" do n, t = n + 1, t.k or t.leaf end return n end
local done = chan(1)
go(function()
    local deep = nest(127)
    local y = yaml.decode(yaml.encode(deep))
    -- The toml crate's parser stops dotted keys deeper than its own limit (about 80).
    local t = toml.decode(toml.encode(nest(60)))
    local j = jsonc.decode(jsonc.encode(deep))
    print(depth(y), depth(t), depth(j))
    print(pcall(yaml.encode, nest(200)))
    print(pcall(toml.encode, nest(200)))
    print(yaml.decode(string.rep("[", 300) .. string.rep("]", 300)))
    print(toml.decode("a = " .. string.rep("[", 300) .. string.rep("]", 300)))
    print(jsonc.decode(string.rep("[", 100000)))
    done:send(true)
end)
done:receive()
