-- The seed's filesystem snippet, as written. Run it from this folder: cd examples && solvm filesystem.lua
-- (it reads my_stuff/notes.txt and rewrites my_stuff/output.txt).

-- Read a file's content
local stuff = read_file("my_stuff/notes.txt")
print(stuff)

-- Write to a file
write_file("my_stuff/output.txt", "This is new content!")

-- See what's in a directory
local dir_contents = list_dir("my_stuff/")
if dir_contents then
    for _, item in ipairs(dir_contents) do
        print("Name:", item.name)
        print("  Is it a folder?:", item.is_dir)
        print("  Size:", item.size)
        print("  Mode (permissions):", item.mode)
        print("  Last changed:", item.mod_time)
    end
end
