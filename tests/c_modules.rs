//! C modules built for the system's Lua load in solvm (SPEC §16): Debian's `lua-cjson`, `lua-lpeg`,
//! `lua-filesystem`, `lua-sql-sqlite3` and `lua-socket` (installed by `scripts/test` when missing;
//! without them these tests fail, they are not skipped), found through the default
//! `package.cpath`/`package.path`, linked against the Lua inside solvm (its exported C API), used in
//! the main script and in goroutines, several at once on different threads.

use std::process::{Command, Output};

/// Uses every module; `where` says who ran it. Returns nothing: failures raise.
const USE_ALL: &str = r#"
function use_all(where)
  local cjson = require("cjson")
  local t = cjson.decode(cjson.encode({name = where, list = {1, 2, 3}}))
  assert(t.name == where and t.list[3] == 3, "cjson")

  local lpeg = require("lpeg")
  local number = lpeg.C(lpeg.R("09") ^ 1) / tonumber
  local list = lpeg.Ct(number * ("," * number) ^ 0)
  local got = lpeg.match(list, "10,20,30")
  assert(#got == 3 and got[3] == 30, "lpeg")
  local re = require("re")                          -- pure Lua, from /usr/share/lua/5.4
  assert(re.match("hello world", "{%a+}") == "hello", "re")

  local lfs = require("lfs")
  assert(lfs.attributes(".", "mode") == "directory", "lfs")
  local seen = 0
  for name in lfs.dir(".") do seen = seen + 1 end
  assert(seen >= 2, "lfs.dir")

  local driver = require("luasql.sqlite3")
  local env = assert(driver.sqlite3())
  local con = assert(env:connect(":memory:"))
  assert(con:execute("create table t (who text, n integer)"))
  assert(con:execute(string.format("insert into t values ('%s', 42)", where)))
  local cur = assert(con:execute("select who, n from t"))
  local who, n = cur:fetch()
  assert(who == where and tonumber(n) == 42, "luasql")
  cur:close() con:close() env:close()

  local socket = require("socket")                  -- socket.lua + socket/core.so
  local server = assert(socket.bind("127.0.0.1", 0))
  local _, port = server:getsockname()
  local client = assert(socket.connect("127.0.0.1", port))
  local peer = assert(server:accept())
  assert(client:send("ping " .. where .. "\n"))
  assert(peer:receive("*l") == "ping " .. where, "luasocket")
  client:close() peer:close() server:close()
  assert(type(socket.gettime()) == "number")
  return where .. " ok"
end
"#;

fn run(script: &str) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("main.lua"), script).expect("write script");
    Command::new(env!("CARGO_BIN_EXE_solvm"))
        .args(["--timeout", "60s", "main.lua"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env_remove("LUA_PATH")
        .env_remove("LUA_PATH_5_4")
        .env_remove("LUA_CPATH")
        .env_remove("LUA_CPATH_5_4")
        .output()
        .expect("run solvm")
}

fn check(out: &Output, want: &str) {
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success() && stdout == want,
        "exit {}; expected stdout {want:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n\
         (the Debian packages lua-cjson lua-lpeg lua-filesystem lua-sql-sqlite3 lua-socket must be \
         installed: scripts/test installs them)",
        out.status
    );
}

#[test]
fn debian_c_modules_load_in_main_and_in_goroutines() {
    let script = format!(
        "{USE_ALL}\nprint(use_all('main'))\n\
         go(function() print(use_all('goroutine')) end)\nwait()\n"
    );
    check(&run(&script), "main ok\ngoroutine ok\n");
}

#[test]
fn a_c_module_runs_in_several_goroutine_states_at_once() {
    // Each goroutine is its own state on its own thread: the same shared objects are loaded into
    // all of them and used concurrently; the states then close one by one (each unloads its modules).
    let script = format!(
        "{USE_ALL}\nlocal done = chan(8)\n\
         for i = 1, 8 do go(function() for round = 1, 20 do use_all('g' .. i .. '.' .. round) end send(done, i) end) end\n\
         local sum = 0\nfor _ = 1, 8 do sum = sum + receive(done) end\n\
         print(sum, use_all('main'))\n"
    );
    check(&run(&script), "36\tmain ok\n");
}

#[test]
fn a_module_value_that_cannot_cross_is_refused_by_name() {
    // Userdata made by a C module belongs to its state: sending it is an error naming it, not a crash.
    let script = "local lpeg = require('lpeg')\nlocal p = lpeg.P('x')\n\
                  local ok, err = pcall(go, function() return p end)\n\
                  print(ok, err:match(\"upvalue 'p'\") ~= nil)\n\
                  print(lpeg.match(p, 'x'))\n";
    check(&run(script), "false\ttrue\n2\n");
}

#[test]
fn package_paths_are_debians() {
    let script =
        "print(package.cpath:find('/usr/lib/x86_64-linux-gnu/lua/5.4/?.so', 1, true) ~= nil \
                  or package.cpath:find('/usr/lib/lua/5.4/?.so', 1, true) ~= nil)\n\
                  print(package.path:find('/usr/share/lua/5.4/?.lua', 1, true) ~= nil)\n\
                  print(package.cpath:find('/usr/local/lib/lua/5.4/?.so', 1, true) ~= nil)\n";
    check(&run(script), "true\ntrue\ntrue\n");
}

/// The example of docs/modules.md's "C modules" section, as written there.
const DOCS_EXAMPLE: &str = r#"local cjson = require("cjson")
local lpeg = require("lpeg")
print(cjson.encode({ok = true}), lpeg.match(lpeg.C(lpeg.R("az") ^ 1), "abc1"))
go(function()                              -- each goroutine loads its own copy into its own state
  local lfs = require("lfs")
  print(lfs.attributes(".", "mode"))
end)
wait()
"#;

#[test]
fn the_docs_example_runs_as_written() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/modules.md"))
        .expect("read docs/modules.md");
    assert!(
        docs.contains(&format!("```lua\n{DOCS_EXAMPLE}```")),
        "docs/modules.md no longer holds this example"
    );
    check(&run(DOCS_EXAMPLE), "{\"ok\":true}\tabc\ndirectory\n");
}
