mkdir("site/css")
write_file("site/index.html", "<h1>hi</h1>")
write_file("site/css/main.css", "h1 {}")
print(tar.create("site.tar.gz", "site"))
for _, e in ipairs(tar.list("site.tar.gz")) do print(e.name, e.type, e.size) end
print(tar.extract("site.tar.gz", "copy"), read_file("copy/css/main.css"))
print(zip.create("site.zip", "site"), #zip.list("site.zip"))
