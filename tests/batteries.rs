//! Issue 16's batteries through the real binary where a golden script cannot tell: children killed
//! when the run ends (checked by PID after solvm has exited), signals sent by the test to the
//! solvm process (synchronised on output lines, never on sleeps), and datetime checked against
//! Python's zoneinfo. Liveness bounds only: nothing here asserts speed.

use std::io::{BufRead, BufReader, Lines};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("solvm-bat-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Starts `solvm ARGS script.lua` in `dir` with `script` as the script, stdout piped.
fn start(dir: &PathBuf, args: &[&str], script: &str) -> (Child, Lines<BufReader<ChildStdout>>) {
    std::fs::write(dir.join("script.lua"), script).expect("write script");
    let mut child = Command::new(env!("CARGO_BIN_EXE_solvm"))
        .args(args)
        .arg("script.lua")
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start solvm");
    let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    (child, lines)
}

/// The next line of output (the test fails if the output ends first).
fn next_line(lines: &mut Lines<BufReader<ChildStdout>>) -> String {
    lines
        .next()
        .expect("solvm ended before printing the expected line")
        .expect("read stdout")
}

/// Waits for solvm to exit (at most `limit`, then it is killed by its own handle); its exit code
/// and the rest of its stdout.
fn finish(
    mut child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    limit: Duration,
) -> (i32, String) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let rest: Vec<String> = lines.map_while(Result::ok).collect();
            return (status.code().unwrap_or(-1), rest.join("\n"));
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("solvm did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether process `pid` is gone: no such process, or a zombie nobody reaped yet (it is dead).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Waits (bounded) until every pid is gone; the ones still alive otherwise.
fn still_alive(pids: &[u32]) -> Vec<u32> {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let alive: Vec<u32> = pids.iter().copied().filter(|p| !gone(*p)).collect();
        if alive.is_empty() || Instant::now() > end {
            return alive;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn pids(line: &str) -> Vec<u32> {
    line.split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect()
}

/// Starts three kinds of children (a spawned one, a grandchild through a shell, and one run by
/// `exec` in a goroutine) and prints their PIDs on one line, then does `then`.
fn children_script(then: &str) -> String {
    children_script_with(then, true)
}

fn children_script_with(then: &str, with_exec: bool) -> String {
    let exec = if with_exec {
        r#"go(function()
  process.exec("sh", {"-c", "echo $$ > exec.pid; exec sleep 32"}, {timeout = 60})
end)"#
    } else {
        r#"write_file("exec.pid", tostring(a.pid))"#
    };
    format!(
        r#"
local a = process.spawn("sleep", {{"30"}})
local b = process.spawn("sh", {{"-c", "sleep 31 & echo $!; wait"}})
local grandchild = b:read_line()
{exec}
while not file_exists("exec.pid") or read_file("exec.pid") == "" do sleep(0.01) end
print("pids", a.pid, b.pid, grandchild, read_file("exec.pid"):match("%d+"))
io.stdout:flush()
{then}
"#
    )
}

fn check_children_killed(name: &str, args: &[&str], script: &str, signal: Option<i32>, code: i32) {
    let dir = scratch(name);
    let (child, mut lines) = start(&dir, args, script);
    let line = next_line(&mut lines);
    let started = pids(&line);
    assert_eq!(started.len(), 4, "unexpected line {line:?}");
    if let Some(sig) = signal {
        // Safety: kill(2) on the solvm process this test started.
        unsafe { libc::kill(child.id() as i32, sig) };
    }
    let (got, _) = finish(child, lines, Duration::from_secs(30));
    assert_eq!(got, code, "{name}: exit code");
    assert_eq!(
        still_alive(&started),
        Vec::<u32>::new(),
        "{name}: children left running"
    );
}

#[test]
fn children_are_killed_when_the_run_times_out() {
    check_children_killed(
        "timeout",
        &["--timeout", "2"],
        &children_script("sleep(60)"),
        None,
        124,
    );
}

#[test]
fn children_are_killed_on_os_exit_from_a_goroutine() {
    check_children_killed(
        "exit",
        &["--timeout", "0"],
        &children_script("go(function() os.exit(3) end) sleep(60)"),
        None,
        3,
    );
}

#[test]
fn children_are_killed_on_ctrl_c() {
    check_children_killed(
        "sigint",
        &["--timeout", "0"],
        &children_script("sleep(60)"),
        Some(libc::SIGINT),
        130,
    );
}

#[test]
fn children_are_killed_when_the_script_returns() {
    // (A goroutine blocked in `exec` would keep the run alive: only spawned children here.)
    check_children_killed(
        "return",
        &["--timeout", "0"],
        &children_script_with("", false),
        None,
        0,
    );
}

#[test]
fn children_are_killed_by_reload_script() {
    let dir = scratch("reload");
    let script = children_script("write_file(\"old.pids\", \"\") reload_script() sleep(60)");
    // The second run only says it started; the test checks the old run's children.
    let script = format!(
        r#"
if file_exists("old.pids") then
  print("second run")
  io.stdout:flush()
  return
end
{script}"#
    );
    let (child, mut lines) = start(&dir, &["--timeout", "0"], &script);
    let started = pids(&next_line(&mut lines));
    assert_eq!(started.len(), 4);
    assert_eq!(next_line(&mut lines), "second run");
    let (code, _) = finish(child, lines, Duration::from_secs(30));
    assert_eq!(code, 0);
    assert_eq!(
        still_alive(&started),
        Vec::<u32>::new(),
        "children of the old run left running"
    );
}

/// Sends `sig` to the solvm process.
fn send(child: &Child, sig: i32) {
    // Safety: kill(2) on the solvm process this test started.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

#[test]
fn signal_handlers_run_on_their_goroutine_and_all_run() {
    let dir = scratch("signals");
    let script = r#"
local hups = 0
on_signal("SIGHUP", function(name) hups = hups + 1; print("A " .. name .. " " .. hups) end)
on_signal("SIGHUP", function(name) print("B " .. name) end)
local usr = on_signal("SIGUSR1", function(name) print("usr1 " .. name) end)
local worker = chan(1)
go(function()
  on_signal("SIGUSR2", function(name) print("worker got " .. name); worker:send(true) end)
  print("ready")
  io.stdout:flush()
  worker:receive()
  sleep(60)
end)
while true do
  sleep(0.02)
  io.stdout:flush()
  if hups == 2 then clear_signal(usr); print("cleared"); io.stdout:flush(); hups = 3 end
end
"#;
    let (child, mut lines) = start(&dir, &["--timeout", "0"], script);
    assert_eq!(next_line(&mut lines), "ready");
    send(&child, libc::SIGHUP);
    let mut got = vec![next_line(&mut lines), next_line(&mut lines)];
    got.sort();
    assert_eq!(got, ["A SIGHUP 1", "B SIGHUP"]);
    send(&child, libc::SIGUSR1);
    assert_eq!(next_line(&mut lines), "usr1 SIGUSR1");
    send(&child, libc::SIGUSR2);
    assert_eq!(next_line(&mut lines), "worker got SIGUSR2");
    send(&child, libc::SIGHUP);
    let mut got = vec![next_line(&mut lines), next_line(&mut lines)];
    got.sort();
    assert_eq!(got, ["A SIGHUP 2", "B SIGHUP"]);
    assert_eq!(next_line(&mut lines), "cleared");
    // No handler for SIGUSR1 any more: it stops the run, as an unhandled stop signal does.
    send(&child, libc::SIGUSR1);
    let (code, rest) = finish(child, lines, Duration::from_secs(30));
    assert_eq!(code, 128 + libc::SIGUSR1, "stdout after: {rest}");
}

#[test]
fn a_sigterm_handler_replaces_the_graceful_shutdown() {
    let dir = scratch("sigterm");
    // A listener makes this a service: without the handler SIGTERM would drain and exit 143.
    let script = r#"
local conns, port = tcp_listen(0, "127.0.0.1")
local terms = 0
on_signal("SIGTERM", function(name)
  terms = terms + 1
  print("handled " .. name .. " " .. terms)
  io.stdout:flush()
  if terms == 2 then print("leaving on my own"); close(conns); os.exit(0) end
end)
print("ready")
io.stdout:flush()
receive(conns)
"#;
    let (child, mut lines) = start(&dir, &["--timeout", "0"], script);
    assert_eq!(next_line(&mut lines), "ready");
    send(&child, libc::SIGTERM);
    assert_eq!(next_line(&mut lines), "handled SIGTERM 1");
    // A second SIGTERM is not "the second signal" that ends the process at once: it runs again.
    send(&child, libc::SIGTERM);
    assert_eq!(next_line(&mut lines), "handled SIGTERM 2");
    assert_eq!(next_line(&mut lines), "leaving on my own");
    let (code, _) = finish(child, lines, Duration::from_secs(30));
    assert_eq!(code, 0);
}

#[test]
fn without_a_handler_sigterm_still_stops_the_run() {
    let dir = scratch("sigterm-default");
    let script = r#"
on_signal("SIGHUP", function() end)
print("ready")
io.stdout:flush()
sleep(60)
"#;
    let (child, mut lines) = start(&dir, &["--timeout", "0"], script);
    assert_eq!(next_line(&mut lines), "ready");
    send(&child, libc::SIGTERM);
    let (code, _) = finish(child, lines, Duration::from_secs(30));
    assert_eq!(code, 128 + libc::SIGTERM);
}

#[test]
fn datetime_agrees_with_python_zoneinfo() {
    let zones = [
        "UTC",
        "America/New_York",
        "Europe/Paris",
        "Asia/Kolkata",
        "Australia/Lord_Howe",
        "America/Sao_Paulo",
    ];
    // Around DST changes and ordinary days from 1970 to 2037.
    let mut stamps: Vec<i64> = vec![0, 951_782_400, 1_710_054_000, 1_730_611_800, 2_145_916_800];
    let mut t: i64 = 1_700_000_000;
    for _ in 0..40 {
        stamps.push(t);
        t += 86_400 * 9 + 3_607;
    }
    let list = stamps
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let zone_list = zones
        .iter()
        .map(|z| format!("{z:?}"))
        .collect::<Vec<_>>()
        .join(",");
    let lua = format!(
        "for _, z in ipairs({{{zone_list}}}) do for _, t in ipairs({{{list}}}) do \
         print(z, t, datetime.format(t, '2006-01-02 15:04:05 Monday -0700', z), \
         datetime.format(t, '%Y-%m-%d %H:%M:%S %A %z', z)) end end"
    );
    let py = format!(
        "import datetime, zoneinfo\n\
         for z in [{zone_list}]:\n\
         \x20   for t in [{list}]:\n\
         \x20       d = datetime.datetime.fromtimestamp(t, zoneinfo.ZoneInfo(z))\n\
         \x20       s = d.strftime('%Y-%m-%d %H:%M:%S %A %z')\n\
         \x20       print(z, t, s, s, sep='\\t')\n"
    );
    let ours = Command::new(env!("CARGO_BIN_EXE_solvm"))
        .args(["-e", &lua])
        .output()
        .expect("run solvm");
    assert!(
        ours.status.success(),
        "{}",
        String::from_utf8_lossy(&ours.stderr)
    );
    let python = Command::new("python3")
        .args(["-c", &py])
        .output()
        .expect("python3 is needed");
    assert!(
        python.status.success(),
        "{}",
        String::from_utf8_lossy(&python.stderr)
    );
    let ours = String::from_utf8_lossy(&ours.stdout);
    let theirs = String::from_utf8_lossy(&python.stdout);
    assert_eq!(ours.lines().count(), zones.len() * stamps.len());
    for (a, b) in ours.lines().zip(theirs.lines()) {
        assert_eq!(a, b);
    }
}

#[test]
fn local_time_follows_tz() {
    let out = Command::new(env!("CARGO_BIN_EXE_solvm"))
        .args([
            "-e",
            "print(datetime.format(1710054000, '2006-01-02 15:04 MST')) \
             print(datetime.parse('2024-03-10 03:00', '2006-01-02 15:04')) \
             print(os.date('%H:%M', 1710054000))",
        ])
        .env("TZ", "America/New_York")
        .output()
        .expect("run solvm");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "2024-03-10 03:00 EDT\n1710054000\n03:00\n"
    );
}
