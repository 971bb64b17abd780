local dir = os.getenv("TEST_TMP")
local path = dir .. "/notes.txt"
print(write_file(path, "first line\n"))       -- true (atomic)
print(append_file(path, "second line\n"))     -- true
io.write(read_file(path))
print(file_exists(path), file_exists(dir .. "/nope"))
print(read_file(dir .. "/nope.txt") == nil, select(2, read_file("missing.txt")))
