-- Durations a script may pass (SPEC §4): NaN and negatives are argument errors; 1e300, math.huge
-- and math.maxinteger mean "a century or more" (no limit), never a panic.
local huge = {1e300, math.huge, math.maxinteger}
for _, d in ipairs(huge) do
  print("set_timeout", d, clear_timeout(set_timeout(function() end, d)))
  print("set_interval", d, clear_interval(set_interval(function() end, d)))
  store.set("k", d, d)
  print("store ttl", d, store.get("k") == d)
  local c = chan(1)
  print("send", d, send(c, "v", d), receive(c, d))
  send(c, "w")
  print("select", d, (select(c, chan(1), d)))
  c:close()
end
for _, bad in ipairs({0/0, -1, -math.huge}) do
  print(pcall(sleep, bad))
  print(pcall(set_timeout, print, bad))
  print(pcall(receive, chan(1), bad))
  print(pcall(store.set, "k", 1, bad))
end
-- A receive that waits "forever" on a channel nobody can reach is a deadlock, not a sleeper.
go(function() receive(chan(1), math.huge) end)
