-- process.spawn: a streaming child driven from two goroutines (one writes, one reads).
local cat = process.spawn("cat")
print(math.type(cat.pid), tostring(cat):match("^child process %d+$") ~= nil, types.type(cat))

local lines, done = chan(), chan()
-- The reader goroutine gets the child as an argument; the writer (main) keeps its own handle.
go(function(child, lines, done)
  while true do
    local line = child:read_line()
    if not line then break end
    lines:send(line)
  end
  done:send(child:wait())
end, cat, lines, done)

for i = 1, 5 do
  cat:write("line " .. i .. "\n")
  print("echoed", lines:receive())     -- each line comes back before the next is written
end
cat:write("no newline at the end")
cat:close_stdin()
print("last", lines:receive())
local status = done:receive()
print("exit", status.ok, status.code, status.signal)

-- read chunks, stderr, exit code
local sh = process.spawn("sh", {"-c", "printf abcdef; echo oops >&2; exit 5"})
local got = {}
while true do
  local chunk = sh:read(4)
  if not chunk then break end
  got[#got + 1] = chunk
end
print(table.concat(got, "|"), sh:read_stderr(), sh:read_stderr())
local st = sh:wait()
print(st.ok, st.code, st.signal, sh:read_line())

-- wait with a timeout, kill (the whole group), signal names and numbers
local sleeper = process.spawn("sleep", {"10"})
print(sleeper:wait(0.05))
print(sleeper:kill("SIGTERM"))
st = sleeper:wait()
print(st.ok, st.code, st.signal, sleeper:kill(), sleeper:kill(9))
local group = process.spawn("sh", {"-c", "sleep 10 & echo $!; wait"})
local grandchild = group:read_line()
print(group:kill(), group:wait().signal)
local function gone(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return true end
  local stat = f:read("a")
  f:close()
  return stat:match("^%d+ %b() (%a)") == "Z"
end
local ok = false
for _ = 1, 100 do if gone(grandchild) then ok = true break end sleep(0.05) end
print("grandchild gone", ok)

-- writing after the child has gone is nil, err; options, failures and bad arguments
local quick = process.spawn("true")
quick:wait()
print(quick:write(string.rep("x", 100000)))
local opts = process.spawn("sh", {"-c", "pwd; echo $X"}, {cwd = "/", env = {X = "y"}})
opts:wait()
print(opts:read_line(), opts:read_line(), opts:read_line())
print(process.spawn("no-such-command-solvm"))
for _, call in ipairs({
  function() return process.spawn("cat", {}, {stdin = "x"}) end,
  function() return cat.read() end,
  function() return cat:read(0) end,
  function() return cat:read(0 / 0) end,
  function() return cat:kill("SIGNOPE") end,
  function() return cat:wait(-1) end,
}) do
  print(select(2, pcall(call)))
end
