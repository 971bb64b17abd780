-- An archive with an entry named "../../evil.sh" (made here with the tar command):
mkdir("a/b")
write_file("evil.sh", "echo pwned")
os.execute("cd a/b && tar -cf ../../evil.tar -P ../../evil.sh 2>/dev/null")
remove("evil.sh")
print(tar.extract("evil.tar", "a/b/out"))
print(file_exists("evil.sh"))
