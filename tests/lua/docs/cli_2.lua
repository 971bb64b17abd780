local function parse(s)
  return tonumber(s) + 1
end
print(parse("41"))
print(parse("x"))
