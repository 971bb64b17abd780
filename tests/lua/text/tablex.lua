-- tablex: copies, comparison, functional helpers, slicing; walks never recurse, cycles are kept.
local function show(t) return table.concat(t, ",") end

local base = setmetatable({1, 2, name = "x", inner = {1}}, {__index = {extra = "mt"}})
local c = tablex.copy(base)
print(c ~= base, c.inner == base.inner, c.extra, #c, c.name)

-- deepcopy keeps cycles, shared tables and metatables
local t = {1, 2}
t.self = t
local shared = {"s"}
t.a, t.b = shared, shared
t.k = setmetatable({}, {__index = {x = 1}})
t[shared] = "key"
local d = tablex.deepcopy(t)
print(d ~= t, d.self == d, d.a == d.b, d.a ~= shared, d.a[1], d.k.x, getmetatable(d.k) == getmetatable(t.k))
print(d[d.a], d[shared], tablex.deepcopy(5), tablex.deepcopy("s"))

-- compare: contents, both ways, cycles end
print(tablex.compare({1, {2, {3}}, a = {b = 1}}, {1, {2, {3}}, a = {b = 1}}))
print(tablex.compare({1}, {1, a = 1}), tablex.compare({1, a = 1}, {1}), tablex.compare({a = 1, b = 2}, {a = 1}))
print(tablex.compare({1}, {1.0}), tablex.compare(0 / 0, 0 / 0), tablex.compare("a", "a"), tablex.compare({}, {}))
local x, y = {}, {}
x.me, y.me = x, y
print(tablex.compare(x, y))

-- map / filter / reduce
local m = tablex.map({1, 2, 3, k = 10}, function(v, k) return v * 2 end)
print(show(m), m.k)
local f = tablex.filter({1, 2, 3, 4, 5, 6, k = 7, j = 8}, function(v) return v % 2 == 0 end)
print(show(f), #f, f.k, f.j)
print(tablex.reduce({1, 2, 3, 4}, function(a, v) return a + v end), tablex.reduce({1, 2, 3}, function(a, v) return a .. v end, ""))
print(tablex.reduce({}, function(a, v) return a + v end), tablex.reduce({}, function(a, v) return a end, 0))

-- flatten
print(show(tablex.flatten({1, {2, {3, {4}}}, 5})), show(tablex.flatten({1, {2, {3}}}, 1)[3]))
local cyc = {1}
cyc[2] = cyc
print(pcall(tablex.flatten, cyc))
local deep, cur = {}, nil
cur = deep
for i = 1, 100000 do cur[1] = {i}; cur = cur[1] end
print(#tablex.flatten(deep), tablex.compare(deep, tablex.deepcopy(deep)))

-- keys and values: the array part first, in order
local ks = tablex.keys({"a", "b", "c", z = 1})
print(#ks, ks[1], ks[2], ks[3], ks[4])
local vs = tablex.values({"a", "b", z = "zz"})
print(#vs, vs[1], vs[2], vs[3])

-- slice / partition / rotate / shuffle
print(show(tablex.slice({1, 2, 3, 4, 5}, 2, 4)), show(tablex.slice({1, 2, 3, 4, 5}, -2)), show(tablex.slice({1, 2, 3, 4, 5}, 1, -1, 2)))
print(#tablex.slice({1, 2, 3}, 5), show(tablex.slice({1, 2, 3}, 1, math.maxinteger, math.maxinteger)))
local parts = tablex.partition({1, 2, 3, 4, 5}, 2)
print(#parts, show(parts[1]), show(parts[3]))
print(show(tablex.rotate({1, 2, 3, 4})), show(tablex.rotate({1, 2, 3, 4}, -1)), show(tablex.rotate({1, 2, 3, 4}, 6)), #tablex.rotate({}, 3))
local sh = tablex.shuffle({1, 2, 3, 4, 5, 6, 7, 8})
table.sort(sh)
print(show(sh))

-- merge
local mg = tablex.merge({a = 1, b = 2}, {b = 3}, nil, {c = 4})
print(mg.a, mg.b, mg.c)

-- permute / combinations
local p = tablex.permute({1, 2, 3})
local rows = {}
for _, r in ipairs(p) do rows[#rows + 1] = show(r) end
print(#p, table.concat(rows, " "))
local cs = tablex.combinations({"a", "b", "c", "d"}, 2)
rows = {}
for _, r in ipairs(cs) do rows[#rows + 1] = show(r) end
print(#cs, table.concat(rows, " "))
print(#tablex.combinations({1, 2}, 3), #tablex.permute({}))

-- pretty: sorted keys, cycles, strings quoted
print(tablex.pretty({1, "two", {3}, b = true, a = {c = "x\n"}, [10] = 1.5, ["with space"] = 0}))
print(tablex.pretty({1, 2, a = {}}, 0), tablex.pretty("s"), tablex.pretty(nil))
local self = {name = "me"}
self.me = self
print(tablex.pretty(self, 0))

-- sizes and steps that could loop forever are errors
for _, call in ipairs({
  function() return tablex.slice({1, 2}, 1, 2, 0) end,
  function() return tablex.slice({1, 2}, 1, 2, -1) end,
  function() return tablex.partition({1, 2}, 0) end,
  function() return tablex.partition({1, 2}, 0 / 0) end,
  function() return tablex.combinations({1, 2}, 0) end,
  function() return tablex.permute({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}) end,
  function() return tablex.combinations(tablex.slice({}, 1), 1e300) end,
  function() return tablex.map({}, nil) end,
  function() return tablex.merge({}, 1) end,
  function() return tablex.pretty({}, 100) end,
}) do
  print(select(2, pcall(call)))
end
