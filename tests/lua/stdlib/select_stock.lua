-- Stock `select`, exactly as lua5.4 (this file's .out is lua5.4's output); channels still work.
print(select("2", "a", "b"), select("-1", "a", "b"), select(" 0x2 ", "a", "b", "c"))
print(select("#x", 1, 2), select("#", nil, nil), select("##", 1))
print(select(2.0, "a", "b"), select(-2, "a", "b", "c"), select(5, "a"))
for _, bad in ipairs({0, -4, 2.5, "2.5", {}, true}) do
  print(pcall(select, bad, "a", "b", "c"))
end
print(pcall(select))
print(pcall(select, nil))
print(pcall(select, math.mininteger, 1))
-- The `select(i, ...)` loop idiom.
local function sum(...)
  local s = 0
  for i = 1, select("#", ...) do s = s + (select(i, ...)) end
  return s
end
print(sum(1, 2, 3, 4))
