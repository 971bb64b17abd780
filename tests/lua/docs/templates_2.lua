local page = template.parse_files("views/page.html", "views/layout.html", "views/nav.html")
-- or: template.parse_glob("views/*.html") renders the first in name order (layout.html here)
print(page({title = "Home", user = "ann & bob"}))
print(template.parse_file("views/missing.html"))
