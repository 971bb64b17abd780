//! `--cluster` against a real Redis (SPEC §15): each test starts its own `redis-server` on a free
//! loopback port (no persistence) and stops it by PID. A missing or failing `redis-server` fails
//! the test: `scripts/test` installs it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn solvm() -> &'static str {
    env!("CARGO_BIN_EXE_solvm")
}

/// A `redis-server` of this test's own.
struct RedisServer {
    child: Option<Child>,
    port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl RedisServer {
    fn start() -> RedisServer {
        RedisServer::start_on(free_port())
    }

    fn start_on(port: u16) -> RedisServer {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server ({e}): scripts/test installs it (apt-get install redis-server)")
            });
        let server = RedisServer {
            child: Some(child),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if server
                .try_command(&["PING"])
                .is_some_and(|r| r.starts_with("+PONG"))
            {
                return server;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {port} did not answer PING within 10 s");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// One command over RESP; the raw reply.
    fn try_command(&self, args: &[&str]) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).ok()?;
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    fn flush(&self) {
        assert!(self
            .try_command(&["FLUSHALL"])
            .is_some_and(|r| r.starts_with("+OK")));
    }

    /// Stops the server (by its PID).
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A script file in a temporary folder.
fn script(dir: &Path, name: &str, code: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, code).expect("write script");
    p
}

fn command(url: &str, path: &Path) -> Command {
    let mut cmd = Command::new(solvm());
    cmd.args(["--timeout", "60s", "--cluster", url])
        .arg(path)
        .env("NO_COLOR", "1");
    cmd
}

fn run(url: &str, path: &Path) -> Output {
    command(url, path).output().expect("run solvm")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn golden_scripts_behave_the_same_through_redis() {
    let redis = RedisServer::start();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lua/cluster");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/lua/cluster") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "lua") || !path.with_extension("out").exists() {
            continue;
        }
        redis.flush();
        let out = Command::new(solvm())
            .args(["--timeout", "30s", "--cluster", &redis.url()])
            .arg(path.file_name().expect("name"))
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .output()
            .expect("run solvm");
        let want = std::fs::read_to_string(path.with_extension("out")).expect("out");
        assert_eq!(
            text(&out.stdout),
            want,
            "{} through Redis; stderr:\n{}",
            path.display(),
            text(&out.stderr)
        );
        assert_ok(&out);
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} golden cluster scripts found");
}

#[test]
fn two_processes_increment_one_counter_to_20000() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let count = script(
        dir.path(),
        "count.lua",
        "for _ = 1, 10000 do store.incr('hits') end",
    );
    let a = command(&redis.url(), &count).spawn().expect("a");
    let b = command(&redis.url(), &count).spawn().expect("b");
    for child in [a, b] {
        assert_ok(&child.wait_with_output().expect("wait"));
    }
    let read = script(
        dir.path(),
        "read.lua",
        "print(store.get('hits'), math.type(store.get('hits')))",
    );
    let out = run(&redis.url(), &read);
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "20000\tinteger\n");
    // Other clients see Redis's own integer.
    assert!(redis
        .try_command(&["GET", "solvm:store:hits"])
        .is_some_and(|r| r.contains("20000")));
}

#[test]
fn one_producer_and_two_consumers_move_100000_messages_each_once() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let consumer = script(
        dir.path(),
        "consumer.lua",
        r#"
        local q = cluster.chan("work", 1000)
        local out = {}
        while true do
            local v, ok = receive(q)
            if not ok then break end
            out[#out + 1] = v
        end
        print(table.concat(out, "\n"))
        "#,
    );
    let producer = script(
        dir.path(),
        "producer.lua",
        r#"
        local q = cluster.chan("work", 1000)
        for i = 1, 100000 do send(q, i) end
        close(q)
        "#,
    );
    let spawn = |p: &Path| {
        command(&redis.url(), p)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let consumers = [spawn(&consumer), spawn(&consumer)];
    assert_ok(&run(&redis.url(), &producer));
    let mut all: Vec<u64> = Vec::new();
    let mut per_consumer = Vec::new();
    for c in consumers {
        let out = c.wait_with_output().expect("consumer");
        assert_ok(&out);
        let got: Vec<u64> = text(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.parse().expect("a number"))
            .collect();
        per_consumer.push(got.len());
        all.extend(got);
    }
    all.sort_unstable();
    assert_eq!(all.len(), 100_000, "per consumer: {per_consumer:?}");
    assert!(
        all.iter().copied().eq(1..=100_000),
        "some message was lost or received twice"
    );
}

#[test]
fn publish_reaches_subscribers_in_three_processes() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let subscriber = script(
        dir.path(),
        "sub.lua",
        r#"
        local s = cluster.subscribe("news")
        print("ready")
        for _ = 1, 3 do print(receive(s).text) end
        cluster.unsubscribe(s)
        "#,
    );
    let mut subs = Vec::new();
    for _ in 0..3 {
        let mut child = command(&redis.url(), &subscriber)
            .stdout(Stdio::piped())
            .spawn()
            .expect("subscriber");
        let mut line = String::new();
        let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
        reader.read_line(&mut line).expect("ready line");
        assert_eq!(line, "ready\n");
        subs.push((child, reader));
    }
    let publisher = script(
        dir.path(),
        "pub.lua",
        r#"
        for i = 1, 3 do print(cluster.publish("news", {text = "story " .. i})) end
        "#,
    );
    let out = run(&redis.url(), &publisher);
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "3\n3\n3\n", "subscribers reached");
    for (mut child, mut reader) in subs {
        let mut rest = String::new();
        reader.read_to_string(&mut rest).expect("output");
        assert_eq!(rest, "story 1\nstory 2\nstory 3\n");
        assert!(child.wait().expect("wait").success());
    }
}

