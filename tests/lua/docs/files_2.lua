print(mkdir("data/logs/2024"))                -- parents created
write_file("data/b.txt", "bb")
write_file("data/a.txt", "a")
for _, e in ipairs(list_dir("data")) do
  print(e.name, e.is_dir, e.is_file)
end
local st = stat("data/b.txt")
print(st.size, st.is_file, st.mode:sub(1, 1), type(st.mod_time))
print(rename("data/a.txt", "data/c.txt"), file_exists("data/c.txt"))
local ok, err = remove("data/logs")           -- not empty: nil, err
print(ok, err:match("directory not empty"))
print(remove("data", true))                   -- recursive
print(pcall(read_file, {}))                   -- a wrong type raises
