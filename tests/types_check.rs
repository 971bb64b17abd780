//! `solvm --types` checked by a real LuaLS-compatible checker, `emmylua_check` (crates.io; `scripts/test`
//! installs it when missing, and this test fails without it): seed-style code, which calls connection
//! methods with `.` as well as `:`, reads `ws.path`/`ws.params`, and returns nil from a handler,
//! must check clean against the definitions, and a deliberate mistake must not.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Seed-style uses of the builtins (SPEC §10, §11 and the seed README's snippets).
const SEED_STYLE: &str = r#"
create_server("app", 8080)
handle_http("app", "/", function(req)
  if req.method == "HEAD" then return nil end
  return {status = 200, headers = {["content-type"] = "text/plain"}, body = "hi"}
end)
handle_http("app", "/text", function(req) return "plain " .. req.path end)
handle_http("app", "/json", function(req) return {ok = true, id = req.params.id} end)
handle_ws("app", "/chat/{room}", function(ws)
  print(ws.path, ws.params.room, ws.remote_addr, ws.is_closed(), ws:is_closed())
  ws.send("hello")
  ws:send("hello")
  ws.send_binary("\0")
  ws:send_binary("\0")
  local a, b = ws.receive(), ws:receive(1)
  print(a, b)
  ws.close()
  ws:close()
end)
start_server("app")

local server_channel = tcp_listen(8080)
go(function()
  while true do
    local conn = receive(server_channel)
    if conn then
      local data = conn.read()
      local more = conn:read(10)
      conn.write("echo: " .. tostring(data))
      conn:write(more or "")
      print(conn.read_line(), conn:read_line(), conn.remote_addr, conn.local_addr)
      conn.set_timeout(1)
      conn:set_timeout(nil)
      conn.close()
      conn:close()
    else
      break
    end
  end
end)

local c = tcp_connect("127.0.0.1", 8080)
if c then
  c.write("x")
  c:write("y")
  print(c.read(), c:read())
  c.close()
end
local ws = ws_connect("ws://127.0.0.1:8080/chat/a")
if ws then
  ws.send("x")
  ws:send("y")
  print(ws.receive(1), ws:is_closed(), ws.path)
  ws.close()
end
local udp = udp_recvfrom(9000)
local d = receive(udp)
print(d.data, d.addr, d.port)
"#;

/// Wrong uses the checker must flag (proof that it reads the definitions).
const MISTAKES: &str = r#"
local c = tcp_connect("127.0.0.1", 8080)
if c then c.write(5) end
handle_http("app", "/", function(req) return 42 end)
"#;

/// `emmylua_check` from `PATH` or cargo's bin folder.
fn checker() -> PathBuf {
    let name = "emmylua_check";
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        dirs.push(Path::new(&home).join("bin"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".cargo/bin"));
    }
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} not found: install it with `cargo install {name} --locked` \
                 (scripts/test does this when it is missing)"
            )
        })
}

/// Writes the definitions and `code` into a fresh workspace and checks it; (passed, report).
fn check(code: &str) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let types = Command::new(env!("CARGO_BIN_EXE_solvm"))
        .args(["--types", "types"])
        .current_dir(dir.path())
        .output()
        .expect("run solvm --types");
    assert!(types.status.success(), "solvm --types failed");
    std::fs::write(dir.path().join("main.lua"), code).expect("write main.lua");
    let out = Command::new(checker())
        .arg("--warnings-as-errors")
        .arg(dir.path())
        .output()
        .expect("run emmylua_check");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let flagged = report
        .lines()
        .any(|l| l.starts_with("warning:") || l.starts_with("error:"));
    (out.status.success() && !flagged, report)
}

#[test]
fn seed_style_code_checks_clean_against_the_definitions() {
    let (passed, report) = check(SEED_STYLE);
    assert!(passed, "emmylua_check flagged seed-style code:\n{report}");
}

#[test]
fn mistakes_are_flagged() {
    let (passed, report) = check(MISTAKES);
    assert!(!passed, "emmylua_check accepted wrong code:\n{report}");
    assert!(report.contains("param-type-mismatch"), "{report}");
    assert!(report.contains("return-type-mismatch"), "{report}");
}
