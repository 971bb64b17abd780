-- read_file / write_file / append_file happy paths: overwrite, empty file, binary data, numbers.
local T = os.getenv("TEST_TMP")

local p = T .. "/hello.txt"
print(write_file(p, "Hello, SolVM!\n"))
io.write(read_file(p))
print(write_file(p, "short"))
print(read_file(p))

print(write_file(T .. "/empty.txt", ""))
local empty = read_file(T .. "/empty.txt")
print(type(empty), #empty)

-- Every byte value, NULs included, survives the round trip.
local bytes = {}
for i = 0, 255 do
  bytes[#bytes + 1] = string.char(i)
end
local bin = table.concat(bytes) .. "\0\0end"
print(write_file(T .. "/data.bin", bin))
local back = read_file(T .. "/data.bin")
print(#back, back == bin, back:byte(1), back:byte(256), back:sub(-3))

print(append_file(T .. "/log.txt", "one\n"))
print(append_file(T .. "/log.txt", "two\n"))
io.write(read_file(T .. "/log.txt"))

-- Numbers are accepted as data, as io.write accepts them.
print(write_file(T .. "/n.txt", 42), read_file(T .. "/n.txt"))

-- The atomic write leaves no temporary files behind.
local names = {}
for _, e in ipairs(list_dir(T)) do
  names[#names + 1] = e.name
end
print(table.concat(names, " "))
