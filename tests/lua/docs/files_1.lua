local path = "notes.txt"                      -- relative to the working directory
print(write_file(path, "first line\n"))       -- true (atomic)
print(append_file(path, "second line\n"))     -- true
io.write(read_file(path))
print(file_exists(path), file_exists("nope"))
print(read_file("nope.txt") == nil, select(2, read_file("missing.txt")))
print(remove(path))                           -- true
