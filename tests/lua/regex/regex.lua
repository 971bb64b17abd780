-- regex: Rust regex syntax on bytes, 1-based positions like string.find.
local date = regex.new("(?P<year>\\d{4})-(?P<month>\\d{2})-(?P<day>\\d{2})")
print(date, date.pattern, type(date), types.type(date))
print(date:is_match("due 2024-05-17!"), date:is_match("no date"), date:is_match("2024-05-17", 2))

-- find: the same positions as string.find on ASCII input, init included
for _, case in ipairs({{"due 2024-05-17!", 1}, {"due 2024-05-17!", 5}, {"due 2024-05-17!", 6}, {"x 2024-01-01 2025-02-02", -10}}) do
  local s, init = case[1], case[2]
  local a, b = date:find(s, init)
  print(a, b, string.find(s, "%d%d%d%d%-%d%d%-%d%d", init))
end
print(regex.find("abc", "b", 10), string.find("abc", "b", 10))
print(regex.find("abc", "", 4))
print(string.find("abc", "", 4))
print(regex.find("abcabc", "c", -2))
print(string.find("abcabc", "c", -2))

-- match / captures: named groups, unmatched groups are false
print(date:match("due 2024-05-17!"))
print(regex.match("key=value", "(\\w+)=(\\w+)"), regex.match("abc", "b"), regex.match("abc", "z"))
print(regex.match("ac", "a(b)?(c)"))
local c = date:captures("due 2024-05-17!")
print(c[0], c[1], c[2], c[3], c.year, c.month, c.day, #c)
print(date:captures("nothing"))

-- gmatch: each match's captures
for y, m, d in date:gmatch("2024-05-17 and 2025-12-31") do print(y, m, d) end
for w in regex.new("\\w+"):gmatch("one two  three") do io.write("[", w, "]") end print()

-- gsub like string.gsub: $1 / ${name} / $$, a table, a function, a limit
print(date:gsub("2024-05-17 and 2025-12-31", "${day}/${month}/$year"))
print(regex.gsub("a-b", "(\\w)", "$1$1 $$"))
print(regex.gsub("$1 ${x}", "(\\d)", "<$1>"), regex.gsub("hello world", "o", "0", 1))
print(regex.gsub("hello world from lua", "\\w+", {hello = "HI", world = false, lua = 54}))
print(regex.gsub("x=1, y=22", "(\\w)=(\\d+)", function(k, v) return v .. k end))
print(regex.gsub("keep", "\\w+", function() return nil end))
print(pcall(regex.gsub, "x", "x", function() return {} end))
-- empty matches follow Lua 5.4: none right where the previous match ended
print(regex.gsub("abc", "x*", "-"), string.gsub("abc", "x*", "-"))
print(regex.gsub("baaac", "a*", "-"), string.gsub("baaac", "a*", "-"))
print(regex.gsub("héllo", "", "."), #"héllo")

-- split
print(table.concat(regex.split("a, b,c ,  d", "\\s*,\\s*"), "|"), #regex.split("", ","))
print(table.concat(regex.split("a1b22c333d", "\\d+", 3), "|"), table.concat(date:split("x2024-01-01y"), "|"))

-- flags: i m s x
print(regex.new("HELLO", "i"):is_match("hello"), regex.new("^b$", "m"):is_match("a\nb\nc"), regex.new("^b$"):is_match("a\nb\nc"))
print(regex.new("a.b", "s"):is_match("a\nb"), regex.new("a.b"):is_match("a\nb"), regex.new("a b # comment", "x"):is_match("ab"))
print(regex.escape("1+1=2? (yes) [a] {x} ^$ |.*\\"))
print(regex.is_match("1+1", regex.escape("1+1")), regex.is_match("11", "1+1"))

-- Unicode and bytes
print(regex.find("naïve café", "é"), regex.match("日本語", "(.)語"), regex.is_match("\xff\xfe", "(?-u:\\xff)"))

-- a pattern that backtracks exponentially elsewhere answers in linear time here
local many = string.rep("a", 100000)
print(regex.is_match(many, "(a*)*b"), regex.is_match(many, "^(a|aa)+$"))
print(regex.find(many .. "b", "(a*)*b"))

-- errors: bad pattern with its position, bad flags, bad arguments
for _, call in ipairs({
  function() return regex.new("(ab") end,
  function() return regex.new("a)") end,
  function() return regex.new("[z-a]") end,
  function() return regex.new("x{3,1}") end,
  function() return regex.new("\\p{Nope}") end,
  function() return regex.new("a", "g") end,
  function() return regex.match(nil, "a") end,
  function() return date:find() end,
  function() return date.find("2024-01-01") end,
  function() return regex.split("a", ",", 0) end,
  function() return regex.gsub("a", "a", true) end,
  function() return date:find("x", 0 / 0) end,
}) do
  print(select(2, pcall(call)))
end

-- a Regex crosses goroutines by reference (upvalue and argument)
go(function(re) print("goroutine", date:match("1999-12-31"), re:is_match("abc")) end, regex.new("b"))
wait()
