//! The HTTP client and URL imports against a small HTTP/1.1 responder started by the test on
//! loopback (std::net, one thread per connection). The script gets the server's port as `arg[1]`
//! and a port that refuses connections as `arg[2]`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A request as the responder saw it.
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn read_request(stream: &mut BufReader<TcpStream>) -> Option<Seen> {
    let mut line = String::new();
    stream.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        stream.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let len = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    stream.read_exact(&mut body).ok()?;
    Some(Seen {
        method,
        path,
        headers,
        body,
    })
}

fn respond(stream: &mut TcpStream, status: &str, headers: &[(&str, &str)], body: &[u8]) {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

/// Starts the responder; returns its port and the number of times `/cool_utils.lua` was fetched.
fn start_server() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let fetches = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&fetches);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let counter = Arc::clone(&counter);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut out = stream;
                let Some(req) = read_request(&mut reader) else {
                    return;
                };
                match req.path.as_str() {
                    "/echo" => {
                        let x = req
                            .headers
                            .iter()
                            .find(|(k, _)| k == "x-test")
                            .map(|(_, v)| v.as_str())
                            .unwrap_or("-");
                        let mut body = format!("{} x-test={x} body=", req.method).into_bytes();
                        body.extend_from_slice(&req.body);
                        respond(
                            &mut out,
                            "200 OK",
                            &[
                                ("X-Reply", "yes"),
                                ("Set-Cookie", "a=1"),
                                ("Set-Cookie", "b=2"),
                            ],
                            &body,
                        );
                    }
                    "/status/404" => respond(&mut out, "404 Not Found", &[], b"nothing here"),
                    "/status/500" => respond(&mut out, "500 Internal Server Error", &[], b"boom"),
                    "/redirect" => respond(&mut out, "302 Found", &[("Location", "/echo")], b""),
                    "/binary" => {
                        let body: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
                        respond(&mut out, "200 OK", &[], &body);
                    }
                    "/upload" => {
                        // Echo the body back exactly.
                        respond(&mut out, "200 OK", &[], &req.body);
                    }
                    "/hang" => std::thread::sleep(Duration::from_secs(20)),
                    "/cool_utils.lua" => {
                        counter.fetch_add(1, Ordering::SeqCst);
                        respond(
                            &mut out,
                            "200 OK",
                            &[],
                            b"local m = {}\nfunction m.do_something_cool() return 'cool' end\nreturn m\n",
                        );
                    }
                    _ => respond(&mut out, "404 Not Found", &[], b"no such path"),
                }
            });
        }
    });
    (port, fetches)
}

