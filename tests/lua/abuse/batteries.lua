-- Issue 16's builtins with hostile arguments: every call either works or raises a Lua error; none
-- panics, aborts, hangs or allocates without bound.
local weird = {nil, true, -1, 0, 0.5, 0 / 0, math.huge, -math.huge, 1e300, math.maxinteger,
  math.mininteger, "", "x", "%", {}, {1, {2}}, function() end}
local third = {nil, -1, 0 / 0, 1e300, math.maxinteger, "", {}}
local n_weird = 17
local calls, errors = 0, 0
local function try(f, ...)
  calls = calls + 1
  local ok = pcall(f, ...)
  if not ok then errors = errors + 1 end
end
local families = {text = text, tablex = tablex, types = types, regex = regex, datetime = datetime, template = template}
local names = {}
for name in pairs(families) do names[#names + 1] = name end
table.sort(names)
for _, family in ipairs(names) do
  local fns = {}
  for k, f in pairs(families[family]) do fns[#fns + 1] = k end
  table.sort(fns)
  for _, k in ipairs(fns) do
    local f = families[family][k]
    for i = 1, n_weird do
      for j = 1, n_weird do
        for c = 1, #third + 1 do try(f, weird[i], weird[j], third[c]) end
      end
    end
  end
end
-- objects' methods
local re = regex.new("(a)(b)?")
local tpl = template.parse("{{ x }}")
local done = process.spawn("true")
done:wait()
for _, m in ipairs({"is_match", "find", "match", "captures", "gmatch", "gsub", "split"}) do
  for i = 1, n_weird do for j = 1, n_weird do try(re[m], re, weird[i], weird[j]) end end
end
for i = 1, n_weird do try(tpl, weird[i]); try(tpl.render, weird[i]) end
for _, m in ipairs({"write", "close_stdin", "read", "read_line", "read_stderr", "kill", "wait"}) do
  for i = 1, n_weird do try(done[m], done, weird[i]) end
end
for i = 1, n_weird do
  for j = 1, n_weird do
    try(process.exec, weird[i], weird[j])
    try(process.spawn, weird[i], weird[j])
    try(process.exec, "true", {}, {timeout = weird[i], env = weird[j]})
    try(on_signal, weird[i], weird[j])
    try(clear_signal, weird[i])
  end
end
print("survived", calls > 50000, errors > 0)
