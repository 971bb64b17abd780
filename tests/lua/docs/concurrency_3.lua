local fast, slow = chan(1), chan("slow", 1)
go(function() sleep(0.05) send(fast, "fast") end)
go(function() sleep(0.5) send("slow", "slow") end)

local v, from, ok = select(fast, "slow", 1)
print(v, from == fast, ok)                -- fast true true
print(select(fast, 0.01))                 -- nil nil false: timed out
print(select("#", "a", "b"))              -- 2: a number or "#" first is Lua's select
print(select("slow", 2))                  -- slow slow true (a name comes back as the name)
