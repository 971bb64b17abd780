-- CSV (RFC 4180): quoting, header mode, delimiters, files, errors with the line.
local rows = csv.parse('name,note\n"Smith, J","said ""hi"""\nLee,"two\nlines"\n')
print(#rows, rows[1][1], rows[2][1], rows[2][2], rows[3][2])
local people = csv.parse("name,age\nada,36\nbob,\n", {header = true})
print(#people, people[1].name, people[1].age, math.type(people[1].age), people[2].age == "")
print(csv.parse("a;b\n1;2\n", {delimiter = ";"})[2][2], csv.parse("a\tb\n", {delimiter = "\t"})[1][2])
print(json_encode(csv.parse("")), json_encode(csv.parse("a,b\n", {header = true})))
print(csv.parse("a,b\n1,2\n3\n"))
print(pcall(csv.parse, "a", {delimiter = ";;"}))

io.write(csv.stringify({{"plain", "with,comma", 'with "quote"', "multi\nline"}, {1, 2.5, true, json_null}}))
io.write(csv.stringify({{name = "ada", age = 36}, {name = "bob"}}, {header = true}))
io.write(csv.stringify({{name = "ada", age = 36}}, {header = true, columns = {"name", "age"}}))
io.write(csv.stringify({{"a", "b"}}, {delimiter = ";"}))
print(pcall(csv.stringify, {{"ok"}, {{"nested"}}}))
print(pcall(csv.stringify, {"not a row"}))

local path = os.getenv("TEST_TMP") .. "/people.csv"
print(csv.write(path, people, {header = true, columns = {"name", "age"}}))
io.write(read_file(path))
local again = csv.read(path, {header = true})
print(#again, again[1].name, again[1].age)
local none, err = csv.read(os.getenv("TEST_TMP") .. "/missing.csv")
print(none, err:sub(1, 5) .. err:sub(#"open " + #os.getenv("TEST_TMP") + 1))