/// A loopback port with nothing listening.
fn refused_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Runs `script` with the server's port and a refusing port; returns (exit code, stdout, stderr).
fn run(script: &str, port: u16) -> (i32, String, String) {
    let dir = std::env::temp_dir().join(format!("solvm-net-http-{}-{}", std::process::id(), port));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("main.lua");
    std::fs::write(&path, script).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_solvm"))
        .arg("-timeout")
        .arg("60s")
        .arg(&path)
        .arg(port.to_string())
        .arg(refused_port().to_string())
        .env("NO_COLOR", "1")
        .output()
        .expect("run solvm");
    let _ = std::fs::remove_dir_all(&dir);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn methods_headers_statuses_redirects_and_binary_bodies() {
    let (port, _) = start_server();
    let script = r#"
local base = "http://127.0.0.1:" .. arg[1]
local r = http_get(base .. "/echo", {["X-Test"] = "abc"})
print("get", r.status, r.body, r.headers["x-reply"], r.headers["content-length"], r.headers["set-cookie"])
r = http_post(base .. "/echo", "posted", {["X-Test"] = 1})
print("post", r.status, r.body)
r = http_put(base .. "/echo", "put body")
print("put", r.status, r.body)
r = http_delete(base .. "/echo")
print("delete", r.status, r.body)
r = http_request("patch", base .. "/echo", "p", {["X-Test"] = "h"})
print("request", r.status, r.body)
r = http_get(base .. "/status/404")
print("404", r.status, r.body)
r = http_get(base .. "/status/500")
print("500", r.status, r.body)
r = http_get(base .. "/redirect")
print("redirect followed", r.status, r.body)
r = http_request("GET", base .. "/redirect", nil, nil, {follow_redirects = false})
print("redirect kept", r.status, r.headers.location)
r = http_get(base .. "/binary")
local ok = #r.body == 512
for i = 0, 255 do
  ok = ok and r.body:byte(i + 1) == i and r.body:byte(512 - i) == i
end
print("binary", ok)
local blob = {}
for i = 0, 255 do blob[#blob + 1] = string.char(i) end
blob = table.concat(blob):rep(40)
r = http_post(base .. "/upload", blob, {["Content-Type"] = "application/octet-stream"})
print("upload", r.body == blob, #r.body)
print(pcall(http_get, 42))
print(pcall(http_get, "ftp://x"))
print(pcall(http_request, "GET", base, nil, nil, 5))
"#;
    let (code, out, err) = run(script, port);
    assert_eq!(code, 0, "stderr: {err}");
    let expected = "\
get\t200\tGET x-test=abc body=\tyes\t20\ta=1, b=2
post\t200\tPOST x-test=1 body=posted
put\t200\tPUT x-test=- body=put body
delete\t200\tDELETE x-test=- body=
request\t200\tPATCH x-test=h body=p
404\t404\tnothing here
500\t500\tboom
redirect followed\t200\tGET x-test=- body=
redirect kept\t302\t/echo
binary\ttrue
upload\ttrue\t10240
false\tbad argument #1 to 'http_get' (URL must start with http:// or https://)
false\tbad argument #1 to 'http_get' (URL must start with http:// or https://)
false\tbad argument #5 to 'http_request' (table expected, got number)
";
    assert_eq!(out, expected, "stderr: {err}");
}

#[test]
fn transport_failures_are_nil_and_a_message() {
    let (port, _) = start_server();
    let script = r#"
local base = "http://127.0.0.1:" .. arg[1]
local r, err = http_request("GET", base .. "/hang", nil, nil, {timeout = 0.5})
print("timeout", r, err)
r, err = http_get("http://127.0.0.1:" .. arg[2] .. "/")
print("refused", r, err)
r, err = http_get("http://no-such-host.invalid/")
print("dns", r, err)
"#;
    let (code, out, err) = run(script, port);
    assert_eq!(code, 0, "stderr: {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with("timeout\tnil\tGET http://127.0.0.1:")
            && lines[0].ends_with("/hang: timeout after 0.5s"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("refused\tnil\tGET http://127.0.0.1:")
            && lines[1].ends_with("/: connection refused"),
        "{out}"
    );
    assert!(
        lines[2] == "dns\tnil\tGET http://no-such-host.invalid/: no such host",
        "{out}"
    );
}

#[test]
fn run_timeout_stops_a_request_that_never_ends() {
    let (port, _) = start_server();
    let dir = std::env::temp_dir().join(format!("solvm-net-hang-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("hang.lua");
    std::fs::write(
        &path,
        "print('start')\nlocal r = http_get('http://127.0.0.1:' .. arg[1] .. '/hang')\nprint('not reached', r)\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_solvm"))
        .args(["-timeout", "1s"])
        .arg(&path)
        .arg(port.to_string())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(124));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "start\n");
}

#[test]
fn url_imports_are_fetched_once_and_failures_name_url_and_status() {
    let (port, fetches) = start_server();
    let script = r#"
local base = "http://127.0.0.1:" .. arg[1]
import(base .. "/cool_utils.lua")
print(cool_utils.do_something_cool())
local again = import(base .. "/cool_utils.lua")
print(again == cool_utils)
local c = chan("imported", 3)
for i = 1, 3 do
  go(function() import(base .. "/cool_utils.lua"); send("imported", cool_utils.do_something_cool()) end)
end
for i = 1, 3 do print((receive(c))) end
print(pcall(import, base .. "/missing.lua"))
"#;
    let (code, out, err) = run(script, port);
    assert_eq!(code, 0, "stderr: {err}");
    let expected = format!(
        "cool\ntrue\ncool\ncool\ncool\nfalse\timport: cannot fetch http://127.0.0.1:{port}/missing.lua: status 404\n"
    );
    assert_eq!(out, expected, "stderr: {err}");
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "fetched once per process"
    );
}
