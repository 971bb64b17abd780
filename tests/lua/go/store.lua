store.set("cnt", 0)
local done = chan("st_done", 50)
for i = 1, 50 do
  go(function()
    for _ = 1, 100 do store.incr("cnt", 1) end
    send("st_done", true)
  end)
end
for _ = 1, 50 do receive("st_done") end
print(store.get("cnt"))
print(store.add("once", 1), store.add("once", 2), store.get("once"))
store.set("ttl", "x", 0.2)
print(store.get("ttl"))
sleep(0.4)
print(store.get("ttl"))
print(store.incr("fresh", 5, 10))
-- incr keeps a live entry's TTL; once the entry has expired, incr starts a new one without TTL.
store.set("hits", 10, 0.2)
print(store.incr("hits"))
sleep(0.4)
print(store.get("hits"), store.incr("hits"), store.incr("hits"), store.get("hits"))
