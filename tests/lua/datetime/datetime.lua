-- datetime: Unix seconds, Go layouts and strftime, named zones, durations.
local ts = 1710054000 -- 2024-03-10 07:00:00 UTC, the hour New York springs forward
print(datetime.format(ts, nil, "UTC"), datetime.format(ts, "2006-01-02T15:04:05Z07:00", "America/New_York"))

-- Go layouts
local layouts = {
  "2006-01-02 15:04:05", "Mon Jan _2 15:04:05 MST 2006", "Monday, 02-Jan-06 15:04:05 MST",
  "January 2, 2006 3:04:05 PM", "03:04pm -0700", "2006-01-02T15:04:05.000Z07:00", "02/01/06 15h04",
  "Jan 2 '06 at 15:04 (-07:00)", "2006 002 __2", "15:04:05.999999999", "2006-01-02 15:04:05,000000",
}
for _, layout in ipairs(layouts) do
  print(layout, "=>", datetime.format(1718454896.125, layout, "Europe/Paris"))
end

-- strftime when the layout has %
print(datetime.format(ts, "%Y-%m-%d %H:%M:%S %Z (%z) %A %j", "America/New_York"))
print(datetime.format(ts, "%d/%m/%Y %I:%M %p", "Asia/Kolkata"), datetime.format(0, "%c", "UTC"))

-- round trips in UTC, a named zone and local time
for _, zone in ipairs({"UTC", "America/New_York", "Australia/Lord_Howe", "local"}) do
  local ok = true
  for t = ts - 86400, ts + 86400, 1800 do
    local text = datetime.format(t, "2006-01-02 15:04:05 -07:00", zone)
    local back = datetime.parse(text, "2006-01-02 15:04:05 -07:00", zone)
    local iso = datetime.parse(datetime.format(t, nil, zone))
    local s = datetime.parse(datetime.format(t, "%Y-%m-%d %H:%M:%S %z", zone), "%Y-%m-%d %H:%M:%S %z")
    if back ~= t or iso ~= t or s ~= t then ok = false; print("mismatch", zone, t, text, back, iso, s) end
  end
  print("round trip", zone, ok)
end
print(datetime.format(0, "2006-01-02 15:04:05", "local") == os.date("%Y-%m-%d %H:%M:%S", 0))

-- across the DST changes in New York (local time without an offset in the text)
local layout = "2006-01-02 15:04:05 MST"
for _, text in ipairs({"2024-03-10 01:59:59", "2024-03-10 03:00:00", "2024-03-10 02:30:00", "2024-11-03 00:30:00", "2024-11-03 01:30:00", "2024-11-03 02:00:00"}) do
  local t = datetime.parse(text, "2006-01-02 15:04:05", "America/New_York")
  print(text, t, datetime.format(t, layout, "America/New_York"), datetime.format(t, nil, "UTC"))
end
-- the zone abbreviation picks the occurrence of a repeated hour
print(datetime.parse("2024-11-03 01:30:00 EDT", layout, "America/New_York"), datetime.parse("2024-11-03 01:30:00 EST", layout, "America/New_York"))

-- parsing: offsets win over the zone argument, fractions, defaults, failures
print(datetime.parse("2024-03-10T07:00:00Z"), datetime.parse("2024-03-10T02:00:00-05:00"), datetime.parse("2024-03-10T07:00:00.25Z"))
print(datetime.parse("10/03/2024", "02/01/2006", "UTC"), datetime.parse("7:05PM", "3:04PM", "UTC"), datetime.parse("Mar 10 2024", "Jan 2 2006", "UTC"))
print(datetime.parse("2024-03-10 07:00:00.5", "2006-01-02 15:04:05", "UTC"))
print(datetime.parse("2024-02-30", "2006-01-02", "UTC"))
print(datetime.parse("2024-03-10 trailing", "2006-01-02", "UTC"))
print(datetime.parse("not a date"))

-- durations
print(datetime.duration(5400), datetime.duration(1.5), datetime.duration(0.25), datetime.duration(0), datetime.duration(-90), datetime.duration(1e-7))
print(datetime.parse_duration("1h30m"), datetime.parse_duration("1.5s"), datetime.parse_duration("-250ms"), datetime.parse_duration("2h45m30.5s"), datetime.parse_duration("1us"))
print(datetime.parse_duration("1d"))
print(datetime.parse_duration(""))
print(datetime.add(ts, "1h30m") - ts, datetime.add(ts, 60) - ts, datetime.add(ts, "-1h") - ts, datetime.add(ts, 0.5) - ts)
print(datetime.diff(ts + 90, ts), datetime.diff(1.5, 1), math.type(datetime.diff(10, 4)))
print(math.type(datetime.now()), datetime.now() > 1.7e9, math.type(datetime.now_ms()), math.abs(datetime.now_ms() // 1000 - datetime.now()) <= 1)

-- arguments that must not panic
for _, call in ipairs({
  function() return datetime.format(0 / 0) end,
  function() return datetime.format(1e300) end,
  function() return datetime.format(math.maxinteger) end,
  function() return datetime.format(0, "x", "Mars/Olympus") end,
  function() return datetime.format(0, "%Q") end,
  function() return datetime.duration(1e300) end,
  function() return datetime.duration(math.maxinteger) end,
  function() return datetime.add(0, "soon") end,
  function() return datetime.parse_duration("9999999999999999999h") end,
}) do
  print(select(2, pcall(call)))
end
