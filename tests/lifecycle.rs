//! Run lifetime through the real binary (SPEC §4, §6): reload_script, signals, os.exit from a
//! goroutine, --memory-limit. Liveness bounds only: nothing here asserts speed.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A fresh folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("solvm-life-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn solvm(dir: &PathBuf, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_solvm"));
    c.args(args).current_dir(dir).env("NO_COLOR", "1");
    c
}

/// Waits for `child` at most `limit`, killing it (by its own handle) if it overruns.
fn finish(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "run did not end within {limit:?}\n--- stdout\n{}\n--- stderr\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts the binary with stdout and stderr piped.
fn spawn(dir: &PathBuf, args: &[&str]) -> Child {
    solvm(dir, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

fn run(dir: &PathBuf, args: &[&str]) -> Output {
    let child = spawn(dir, args);
    finish(child, Duration::from_secs(20))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn reload_script_restarts_with_the_new_version() {
    let dir = scratch("reload");
    std::fs::write(
        dir.join("r.lua"),
        r#"local v = read_file("version") or "1"
print("running version", v)
if v == "1" then
  write_file("version", "2")
  reload_script()
  print("never printed")
end
print("done with version", v)
"#,
    )
    .unwrap();
    let out = run(&dir, &["r.lua"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "running version\t1\nrunning version\t2\ndone with version\t2\n"
    );
}

#[test]
fn a_broken_new_version_is_refused_and_the_old_run_goes_on() {
    let dir = scratch("reload-broken");
    let script = "print('old version starts')\n\
                  local f = io.open('b.lua', 'a') f:write('\\nthis is not lua )\\n') f:close()\n\
                  print('reload returned', reload_script())\n\
                  print('old version keeps going')\n";
    std::fs::write(dir.join("b.lua"), script).unwrap();
    let out = run(&dir, &["b.lua"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "old version starts\nreload returned\tfalse\nold version keeps going\n"
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("syntax error") && err.contains("b.lua:6"),
        "{err}"
    );
    assert!(err.contains("the current run goes on"), "{err}");
}

#[test]
fn reload_stops_the_old_runs_goroutines_and_timers() {
    let dir = scratch("reload-stops");
    std::fs::write(
        dir.join("s.lua"),
        r#"local v = read_file("version") or "1"
if v == "1" then
  go(function() while true do sleep(0.01) end end)
  set_interval(function() print("old tick") end, 0.02)
  sleep(0.1)
  write_file("version", "2")
  reload_script()
end
sleep(0.3)
print("new run", v, #get_goroutines())
"#,
    )
    .unwrap();
    let out = run(&dir, &["s.lua"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let (before, after) = stdout.split_once("new run").expect("the new run printed");
    assert!(before.contains("old tick"), "{stdout}");
    assert!(
        !after.contains("old tick"),
        "old timers kept running: {stdout}"
    );
    assert!(
        after.starts_with("\t2\t1"),
        "old goroutines kept running: {stdout}"
    );
}

/// Sends `sig` to the child we started (by its PID) once it has printed its first line.
fn signal_after_start(dir: &PathBuf, script: &str, sig: i32) -> Output {
    std::fs::write(dir.join("svc.lua"), script).unwrap();
    let mut child = spawn(dir, &["svc.lua"]);
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 6];
    std::io::Read::read_exact(&mut stdout, &mut first).expect("the script started");
    assert_eq!(&first, b"ready\n");
    // Safety: plain kill(2) on the PID of the child this test started.
    unsafe { libc::kill(child.id() as i32, sig) };
    let out = finish(child, Duration::from_secs(10));
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut stdout, &mut rest).ok();
    Output {
        stdout: [first.to_vec(), rest, out.stdout].concat(),
        ..out
    }
}

#[test]
fn sigint_ends_a_sleeping_run_with_130() {
    let dir = scratch("sigint");
    let out = signal_after_start(
        &dir,
        "print('ready') io.stdout:flush() sleep(60) print('not reached')\n",
        libc::SIGINT,
    );
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "ready\n");
}

#[test]
fn sigterm_ends_a_busy_run_with_143() {
    let dir = scratch("sigterm");
    let script = "print('ready') io.stdout:flush()\n\
                  go(function() while true do end end)\n\
                  local x = 0 while true do x = x + 1 end\n";
    let out = signal_after_start(&dir, script, libc::SIGTERM);
    assert_eq!(out.status.code(), Some(143), "{}", text(&out.stderr));
}

#[test]
fn os_exit_from_a_goroutine_ends_the_run_with_its_code() {
    let dir = scratch("exit");
    std::fs::write(
        dir.join("x.lua"),
        "print('main') go(function() print('goroutine') os.exit(7) end) sleep(30) print('not reached')\n",
    )
    .unwrap();
    let out = run(&dir, &["x.lua"]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "main\ngoroutine\n");
}

#[test]
fn memory_limit_gives_a_lua_error_and_the_process_survives() {
    let dir = scratch("memlimit");
    std::fs::write(
        dir.join("m.lua"),
        r#"local ok, err = pcall(function()
  local t = {}
  for i = 1, 1e8 do t[i] = ("x"):rep(100) .. i end
end)
print(ok, err)
collectgarbage()
print("still alive", #("small"):rep(10))
"#,
    )
    .unwrap();
    let out = run(&dir, &["--memory-limit", "32MB", "m.lua"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "false\tnot enough memory\nstill alive\t50\n"
    );
}

#[test]
fn leak_check_reports_a_goroutine_whose_memory_keeps_growing() {
    let dir = scratch("leakcheck");
    std::fs::write(
        dir.join("l.lua"),
        r#"go(function()
  local mine = {}
  for i = 1, 7 do
    for j = 1, 2000 do mine[#mine + 1] = ("x"):rep(50) .. j .. i end
    sleep(1.05)
  end
end)
local steady = {}
for i = 1, 7 do steady[1] = ("y"):rep(100) .. i; sleep(1.05) end
wait()
print("done")
"#,
    )
    .unwrap();
    let out = run(&dir, &["--timeout", "0", "--leak-check", "l.lua"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("leak-check: goroutine 2 (function@l.lua:1)"),
        "{err}"
    );
    assert!(
        !err.contains("goroutine 1 (main)"),
        "steady main reported: {err}"
    );
    // Without the flag, nothing is sampled or reported.
    let quiet = run(&dir, &["--timeout", "0", "l.lua"]);
    assert!(!text(&quiet.stderr).contains("leak-check"));
}

/// Reads `child`'s stdout until `want` has appeared (or the deadline passes).
fn read_until(out: &mut impl std::io::Read, seen: &mut String, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 256];
    while !seen.contains(want) {
        assert!(
            Instant::now() < deadline,
            "never saw {want:?}; output so far:\n{seen}"
        );
        match out.read(&mut buf) {
            Ok(0) => panic!("output ended before {want:?}:\n{seen}"),
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e) => panic!("read: {e}"),
        }
    }
}

#[test]
fn editing_a_watched_script_reloads_it_and_a_broken_edit_keeps_the_old_one() {
    let dir = scratch("hot-reload");
    let script = |greeting: &str| {
        format!(
            r#"local config = {{ greeting = "{greeting}" }}
count = 0
function show()
  count = count + 1
  print(config.greeting .. " " .. count)
  io.stdout:flush()
end
set_interval(show, 0.1)
watch_file(arg[0], function() reload_script() end)
"#
        )
    };
    std::fs::write(dir.join("hot.lua"), script("hello")).unwrap();
    let mut child = spawn(&dir, &["hot.lua"]);
    let mut out = child.stdout.take().expect("stdout");
    let mut seen = String::new();
    read_until(&mut out, &mut seen, "hello 2");
    // A broken edit: reported, the old version keeps ticking.
    std::fs::write(dir.join("hot.lua"), "this is not lua )\n").unwrap();
    let mark = seen.len();
    read_until(&mut out, &mut seen, "hello 9");
    assert!(!seen[mark..].contains("hi 1"), "{seen}");
    // A good edit: the new version runs from the top (its counter starts again).
    std::fs::write(dir.join("hot.lua"), script("hi")).unwrap();
    read_until(&mut out, &mut seen, "hi 2");
    // Safety: kill(2) on the PID of the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let done = finish(child, Duration::from_secs(10));
    assert_eq!(done.status.code(), Some(143));
    let err = text(&done.stderr);
    assert!(
        err.contains("syntax error") && err.contains("the current run goes on"),
        "{err}"
    );
}

#[test]
fn sigterm_lets_an_in_flight_request_finish() {
    use std::io::{BufRead, BufReader, Read, Write};
    let dir = scratch("drain");
    std::fs::write(
        dir.join("srv.lua"),
        r#"create_server("s", {port = 0, host = "127.0.0.1"})
handle_http("s", "/slow", function(req)
  print("handling") io.stdout:flush()
  sleep(0.6)
  return "finished anyway"
end)
print(start_server("s"))
io.stdout:flush()
"#,
    )
    .unwrap();
    let mut child = spawn(&dir, &["srv.lua"]);
    let mut lines = BufReader::new(child.stdout.take().expect("stdout"));
    let mut port = String::new();
    lines.read_line(&mut port).expect("port line");
    let port: u16 = port.trim().parse().expect("a port number");
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    conn.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    // The signal comes once the handler is running, whatever the machine's load.
    let mut handling = String::new();
    lines.read_line(&mut handling).expect("handler line");
    assert_eq!(handling, "handling\n");
    // Safety: kill(2) on the PID of the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).expect("response");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("finished anyway"), "{response}");
    let out = finish(child, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(143), "{}", text(&out.stderr));
    // New connections are refused once it has stopped.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn a_cron_job_makes_the_run_a_service_that_outlives_the_timeout() {
    let dir = scratch("cron-service");
    std::fs::write(
        dir.join("c.lua"),
        "local n = 0\ncron('*/1 * * * * *', function() n = n + 1 end)\n\
         set_timeout(function() print('still running after the 1s limit, cron fired', n > 0) os.exit(0) end, 2.5)\n",
    )
    .unwrap();
    let out = run(&dir, &["-timeout", "1s", "c.lua"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "still running after the 1s limit, cron fired\ttrue\n"
    );
}

#[test]
fn watch_flag_reruns_when_the_script_or_an_imported_module_changes() {
    let dir = scratch("watch-flag");
    std::fs::write(dir.join("helper.lua"), "return { version = 'module A' }\n").unwrap();
    std::fs::write(
        dir.join("main.lua"),
        "import('helper') print('script A', helper.version) io.stdout:flush()\n",
    )
    .unwrap();
    let mut child = spawn(&dir, &["--watch", "main.lua"]);
    let mut out = child.stdout.take().expect("stdout");
    let mut seen = String::new();
    // Each run watches the script before it starts and a module when it imports it, so once a run
    // has printed, an edit is seen: no need to wait.
    read_until(&mut out, &mut seen, "script A\tmodule A");
    std::fs::write(
        dir.join("main.lua"),
        "import('helper') print('script B', helper.version) io.stdout:flush()\n",
    )
    .unwrap();
    read_until(&mut out, &mut seen, "script B\tmodule A");
    std::fs::write(dir.join("helper.lua"), "return { version = 'module B' }\n").unwrap();
    read_until(&mut out, &mut seen, "script B\tmodule B");
    // Safety: kill(2) on the PID of the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let done = finish(child, Duration::from_secs(10));
    assert_eq!(done.status.code(), Some(130), "{}", text(&done.stderr));
    assert!(text(&done.stderr).contains("waiting for changes"));
}

/// Sends `sig` to every thread of process `pid` (a child this test started).
fn signal_every_thread(pid: u32, sig: i32) {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return;
    };
    for task in tasks.flatten() {
        if let Some(tid) = task
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        {
            // Safety: tgkill(2) on a thread of the child this test started.
            unsafe { libc::syscall(libc::SYS_tgkill, pid as i32, tid, sig) };
        }
    }
}

#[test]
fn stray_interrupt_signals_do_not_fail_blocked_io() {
    // Cancellation signals a goroutine's thread with SIGURG, and a system call that signal
    // interrupts fails with EINTR; wherever the goroutine goes on running, that must read as
    // "nothing yet". Here every thread gets SIGURG every few milliseconds while a goroutine waits
    // in a TCP read, a WebSocket handler in `receive` and main in a WebSocket client's `receive`.
    let dir = scratch("sigurg");
    std::fs::write(
        dir.join("io.lua"),
        r#"local listener, port = tcp_listen(0, "127.0.0.1")   -- accepts, never writes
create_server("s", {port = 0, host = "127.0.0.1", workers = 1})
handle_ws("s", "/ws", function(ws)
  print("ws receive:", ws:receive(1.5))
  ws:close()
end)
local sport = start_server("s")
go(function()
  local conn = assert(tcp_connect("127.0.0.1", port))
  conn:set_timeout(1.5)
  print("tcp read:", conn:read())
end)
local ws = assert(ws_connect("ws://127.0.0.1:" .. sport .. "/ws"))
print("ready")
print("client receive:", ws:receive(5))
wait()
stop_server("s")
close(listener)
print("done")
"#,
    )
    .unwrap();
    let mut child = spawn(&dir, &["io.lua"]);
    let mut out = child.stdout.take().expect("stdout");
    let mut seen = String::new();
    read_until(&mut out, &mut seen, "ready");
    let pid = child.id();
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() && start.elapsed() < Duration::from_secs(20) {
        signal_every_thread(pid, libc::SIGURG);
        std::thread::sleep(Duration::from_millis(2));
    }
    let done = finish(child, Duration::from_secs(10));
    std::io::Read::read_to_string(&mut out, &mut seen).ok();
    let stderr = text(&done.stderr);
    assert_eq!(done.status.code(), Some(0), "{seen}\n{stderr}");
    for line in [
        "tcp read:\tnil\ttimeout",
        "ws receive:\tnil\ttimeout",
        "client receive:\tnil",
        "done",
    ] {
        assert!(
            seen.contains(line),
            "missing {line:?} in:\n{seen}\n{stderr}"
        );
    }
    assert!(!seen.contains("nterrupted"), "{seen}");
    assert!(!stderr.contains("nterrupted"), "{stderr}");
}
