local dir = os.getenv("TEST_TMP") .. "/data"
print(mkdir(dir .. "/logs/2024"))             -- parents created
write_file(dir .. "/b.txt", "bb")
write_file(dir .. "/a.txt", "a")
for _, e in ipairs(list_dir(dir)) do
  print(e.name, e.is_dir, e.is_file)
end
local st = stat(dir .. "/b.txt")
print(st.size, st.is_file, st.mode:sub(1, 1), type(st.mod_time))
print(rename(dir .. "/a.txt", dir .. "/c.txt"), file_exists(dir .. "/c.txt"))
local ok, err = remove(dir .. "/logs")        -- not empty: nil, err
print(ok, err:match("directory not empty"))
print(remove(dir .. "/logs", true))           -- recursive
print(pcall(read_file, {}))                   -- a wrong type raises
