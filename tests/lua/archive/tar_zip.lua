-- tar and zip: create, list, extract round trips (symlinks kept), in $TEST_TMP.
local tmp = os.getenv("TEST_TMP")
local src = tmp .. "/src"
mkdir(src .. "/sub/deeper")
write_file(src .. "/a.txt", "alpha\n")
write_file(src .. "/sub/b.txt", "beta")
write_file(src .. "/sub/deeper/c.bin", "\0\1\2")
os.execute("cd " .. src .. " && ln -s a.txt link && chmod 644 a.txt sub/deeper/c.bin && chmod 755 sub sub/deeper && chmod 600 sub/b.txt")

local function show(list)
    for _, e in ipairs(list) do
        print(e.name, e.type, e.size, string.format("%o", e.mode), e.link or "", math.type(e.mod_time))
    end
end

for _, kind in ipairs({"tar", "tar.gz", "zip"}) do
    local archive = tmp .. "/out." .. kind
    local lib = kind == "zip" and zip or tar
    print("==", kind, lib.create(archive, src))
    show(lib.list(archive))
    local dest = tmp .. "/x-" .. kind
    print(lib.extract(archive, dest))
    print(read_file(dest .. "/a.txt") == "alpha\n", read_file(dest .. "/sub/deeper/c.bin") == "\0\1\2",
        read_file(dest .. "/link"), stat(dest .. "/sub/b.txt").mode)
    -- Extracting again over the same files replaces them (never appends).
    write_file(dest .. "/a.txt", "a much longer text than before\n")
    print(lib.extract(archive, dest), read_file(dest .. "/a.txt") == "alpha\n")
end
-- gzip follows the name unless told; extraction detects it from the bytes.
print(tar.create(tmp .. "/plain.tgz", src, false), tar.extract(tmp .. "/plain.tgz", tmp .. "/plain"))
print(hex_encode(read_file(tmp .. "/out.tar.gz"):sub(1, 2)))

print(tar.list(tmp .. "/missing.tar") == nil, zip.list(tmp .. "/a-missing.zip") == nil)
write_file(tmp .. "/junk.zip", "not a zip")
print(zip.extract(tmp .. "/junk.zip", tmp .. "/junk") == nil, file_exists(tmp .. "/junk"))
print(tar.create(tmp .. "/x.tar", tmp .. "/no-such-dir") == nil, file_exists(tmp .. "/x.tar"))
mkdir(tmp .. "/empty")
print(zip.create(tmp .. "/empty.zip", tmp .. "/empty"), json_encode(zip.list(tmp .. "/empty.zip")))