#[test]
fn a_blocked_receive_waits_through_a_redis_restart() {
    let mut redis = RedisServer::start();
    let port = redis.port;
    let url = redis.url();
    let dir = tempfile::tempdir().expect("tempdir");
    let consumer = script(
        dir.path(),
        "consumer.lua",
        r#"
        local q = cluster.chan("restart", 10)
        print("waiting")
        print(receive(q))
        "#,
    );
    let mut child = command(&url, &consumer)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("consumer");
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    reader.read_line(&mut line).expect("waiting line");
    assert_eq!(line, "waiting\n");
    std::thread::sleep(Duration::from_millis(300));
    redis.stop();
    std::thread::sleep(Duration::from_secs(1));
    let redis = RedisServer::start_on(port);
    let producer = script(
        dir.path(),
        "producer.lua",
        "print(send(cluster.chan('restart', 10), 'after the restart'))",
    );
    let out = run(&redis.url(), &producer);
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "true\n");
    let mut rest = String::new();
    reader.read_to_string(&mut rest).expect("rest");
    let out = child.wait_with_output().expect("consumer");
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(rest, "after the restart\ttrue\n");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("Redis at {url} is unreachable"))
            && stderr.contains(&format!("Redis at {url} is back")),
        "stderr: {stderr}"
    );
}

#[test]
fn operations_fail_naming_redis_while_it_is_gone_and_the_rest_goes_on() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    let dir = tempfile::tempdir().expect("tempdir");
    let gate = dir.path().join("gate");
    let code = format!(
        r#"
        local q = cluster.chan("gone", 10)
        store.set("k", 1)
        print("ready")
        while not io.open({gate:?}) do sleep(0.05) end
        print(pcall(send, q, "lost?"))
        print(pcall(store.get, "k"))
        print(pcall(store.incr, "k"))
        local local_ch = chan(1)
        send(local_ch, "local channels still work")
        print(receive(local_ch))
        "#
    );
    let s = script(dir.path(), "gone.lua", &code);
    let mut child = command(&url, &s)
        .stdout(Stdio::piped())
        .spawn()
        .expect("solvm");
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    reader.read_line(&mut line).expect("ready");
    assert_eq!(line, "ready\n");
    redis.stop();
    std::fs::write(&gate, "").expect("gate");
    let mut rest = String::new();
    reader.read_to_string(&mut rest).expect("rest");
    assert!(child.wait().expect("wait").success(), "output: {rest}");
    let lines: Vec<&str> = rest.lines().collect();
    assert_eq!(lines.len(), 4, "{rest}");
    assert!(
        lines[0].starts_with("false\tsend on cluster channel \"gone\": not sent: Redis at")
            && lines[0].contains("is unreachable"),
        "{rest}"
    );
    assert!(
        lines[1].starts_with("false\tstore.get('k'): Redis at "),
        "{rest}"
    );
    assert!(
        lines[2].starts_with("false\tstore.incr('k'): Redis at "),
        "{rest}"
    );
    assert_eq!(lines[3], "local channels still work\ttrue");
}

#[test]
fn ttl_expiry_is_seen_by_other_processes() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let set = script(
        dir.path(),
        "set.lua",
        "store.set('session', {user = 'ada'}, 1); print(store.add('lock', true, 1))",
    );
    assert_eq!(text(&run(&redis.url(), &set).stdout), "true\n");
    let read = script(
        dir.path(),
        "read.lua",
        r#"
        print(store.get("session").user, store.add("lock", true))
        sleep(1.5)
        print(store.get("session"), store.add("lock", true), #store.keys())
        "#,
    );
    let out = run(&redis.url(), &read);
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "ada\tfalse\nnil\ttrue\t1\n");
}

