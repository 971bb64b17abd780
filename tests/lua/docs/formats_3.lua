local rows = csv.parse('name,city\n"Lovelace, Ada",London\nTuring,Wilmslow\n', {header = true})
print(#rows, rows[1].name, rows[2].city)
io.write(csv.stringify({{"id", "note"}, {1, 'said "hi"'}}))
print(csv.parse("a,b\n1\n"))
