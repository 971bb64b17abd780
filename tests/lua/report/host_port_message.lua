-- A message that starts with host:port: is not a file and line: the report keeps it whole and
-- points at the line that raised it.
local addr = "127.0.0.1:8080"
error(addr .. ": connection refused", 0)