#[test]
fn stored_values_are_data_only_and_refused_with_their_path() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let s = script(
        dir.path(),
        "refused.lua",
        r#"
        print(pcall(store.set, "cfg", {hooks = {on_start = function() end}}))
        print(pcall(store.add, "ch", {c = chan(1)}))
        print(store.get("cfg"), store.get("ch"))
        store.set("shared", (function() local t = {}; t.me = t; return {a = t, b = t} end)())
        local v = store.get("shared")
        print(v.a == v.b, v.a.me == v.a)
        "#,
    );
    let out = run(&redis.url(), &s);
    assert_ok(&out);
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("false\tcannot send a function to another process (field 'on_start' of field 'hooks' of value stored under 'cfg')"), "{stdout}");
    assert!(lines[1].starts_with("false\tcannot send a channel to another process (field 'c' of value stored under 'ch')"), "{stdout}");
    assert_eq!(&lines[2..], ["nil\tnil", "true\ttrue"]);
}

#[test]
fn an_unreachable_cluster_is_exit_2_naming_the_url() {
    let port = free_port();
    let url = format!("redis://user:secret@127.0.0.1:{port}/3");
    let out = Command::new(solvm())
        .args(["--cluster", &url, "-e", "print('never')"])
        .output()
        .expect("solvm");
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("redis://user:***@127.0.0.1:{port}/3"))
            && !stderr.contains("secret"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    // The environment variable does the same; a malformed URL too.
    let out = Command::new(solvm())
        .args(["-e", "print('never')"])
        .env("SOLVM_CLUSTER", format!("redis://127.0.0.1:{port}"))
        .output()
        .expect("solvm");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = Command::new(solvm())
        .args([
            "--cluster",
            "http://example.invalid",
            "-e",
            "print('never')",
        ])
        .output()
        .expect("solvm");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("http://example.invalid"));
}

#[test]
fn the_timeout_reaches_a_blocked_cluster_receive() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let s = script(
        dir.path(),
        "blocked.lua",
        r#"
        local q = cluster.chan("nobody-sends", 1)
        local l = chan(1)
        go(function() select(q, l) end)
        receive(q)
        "#,
    );
    let start = Instant::now();
    let out = Command::new(solvm())
        .args(["--timeout", "1s", "--cluster", &redis.url()])
        .arg(&s)
        .output()
        .expect("solvm");
    assert_eq!(out.status.code(), Some(124), "{}", text(&out.stderr));
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
    assert!(
        text(&out.stderr).contains("blocked.lua:5"),
        "{}",
        text(&out.stderr)
    );
}

/// The chat example as two server processes on two ports sharing one Redis: a message sent on a
/// WebSocket of one arrives on a WebSocket of the other (`scripts/chat-chromium.sh` does the same
/// with two browsers).
#[test]
fn the_chat_example_spans_two_processes() {
    use tungstenite::Message;
    let redis = RedisServer::start();
    let chat = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/chat/chat.lua");
    let start = || {
        let mut child = Command::new(solvm())
            .args(["--cluster", &redis.url()])
            .arg(&chat)
            .arg("0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chat server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("port line");
        let port: u16 = line.trim().parse().expect("a port");
        (child, port)
    };
    let (mut a, port_a) = start();
    let (mut b, port_b) = start();
    let result = std::panic::catch_unwind(|| {
        let connect = |port: u16| {
            let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            stream
                .set_read_timeout(Some(Duration::from_secs(30)))
                .expect("timeout");
            tungstenite::client(format!("ws://127.0.0.1:{port}/ws"), stream)
                .expect("handshake")
                .0
        };
        let mut alice = connect(port_a);
        let mut bob = connect(port_b);
        // Each has joined once its own message comes back through the room.
        for (ws, name) in [(&mut alice, "alice"), (&mut bob, "bob")] {
            ws.send(Message::text(format!("{name} is here")))
                .expect("send");
            while ws.read().expect("read") != Message::text(format!("{name} is here")) {}
        }
        alice.send(Message::text("alice: hello bob")).expect("send");
        while bob.read().expect("bob reads") != Message::text("alice: hello bob") {}
        bob.send(Message::text("bob: hi alice")).expect("send");
        while alice.read().expect("alice reads") != Message::text("bob: hi alice") {}
    });
    for c in [&mut a, &mut b] {
        let _ = c.kill();
        let _ = c.wait();
    }
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}
