counter = 10                                   -- a global: copied at go()
local settings = {name = "job", tags = {"a", "b"}}
local function shout(s) return s:upper() end

go(function(n)
  counter = counter + n                        -- changes the goroutine's copy only
  settings.name = "changed"
  print(shout(settings.name), #settings.tags, counter)
end, 5)
wait()
print(settings.name, counter)                  -- job 10

-- A coroutine cannot cross: go() refuses it and names the path.
local co = coroutine.create(function() end)
local ok, err = pcall(go, function() return co end)
print(ok, err:match("cannot send a coroutine to another goroutine") ~= nil)
