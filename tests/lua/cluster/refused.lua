-- What cannot cross processes is refused with its path, in both modes.
local ch = cluster.chan("golden-refused", 4)
local function try(f, ...)
    local ok, err = pcall(f, ...)
    print(ok, (tostring(err):gsub(": only data crosses.*", "")))
end
try(send, ch, function() end)
try(send, ch, {handlers = {on_job = print}})
try(send, ch, {list = {1, 2, {cb = function() end}}})
try(send, ch, {inner = chan(1)})
try(send, ch, {co = coroutine.create(print)})
try(ch.send, ch, {[function() end] = 1})
try(cluster.publish, "golden-topic", {f = string.format})
-- Metatables stay behind; the data arrives.
send(ch, setmetatable({x = 1}, {__index = function() return "meta" end}))
local v = receive(ch)
print(v.x, v.y, getmetatable(v))
print(#ch)
