local ok, e = pcall(import, "nope")
print(ok, (e:gsub("\n.*", "")))
local ok2, e2 = pcall(function() import("boom") end)
print(ok2, e2)
