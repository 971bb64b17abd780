//! TCP, UDP and WebSocket-client behaviour that needs a peer written in Rust: half-closed and
//! abruptly reset peers, a blocked read stopped by the run's timeout, 1 000 UDP datagrams, and
//! `ws_connect` against a tungstenite echo server. Loopback only, ephemeral ports.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

fn write_script(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("solvm-net-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.lua"));
    std::fs::write(&path, text).unwrap();
    path
}

fn solvm() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_solvm"));
    c.env("NO_COLOR", "1");
    c
}

/// Closes `s` with SO_LINGER 0, so the peer gets a reset instead of an orderly end.
fn reset(s: TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // Safety: a valid socket descriptor and a correctly sized option value.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0);
    drop(s);
}

#[test]
fn half_closed_and_reset_peers() {
    let script = write_script(
        "peers",
        r#"
local ch, port = tcp_listen(0, "127.0.0.1")
print(port)
for i = 1, 2 do
    local conn = receive(ch)
    local got = {}
    while true do
        local data, err = conn:read()
        if not data then
            print("conn " .. i .. " ended:", err or "eof", table.concat(got))
            break
        end
        got[#got + 1] = data
        conn:write(data)
    end
    conn:close()
end
close(ch)
"#,
    );
    let mut child = solvm()
        .arg(&script)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let port: u16 = line.trim().parse().expect("the script prints its port");

    // Half-closed: we stop writing, the server sees the end of stream and can still answer.
    let mut a = TcpStream::connect(("127.0.0.1", port)).unwrap();
    a.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    a.write_all(b"half").unwrap();
    a.shutdown(std::net::Shutdown::Write).unwrap();
    let mut echoed = Vec::new();
    a.read_to_end(&mut echoed).unwrap();
    assert_eq!(echoed, b"half");

    // Abrupt: once the server has echoed, we reset the connection.
    let mut b = TcpStream::connect(("127.0.0.1", port)).unwrap();
    b.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    b.write_all(b"abrupt").unwrap();
    let mut buf = [0u8; 6];
    b.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"abrupt");
    reset(b);

    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(script.parent().unwrap());
    assert_eq!(
        rest,
        "conn 1 ended:\teof\thalf\nconn 2 ended:\tconnection reset by peer\tabrupt\n",
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn run_timeout_stops_a_blocked_read() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accept and keep the connection open without ever writing.
    let keeper = std::thread::spawn(move || listener.accept().map(|(s, _)| s));
    let script = write_script(
        "blocked",
        "local c = assert(tcp_connect('127.0.0.1', tonumber(arg[1])))\nprint('connected')\nprint(c:read())\n",
    );
    let out = solvm()
        .args(["-timeout", "1s"])
        .arg(&script)
        .arg(port.to_string())
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(script.parent().unwrap());
    drop(keeper.join());
    assert_eq!(out.status.code(), Some(124));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "connected\n");
}

#[test]
fn connection_refused_is_nil_and_a_message() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let script = write_script(
        "refused",
        "print(tcp_connect('127.0.0.1', tonumber(arg[1]), 5))\n",
    );
    let out = solvm().arg(&script).arg(port.to_string()).output().unwrap();
    let _ = std::fs::remove_dir_all(script.parent().unwrap());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("nil\tdial tcp 127.0.0.1:{port}: connection refused\n")
    );
}

#[test]
fn udp_thousand_datagrams_on_loopback() {
    const N: usize = 1000;
    let script = write_script(
        "udp",
        r#"
local N = 1000
local msgs, port = udp_recvfrom(0, "127.0.0.1")
for i = 1, N do
    local ok, err = udp_sendto("127.0.0.1", port, "datagram " .. i)
    if not ok then print("send failed", err) end
end
local seen, count, bad = {}, 0, 0
while count < N do
    local m = receive(msgs, 3)
    if not m then break end
    local i = tonumber(m.data:match("^datagram (%d+)$"))
    if i and not seen[i] and m.addr == "127.0.0.1" then
        seen[i] = true
        count = count + 1
    else
        bad = bad + 1
    end
end
close(msgs)
print(count, bad)
"#,
    );
    let out = solvm().arg(&script).output().unwrap();
    let _ = std::fs::remove_dir_all(script.parent().unwrap());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<usize> = stdout
        .split_whitespace()
        .map(|f| f.parse().expect("two counts"))
        .collect();
    assert_eq!(fields.len(), 2, "{stdout}");
    let (arrived, bad) = (fields[0], fields[1]);
    // UDP may drop datagrams even on loopback: the loss is reported here, never hidden.
    eprintln!(
        "udp: {arrived} of {N} datagrams arrived ({} lost)",
        N - arrived
    );
    assert_eq!(bad, 0, "corrupt or duplicated datagrams");
    assert!(arrived > 0 && arrived <= N);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
// tungstenite's handshake callback type returns its large error response by value.
#[allow(clippy::result_large_err)]
fn websocket_client_against_an_echo_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut token = String::new();
        let mut ws = tungstenite::accept_hdr(
            stream,
            |req: &tungstenite::handshake::server::Request,
             resp: tungstenite::handshake::server::Response| {
                token = req
                    .headers()
                    .get("x-token")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-")
                    .to_string();
                Ok(resp)
            },
        )
        .unwrap();
        // A ping first: the client must answer it without the script noticing.
        ws.send(tungstenite::Message::Ping(b"p"[..].into()))
            .unwrap();
        let mut pongs = 0;
        loop {
            match ws.read() {
                Ok(tungstenite::Message::Text(t)) => ws
                    .send(tungstenite::Message::text(format!(
                        "echo: {t} token={token}"
                    )))
                    .unwrap(),
                Ok(tungstenite::Message::Binary(b)) => {
                    ws.send(tungstenite::Message::Binary(b)).unwrap()
                }
                Ok(tungstenite::Message::Pong(_)) => pongs += 1,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        pongs
    });
    let script = write_script(
        "ws",
        r#"
local ws, err = ws_connect("ws://127.0.0.1:" .. arg[1] .. "/chat", {["X-Token"] = "t1"})
print(ws ~= nil, err)
print(ws.send("hello"))
print(ws:receive(10))
print(ws.send_binary("\0\1\2"))
local b = ws.receive(10)
print(#b, b:byte(1, -1))
print(ws.remote_addr == "127.0.0.1:" .. arg[1])
local done = chan("done")
go(function()
    ws:send("from a goroutine")
    send("done", ws.receive(10))
end)
print(receive(done))
print(ws.close())
print(ws.receive())
print(ws_connect("ws://127.0.0.1:" .. arg[2] .. "/"))
print(pcall(ws_connect, "http://x"))
"#,
    );
    let refused = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let out = solvm()
        .arg(&script)
        .arg(port.to_string())
        .arg(refused.to_string())
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(script.parent().unwrap());
    let pongs = server.join().unwrap();
    let expected = format!(
        "true\tnil\ntrue\necho: hello token=t1\ntrue\n3\t0\t1\t2\ntrue\necho: from a goroutine token=t1\ttrue\ntrue\nnil\nnil\tws_connect ws://127.0.0.1:{refused}/: connection refused\nfalse\tbad argument #1 to 'ws_connect' (URL must start with ws:// or wss://)\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        expected,
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(pongs, 1, "the server's ping was answered");
}
