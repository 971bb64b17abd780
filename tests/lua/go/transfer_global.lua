gco = coroutine.create(function() end)
plain = 5
local r = chan("tg", 2)
local ok = pcall(go, function()
  send("tg", plain)
  local ok, err = pcall(function() return coroutine.status(gco) end)
  send("tg", tostring(ok) .. " " .. tostring(string.find(tostring(err), "gco", 1, true) ~= nil))
end)
print(ok)
print(receive("tg"))
print(receive("tg"))
-- no wait(): see known_bugs/wait_spurious_deadlock
