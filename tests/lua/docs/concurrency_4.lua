store.set("config", {mode = "fast"})
for _ = 1, 4 do
  go(function()
    for _ = 1, 100 do store.incr("hits") end
  end)
end
wait()
print("hits:", store.get("hits"))             -- 400: incr is atomic
print(store.add("config", "x"), store.add("new", 1))   -- false true
print(store.get("config").mode)
store.set("session", "abc", 0.1)              -- expires after 0.1 s
sleep(0.2)
print(store.get("session"))                   -- nil
store.delete("new")
local keys = store.keys()
table.sort(keys)
print(table.concat(keys, ","))
