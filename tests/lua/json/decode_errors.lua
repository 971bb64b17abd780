-- json_decode returns nil plus a message with line and column for bad input.
local inputs = {
  "",
  "[1, }",
  "[1, 2",
  '{"a" 1}',
  '{"a": 1,}',
  "[1] extra",
  "nul",
  "'single'",
  '"bad \\x escape"',
  "01",
  "NaN",
  '{\n  "ok": true,\n  "broken": ]\n}',
  string.rep("[", 129) .. string.rep("]", 129),
  string.rep('{"a":', 1000),
}
for _, s in ipairs(inputs) do
  local v, err = json_decode(s)
  print(v, err)
end
print(json_decode("\"\xff\""))
