print(datetime.duration(5400), datetime.duration(1.5), datetime.duration(0.000250))
print(datetime.parse_duration("1h30m"), datetime.parse_duration("250ms"), datetime.parse_duration("1d"))
local start = 1710054000
local later = datetime.add(start, "1h30m")
print(later - start, datetime.diff(later, start), datetime.duration(datetime.diff(later, start)))
