//! Every file under `examples/` runs in the test suite with its output checked:
//! - a script at the top of `examples/` ends by itself: it runs as a user would run it (from
//!   `examples/`), exits 0, and its stdout matches `tests/fixtures/examples/<name>.out` line by line
//!   (`...` in a line matches any text: times, sizes, ports); its stderr matches `<name>.err` the
//!   same way, in order (absent: stderr must be empty);
//! - the services in [`DRIVEN_HERE`] run until stopped: each test below starts one, drives it
//!   (edits, requests), reads its output until the expected lines, then stops it with a signal;
//! - [`DRIVEN_ELSEWHERE`] names the test that drives the others;
//! - files under `examples/modules/` are modules the examples import.
//!
//! An example none of these covers is a failure.

#[path = "support/files.rs"]
mod files;
#[path = "support/lines.rs"]
mod lines;

use files::files_with_extension;
use lines::line_matches;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// Services this file drives.
const DRIVEN_HERE: &[&str] = &[
    "services/hot_reload.lua",
    "services/scheduler.lua",
    "servers/echo_json.lua",
];

/// Services another test drives, and which.
const DRIVEN_ELSEWHERE: &[(&str, &str)] = &[
    ("servers/server.lua", "tests/server_examples.rs"),
    ("chat/chat.lua", "tests/server_examples.rs"),
];

/// How long any expected line may take to appear (a loaded machine is slow, never this slow).
const PATIENCE: Duration = Duration::from_secs(30);

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn examples_dir() -> PathBuf {
    root().join("examples")
}

/// Every `.lua` under `examples/`, relative to it, with `/` separators.
fn all_examples() -> Vec<String> {
    let base = examples_dir();
    files_with_extension(&base, "lua")
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(&base).expect("under examples/");
            rel.to_string_lossy().replace('\\', "/")
        })
        .collect()
}

fn is_module(rel: &str) -> bool {
    rel.starts_with("modules/")
}

/// The examples at the top of `examples/`, which end by themselves.
fn standalone() -> Vec<String> {
    all_examples()
        .into_iter()
        .filter(|rel| !rel.contains('/'))
        .collect()
}

fn fixture(rel: &str, ext: &str) -> PathBuf {
    root()
        .join("tests/fixtures/examples")
        .join(Path::new(rel).with_extension(ext))
}

