-- select waits on cluster and local channels together.
local c = cluster.chan("golden-select", 5)
local l = chan(5)
go(function() sleep(0.1); send(c, "from the cluster") end)
local v, from, ok = select(l, c, 5)
print(v, from == c, ok)
go(function() sleep(0.1); send(l, "from here") end)
v, from, ok = select(c, l, 5)
print(v, from == l, ok)
print(select(c, l, 0.05))
-- Both ready: either may come first, and nothing is lost.
send(c, "c1"); send(l, "l1")
local seen = {}
for _ = 1, 2 do seen[(select(c, l, 1))] = true end
print(seen.c1, seen.l1, #c, #l)
-- A closed and drained cluster channel is ready, with ok = false.
close(c)
v, from, ok = select(l, c, 1)
print(v, from == c, ok)
print(pcall(select, c, "no such channel"))
