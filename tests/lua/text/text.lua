-- text: plain strings (never patterns), UTF-8 aware lengths and padding.
print("[" .. text.trim("  \t hi there \n ") .. "]", "[" .. text.trim("xyhixy", "yx") .. "]")
print("[" .. text.trim("\u{3000}wide\u{3000}") .. "]")
print(text.upper("héllo wörld"), text.lower("ÉCOLE Ÿ"), text.title("hello wide-world o'neil"))
print(table.concat(text.split("a,b,,c", ","), "|"), #text.split("", ","), #text.split("abc", ","))
print(table.concat(text.split("a.b.c", "."), "|"), table.concat(text.split("a%sb", "%s"), "|"))
print(table.concat(text.split("héj", ""), "|"), table.concat(text.split("a,b,c,d", ",", 2), "|"))
print(text.join({"a", 1, 2.5}, "-"), text.join({}, ","), text.join({"x", "y"}))
print(pcall(text.join, {"a", {}}, ","))
print(text.replace("a.b.c", ".", "%1"), text.replace("aaa", "a", "b", 2), text.replace("abc", "", "-"))
print(text.contains("hello", "ll"), text.contains("hello", "l+"), text.contains("hello", ""))
print(text.starts_with("hello", "he"), text.starts_with("hello", "."), text.ends_with("hello", "lo"), text.ends_with("hello", "hello!"))
print("[" .. text.pad_left("日本", 5, "*") .. "]", "[" .. text.pad_right("ab", 5, "12") .. "]", "[" .. text.pad_left("abc", 2) .. "]")
print("[" .. text.pad_left("7", 3, "0") .. "]", "[" .. text.pad_right("é", 3) .. "]", "[" .. text.pad_left("x", 4, "äö") .. "]")
print(text.len("日本語"), text.len(""), text.len("a\255b"), #"日本語")
print(text.repeat_str("ab", 3, ","), text["repeat"]("-", 5), "[" .. text.repeat_str("x", 0) .. "]", "[" .. text.repeat_str("x", -3) .. "]")
print(text.repeat_str("", 1e15), text.upper("a\255b") == "A\255B")
for _, call in ipairs({
  function() return text.repeat_str("x", 1e300) end,
  function() return text.repeat_str("x", 0 / 0) end,
  function() return text.repeat_str("xy", 2 ^ 40) end,
  function() return text.pad_left("x", 2 ^ 40) end,
  function() return text.pad_left("x", 3, "") end,
  function() return text.split(nil, ",") end,
  function() return text.trim() end,
  function() return text.replace("a", "a", "b", 1.5) end,
}) do
  print(select(2, pcall(call)))
end
