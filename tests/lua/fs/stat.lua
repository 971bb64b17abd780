-- stat and list_dir fields: types, sizes, Go-style mode strings, mod_time, symlinks.
local T = os.getenv("TEST_TMP")
local p = T .. "/file.txt"

write_file(p, "12345")
local st = stat(p)
print(st.size, st.is_dir, st.is_file, math.type(st.size), math.type(st.mod_time))
print(#st.mode, st.mode:match("^%-[-r][-w][-x][-r][-w][-x][-r][-w][-x]$") ~= nil)
print(math.abs(st.mod_time - os.time()) < 300)

local d = stat(T)
print(d.is_dir, d.is_file, d.mode:sub(1, 1))

-- Fixed permissions and timestamps through the shell, so the output does not depend on the umask.
assert(os.execute("chmod 640 '" .. p .. "' && TZ=UTC touch -t 200109090146.40 '" .. p .. "'"))
st = stat(p)
print(st.mode, st.mod_time)
-- write_file replaces the file but keeps its permissions.
print(write_file(p, "new content"), stat(p).mode, stat(p).size)

assert(os.execute("mkdir '" .. T .. "/sub' && chmod 755 '" .. T .. "/sub'"))
assert(os.execute("chmod 1777 '" .. T .. "/sub'"))
print(stat(T .. "/sub").mode)
assert(os.execute("chmod 755 '" .. T .. "/sub' && ln -s file.txt '" .. T .. "/link'"))

-- list_dir reports a symlink as itself (mode "L..."); stat follows it.
for _, e in ipairs(list_dir(T)) do
  print(e.name, e.is_dir, e.is_file, e.mode:sub(1, 1), math.type(e.mod_time), e.is_dir or e.size)
end
print(stat(T .. "/link").is_file, stat(T .. "/link").size)
print(stat(T .. "/sub").mode)
