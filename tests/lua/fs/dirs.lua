-- mkdir with parents, list_dir (empty, sort order, unicode names), remove, rename.
local T = os.getenv("TEST_TMP")
local pattern = T:gsub("%p", "%%%0")

print(mkdir(T .. "/a/b/c"))
print(mkdir(T .. "/a/b/c"))
print(file_exists(T .. "/a/b/c"), file_exists(T .. "/a/b/c/d"))
print(#list_dir(T .. "/a/b/c"))
print(stat(T .. "/a/b").is_dir)

-- Sorted bytewise by name: digits, upper case, underscore, lower case, then non-ASCII.
for _, name in ipairs({ "b.txt", "a.txt", "B.txt", "10.txt", "9.txt", "_x", "ünïcødé.txt", "日本.txt" }) do
  assert(write_file(T .. "/a/" .. name, name))
end
for _, e in ipairs(list_dir(T .. "/a")) do
  print(e.name, e.is_dir, e.is_file, e.is_dir and "-" or e.size)
end
print(read_file(T .. "/a/日本.txt"), stat(T .. "/a/ünïcødé.txt").size)

local ok, err = remove(T .. "/a/b")
print(ok, (err:gsub(pattern, "$TMP")))
print(remove(T .. "/a/b", true))
print(file_exists(T .. "/a/b"))
print(remove(T .. "/a/a.txt"), file_exists(T .. "/a/a.txt"))
mkdir(T .. "/empty")
print(remove(T .. "/empty"), file_exists(T .. "/empty"))

print(rename(T .. "/a/b.txt", T .. "/moved.txt"), read_file(T .. "/moved.txt"))
print(rename(T .. "/a", T .. "/renamed"), file_exists(T .. "/a"))
-- A trailing slash is fine, as in the README's list_dir("my_stuff/").
print(#list_dir(T .. "/renamed/"))
