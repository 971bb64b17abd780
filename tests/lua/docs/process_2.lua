local cat = process.spawn("cat")
local lines = chan()
go(function(child, lines)
  while true do
    local line = child:read_line()
    if not line then break end
    lines:send(line)
  end
  lines:close()
end, cat, lines)
for i = 1, 3 do
  cat:write("line " .. i .. "\n")
  print("echoed:", lines:receive())
end
cat:close_stdin()
print(lines:receive())                 -- nil, false: cat ended
print(cat:wait().ok)

local sleeper = process.spawn("sleep", {"10"})
print(sleeper:wait(0.05))              -- nil  timeout
print(sleeper:kill("SIGTERM"), sleeper:wait().signal)
