-- types: predicates; is_callable looks at __call; types.type names classes that have __name.
local callable = setmetatable({}, {__call = function() return "called" end})
local chained = setmetatable({}, {__call = callable})
local values = {
  {"int", 3}, {"float 3.0", 3.0}, {"float 3.5", 3.5}, {"inf", math.huge}, {"nan", 0 / 0},
  {"string", "3"}, {"table", {}}, {"function", print}, {"true", true}, {"false", false},
  {"callable", callable}, {"chained", chained}, {"plain mt", setmetatable({}, {})},
}
local checks = {"is_integer", "is_number", "is_string", "is_table", "is_function", "is_boolean", "is_nil", "is_callable"}
for _, pair in ipairs(values) do
  local row = {}
  for _, name in ipairs(checks) do row[#row + 1] = types[name](pair[2]) and name:sub(4) or "-" end
  print(pair[1], table.concat(row, " "), types.type(pair[2]))
end
print(types.is_nil(nil), types.is_nil(), types.is_nil(false), types.type(nil))
print(types.type(setmetatable({}, {__name = "Point"})), types.type(regex.new("x")), types.type(coroutine.create(print)))
