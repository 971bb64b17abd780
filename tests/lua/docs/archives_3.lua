-- An archive with an entry named "../../evil.sh" (made here with the tar command):
local tmp = os.getenv("TEST_TMP")
mkdir(tmp .. "/a/b")
write_file(tmp .. "/evil.sh", "echo pwned")
os.execute("cd " .. tmp .. "/a/b && tar -cf ../../evil.tar -P ../../evil.sh 2>/dev/null")
remove(tmp .. "/evil.sh")
print(tar.extract(tmp .. "/evil.tar", tmp .. "/a/b/out"))
print(file_exists(tmp .. "/evil.sh"))
