local tmp = os.getenv("TEST_TMP")
mkdir(tmp .. "/site/css")
write_file(tmp .. "/site/index.html", "<h1>hi</h1>")
write_file(tmp .. "/site/css/main.css", "h1 {}")
print(tar.create(tmp .. "/site.tar.gz", tmp .. "/site"))
for _, e in ipairs(tar.list(tmp .. "/site.tar.gz")) do print(e.name, e.type, e.size) end
print(tar.extract(tmp .. "/site.tar.gz", tmp .. "/copy"), read_file(tmp .. "/copy/css/main.css"))
print(zip.create(tmp .. "/site.zip", tmp .. "/site"), #zip.list(tmp .. "/site.zip"))
