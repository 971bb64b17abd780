-- process.exec: no shell unless asked, exit codes, stdin, env and cwd, timeout.
local r = process.exec("echo", {"hello", "$HOME", "a b"})
print(r.ok, r.code, r.signal, r.timed_out, r.stdout, "[" .. r.stderr .. "]")
r = process.exec("sh", {"-c", "echo to-stderr >&2; exit 3"})
print(r.ok, r.code, r.stdout == "", r.stderr)
r = process.exec("echo $((1 + 2)) \"$1\"", {"first"}, {shell = true})
print(r.ok, r.stdout)
r = process.exec("exit 7", {shell = true})
print(r.ok, r.code)

-- stdin is piped in; a large input and output do not deadlock
r = process.exec("tr", {"a-z", "A-Z"}, {stdin = "piped in\nsecond line\n"})
io.write(r.stdout)
local big = string.rep("0123456789", 200000)
r = process.exec("cat", nil, {stdin = big})
print(#r.stdout, r.stdout == big)
r = process.exec("cat")
print(r.ok, "[" .. r.stdout .. "]")

-- env is merged into ours (false removes a variable); cwd
process.env.SOLVM_TEST_KEEP = "kept"
r = process.exec("sh", {"-c", 'echo "$GREETING|$NUM|$SOLVM_TEST_KEEP|${HOME:+home set}"; pwd'},
  {env = {GREETING = "hi there", NUM = 42}, cwd = os.getenv("TEST_TMP")})
local lines = {}
for l in r.stdout:gmatch("[^\n]+") do lines[#lines + 1] = l end
print(lines[1], lines[2] == os.getenv("TEST_TMP"))
r = process.exec("sh", {"-c", 'echo "[$SOLVM_TEST_KEEP]"'}, {env = {SOLVM_TEST_KEEP = false}})
io.write(r.stdout)

-- a child that outlives its timeout is killed, with its whole process group
local t0 = os.time()
r = process.exec("sh", {"-c", "echo started; echo $$ > \"$TEST_TMP/pid\"; sleep 10 & echo $! > \"$TEST_TMP/grandchild\"; wait"}, {timeout = 0.5})
print(r.ok, r.timed_out, r.code, r.signal, r.stdout, os.time() - t0 < 5)
local function gone(pid)
  -- a process that is gone, or a zombie no one has reaped yet (it is dead)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return true end
  local stat = f:read("a")
  f:close()
  return stat:match("^%d+ %b() (%a)") == "Z"
end
for _, name in ipairs({"pid", "grandchild"}) do
  local pid = read_file(os.getenv("TEST_TMP") .. "/" .. name):match("%d+")
  local ok = false
  for _ = 1, 100 do if gone(pid) then ok = true break end sleep(0.05) end
  print(name, "gone", ok)
end
r = process.exec("sleep", {"10"}, {timeout = 0.2})
print(r.ok, r.timed_out, r.signal)

-- inherit: the child's output is ours
print("before")
r = process.exec("echo", {"inherited"}, {inherit = true})
print("after", r.ok, r.stdout)

-- failures to start are nil, err; bad arguments raise
print(process.exec("no-such-command-solvm"))
print(process.exec("/", {}))
for _, call in ipairs({
  function() return process.exec() end,
  function() return process.exec("echo", 5) end,
  function() return process.exec("echo", {{}}) end,
  function() return process.exec("echo", {}, {timeout = -1}) end,
  function() return process.exec("echo", {}, {timeout = 0 / 0}) end,
  function() return process.exec("echo", {}, {stdin = {}}) end,
  function() return process.exec("echo", {}, {env = {X = {}}}) end,
}) do
  print(select(2, pcall(call)))
end

-- facts about this process
print(math.type(process.pid), process.pid > 1, process.os, type(process.arch))
print(process.env.SOLVM_TEST_KEEP, os.getenv("SOLVM_TEST_KEEP"))
process.env.SOLVM_TEST_KEEP = nil
print(process.env.SOLVM_TEST_KEEP, os.getenv("SOLVM_TEST_KEEP"), process.env[1])
local seen = false
for k, v in pairs(process.env) do if k == "PATH" then seen = #v > 0 end end
print("PATH seen", seen, pcall(function() process.env.X = {} end))
