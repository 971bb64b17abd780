//! WebSocket close codes (RFC 6455 §7.4.1, SPEC §12): each malformed frame a client can send gets
//! the close code the RFC names, written by hand on a raw socket after a real handshake; a handler
//! that fails closes with 1011; a bad upgrade is refused with 400.

mod server_support;

use server_support::Server;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const SCRIPT: &str = r#"
create_server("w", {port = 0, host = "127.0.0.1", max_body = 100})
handle_ws("w", "/echo", function(ws)
  while true do
    local m = ws:receive()
    if m == nil then return end
    ws:send(m)
  end
end)
handle_ws("w", "/fail", function(ws)
  local m = ws:receive()
  error("handler failed on " .. tostring(m))
end)
print(start_server("w"))
"#;

/// Connects to `path` and completes the opening handshake.
fn open(port: u16, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).unwrap(), 1, "handshake cut short");
        head.push(b[0]);
    }
    let text = String::from_utf8_lossy(&head);
    assert!(text.starts_with("HTTP/1.1 101"), "{text}");
    assert!(
        text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "{text}"
    );
    s
}

/// A client frame: `first` is FIN/RSV/opcode; masked unless `masked` is false.
fn frame(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut f = vec![first];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => f.push(mask_bit | n as u8),
        n if n < 65536 => {
            f.push(mask_bit | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(mask_bit | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let key = [1u8, 2, 3, 4];
    if masked {
        f.extend_from_slice(&key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        f.extend_from_slice(payload);
    }
    f
}

/// Reads server frames until a close frame; returns its code (`None` if the connection ended
/// without one).
fn close_code(s: &mut TcpStream) -> Option<u16> {
    loop {
        let mut h = [0u8; 2];
        s.read_exact(&mut h).ok()?;
        let mut len = (h[1] & 0x7f) as usize;
        if len == 126 {
            let mut l = [0u8; 2];
            s.read_exact(&mut l).ok()?;
            len = u16::from_be_bytes(l) as usize;
        } else if len == 127 {
            let mut l = [0u8; 8];
            s.read_exact(&mut l).ok()?;
            len = u64::from_be_bytes(l) as usize;
        }
        let mut payload = vec![0u8; len];
        s.read_exact(&mut payload).ok()?;
        if h[0] & 0x0f == 0x8 {
            return (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
        }
    }
}

#[test]
fn each_malformed_frame_gets_its_close_code() {
    let s = Server::start("ws-close", SCRIPT, &[]);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("unmasked client frame", frame(0x81, b"hi", false), 1002),
        (
            "control frame over 125 bytes",
            frame(0x89, &[7u8; 126], true),
            1002,
        ),
        ("fragmented control frame", frame(0x09, b"x", true), 1002),
        ("RSV1 without an extension", frame(0xC1, b"hi", true), 1002),
        ("RSV3 without an extension", frame(0x91, b"hi", true), 1002),
        ("unknown data opcode", frame(0x83, b"hi", true), 1002),
        ("unknown control opcode", frame(0x8B, b"hi", true), 1002),
        (
            "continuation with nothing to continue",
            frame(0x80, b"hi", true),
            1002,
        ),
        (
            "invalid UTF-8 in a text message",
            frame(0x81, &[0x68, 0xff, 0xfe], true),
            1007,
        ),
        (
            "message over the limit",
            frame(0x81, &[b'a'; 200], true),
            1009,
        ),
    ];
    let mut failures = Vec::new();
    for (name, bytes, want) in cases {
        let mut c = open(s.port, "/echo");
        // A good message first: the connection works.
        c.write_all(&frame(0x81, b"ping", true)).unwrap();
        let mut echo = [0u8; 6];
        c.read_exact(&mut echo).unwrap();
        assert_eq!(&echo, b"\x81\x04ping", "{name}");
        let _ = c.write_all(&bytes);
        let got = close_code(&mut c);
        if got != Some(want) {
            failures.push(format!("{name}: got {got:?}, want {want}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn a_failing_handler_closes_with_1011() {
    let s = Server::start("ws-close-1011", SCRIPT, &[]);
    let mut c = open(s.port, "/fail");
    c.write_all(&frame(0x81, b"boom", true)).unwrap();
    assert_eq!(close_code(&mut c), Some(1011));
    assert!(
        s.stderr().contains("handler failed on boom"),
        "{}",
        s.stderr()
    );
}

#[test]
fn a_bad_upgrade_is_refused() {
    let s = Server::start("ws-close-upgrade", SCRIPT, &[]);
    for (key, version) in [
        ("short", "13"),
        ("dGhlIHNhbXBsZSBub25jZQ==", "8"),
        ("dGhlIHNhbXBsZSBub25jZQ", "13"),
    ] {
        let mut c = s.connect();
        c.send(&format!(
            "GET /echo HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: {version}\r\n\r\n"
        ));
        let r = c.response();
        assert_eq!(r.status, 400, "key {key} version {version}");
        assert_eq!(r.header("sec-websocket-version"), Some("13"));
    }
    // Without the upgrade headers the path says it speaks WebSocket.
    let r = s.get("/echo");
    assert_eq!((r.status, r.header("upgrade")), (426, Some("websocket")));
}