#[test]
fn every_example_is_run_by_some_test() {
    let mut problems = Vec::new();
    for rel in all_examples() {
        if is_module(&rel) || DRIVEN_HERE.contains(&rel.as_str()) {
            continue;
        }
        if let Some((_, test)) = DRIVEN_ELSEWHERE.iter().find(|(e, _)| *e == rel) {
            let text = std::fs::read_to_string(root().join(test)).unwrap_or_default();
            let name = rel.rsplit('/').next().unwrap_or(&rel);
            if !text.contains(name) {
                problems.push(format!("{rel}: {test} does not mention it"));
            }
            continue;
        }
        if rel.contains('/') {
            problems.push(format!(
                "{rel}: not run by any test (add it to DRIVEN_HERE with a test, or move it to the top \
                 of examples/ with an expected output)"
            ));
        } else if !fixture(&rel, "out").exists() {
            problems.push(format!(
                "{rel}: no expected output {}",
                fixture(&rel, "out").display()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The lines of `want` that do not match `got` (both line by line, same count).
fn compare_lines(want: &str, got: &str) -> Option<String> {
    let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    let same = w.len() == g.len() && w.iter().zip(&g).all(|(w, g)| line_matches(w, g));
    (!same).then(|| format!("--- expected\n{want}--- got\n{got}---"))
}

#[test]
fn examples_that_end_by_themselves_print_what_they_should() {
    let mut failures = Vec::new();
    let examples = standalone();
    assert!(examples.len() >= 5, "only {examples:?}");
    for rel in &examples {
        let out = Command::new(env!("CARGO_BIN_EXE_solvm"))
            .arg(rel)
            .current_dir(examples_dir())
            .env("NO_COLOR", "1")
            .output()
            .expect("run solvm");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let mut problems = Vec::new();
        if out.status.code() != Some(0) {
            problems.push(format!("exit {:?}", out.status.code()));
        }
        let want = std::fs::read_to_string(fixture(rel, "out")).unwrap_or_default();
        if let Some(diff) = compare_lines(&want, &stdout) {
            problems.push(format!("stdout differs:\n{diff}"));
        }
        match std::fs::read_to_string(fixture(rel, "err")) {
            Err(_) if !stderr.is_empty() => problems.push(format!("unexpected stderr:\n{stderr}")),
            Err(_) => {}
            Ok(want) => {
                let mut lines = stderr.lines();
                if let Some(missing) = want
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .find(|w| !lines.any(|g| line_matches(w, g)))
                {
                    problems.push(format!("stderr lacks {missing:?}:\n{stderr}"));
                }
            }
        }
        if !problems.is_empty() {
            failures.push(format!("examples/{rel}:\n{}", problems.join("\n")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A service started by a test: its stdout lines arrive on a channel, so waiting for one is bounded.
struct Service {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Service {
    fn start(dir: &Path, args: &[&str]) -> Service {
        let mut child = Command::new(env!("CARGO_BIN_EXE_solvm"))
            .args(args)
            .current_dir(dir)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start solvm");
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Service {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads stdout until a line matching `want` (see `lines.rs`) arrives; returns it.
    fn expect(&mut self, want: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line_matches(want, &line) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line {want:?} within {PATIENCE:?}; stdout so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Sends `sig` to the child this test started (by its PID) and returns its exit code and stderr.
    fn stop(mut self, sig: i32) -> (Option<i32>, String) {
        // Safety: kill(2) on the PID of the child this test started.
        unsafe { libc::kill(self.child.id() as i32, sig) };
        let deadline = Instant::now() + PATIENCE;
        while self.child.try_wait().expect("wait").is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the service did not stop within {PATIENCE:?} of the signal");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            e.read_to_string(&mut stderr).expect("read stderr");
        }
        (self.child.wait().expect("wait").code(), stderr)
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("solvm-examples-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

#[test]
fn hot_reload_restarts_on_an_edit_and_keeps_running_through_a_broken_one() {
    // A copy, since the test edits it as the example invites the reader to.
    let dir = scratch("hot-reload");
    let original =
        std::fs::read_to_string(examples_dir().join("services/hot_reload.lua")).expect("example");
    assert!(original.contains("greeting = \"hello\""));
    std::fs::write(dir.join("hot_reload.lua"), &original).expect("copy");
    let mut s = Service::start(&dir, &["hot_reload.lua"]);
    s.expect("hello (tick 1)");
    std::fs::write(
        dir.join("hot_reload.lua"),
        original.replace("greeting = \"hello\"", "greeting = \"hi\""),
    )
    .expect("edit");
    s.expect("changed:\thot_reload.lua\tmodify\t- reloading");
    s.expect("hi (tick 1)");
    std::fs::write(dir.join("hot_reload.lua"), "this is not lua )\n").expect("broken edit");
    s.expect("changed:\thot_reload.lua\tmodify\t- reloading");
    // The old version keeps ticking.
    s.expect("hi (tick ...)");
    let (code, stderr) = s.stop(libc::SIGINT);
    assert_eq!(code, Some(130), "{stderr}");
    assert!(
        stderr.contains("syntax error") && stderr.contains("the current run goes on"),
        "{stderr}"
    );
}

#[test]
fn the_scheduler_runs_its_timeout_and_interval_until_stopped() {
    let mut s = Service::start(&examples_dir(), &["services/scheduler.lua"]);
    // Its cron job fires on the minute: not waited for. The timeout (3 s) comes before the
    // interval (5 s), and the cron job keeps the run alive past the default 5 s --timeout.
    s.expect("Timeout just happened!");
    s.expect("Interval just happened!");
    s.expect("Interval just happened!");
    let (code, stderr) = s.stop(libc::SIGINT);
    assert_eq!(code, Some(130), "{stderr}");
}

/// One HTTP/1.1 request with `Connection: close`; returns the status line and the body.
fn http(port: u16, method: &str, path: &str, body: &str) -> (String, String) {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    conn.set_read_timeout(Some(PATIENCE)).expect("timeout");
    write!(
        conn,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("request");
    let mut response = String::new();
    conn.read_to_string(&mut response)
        .expect("the server answers and closes");
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    let status = head.lines().next().unwrap_or("").to_string();
    (status, body.to_string())
}

#[test]
fn the_benchmark_server_answers_hello_json_and_websocket_echo() {
    let mut s = Service::start(&examples_dir(), &["servers/echo_json.lua", "0"]);
    let port: u16 = s.expect("...").trim().parse().expect("it prints its port");
    assert_eq!(
        http(port, "GET", "/", ""),
        ("HTTP/1.1 200 OK".to_string(), "Hello, World!".to_string())
    );
    let (status, body) = http(port, "POST", "/json", r#"{"n":[1,2.5,"x"]}"#);
    assert_eq!(status, "HTTP/1.1 200 OK");
    // `{body = t}` is a response whose body is the decoded table: the JSON comes back as sent.
    assert_eq!(body, r#"{"n":[1,2.5,"x"]}"#);
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let (mut ws, _) =
        tungstenite::client(format!("ws://127.0.0.1:{port}/ws"), stream).expect("handshake");
    for text in ["ping", "pong"] {
        ws.send(tungstenite::Message::text(text)).expect("send");
        assert_eq!(ws.read().expect("echo"), tungstenite::Message::text(text));
    }
    ws.close(None).expect("close");
    let (code, stderr) = s.stop(libc::SIGTERM);
    assert_eq!(code, Some(143), "{stderr}");
}
