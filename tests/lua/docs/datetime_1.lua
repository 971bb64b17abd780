local ts = 1710054000                                   -- 2024-03-10 07:00:00 UTC
print(datetime.format(ts, nil, "UTC"))
print(datetime.format(ts, "Mon Jan _2 15:04:05 MST 2006", "America/New_York"))
print(datetime.format(ts + 0.25, "2006-01-02 15:04:05.000 -07:00", "Asia/Kolkata"))
print(datetime.format(ts, "%A %d %B %Y, %H:%M %Z", "Europe/Paris"))
print(datetime.parse("2024-03-10T03:00:00-04:00"))       -- the offset decides
print(datetime.parse("10/03/2024 03:00", "02/01/2006 15:04", "America/New_York"))
print(datetime.parse("2024-03-10 02:30", "2006-01-02 15:04", "America/New_York"))  -- skipped hour
print(datetime.parse("31/02/2024", "02/01/2006"))
