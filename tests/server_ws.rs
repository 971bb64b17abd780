//! WebSocket and HTTPS servers through the real binary: echo of text and binary messages, ping,
//! close handling, `stop_server` closing sockets, and both over TLS with a self-signed certificate.

mod server_support;

use server_support::Server;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;
use tungstenite::Message;

const ECHO: &str = r#"
local https = arg[1] == "tls"
if https then
    create_server("echo", {port = 0, host = "127.0.0.1", https = true, cert = "cert.pem", key = "key.pem"})
else
    create_server("echo", {port = 0, host = "127.0.0.1"})
end
handle_http("echo", "/", function(req) return "plain " .. req.path end)
handle_http("echo", "/stop", function() stop_server("echo") return "stopping" end)
handle_ws("echo", "/rooms/{room}", function(ws) ws:send(ws.path .. " " .. ws.params.room) end)
handle_ws("echo", "/ws", function(ws)
    ws.send("Youre connected!")
    while true do
        local msg = ws:receive()
        if msg == nil then break end
        if msg:sub(1, 4) == "bin:" then
            ws:send_binary(msg)
        else
            ws.send("You said: " .. msg)
        end
    end
    print("closed " .. tostring(ws.remote_addr ~= nil))
end)
print(start_server("echo"))
"#;

fn echo_messages<S: Read + Write>(ws: &mut tungstenite::WebSocket<S>) {
    assert_eq!(ws.read().unwrap(), Message::text("Youre connected!"));
    for i in 0..1000 {
        ws.send(Message::text(format!("hello {i}"))).unwrap();
        assert_eq!(
            ws.read().unwrap(),
            Message::text(format!("You said: hello {i}"))
        );
    }
    for i in 0..1000u32 {
        let mut payload = b"bin:".to_vec();
        payload.extend_from_slice(&i.to_le_bytes());
        payload.extend_from_slice(&[0, 255, 128]);
        ws.send(Message::binary(payload.clone())).unwrap();
        assert_eq!(ws.read().unwrap(), Message::binary(payload));
    }
    ws.send(Message::Ping(vec![1, 2, 3].into())).unwrap();
    match ws.read().unwrap() {
        Message::Pong(p) => assert_eq!(&p[..], &[1, 2, 3]),
        other => panic!("expected a pong, got {other:?}"),
    }
}

fn wait_line(s: &Server, want: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if let Ok(l) = s.lines.recv_timeout(Duration::from_millis(200)) {
            if l == want {
                return;
            }
        }
    }
    panic!("no line {want:?}; stderr: {}", s.stderr());
}

#[test]
fn websocket_echo_text_binary_ping_and_close() {
    let s = Server::start("ws-echo", ECHO, &[]);
    let stream = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let (mut ws, resp) =
        tungstenite::client(format!("ws://127.0.0.1:{}/ws", s.port), stream).unwrap();
    assert_eq!(resp.status().as_u16(), 101);
    echo_messages(&mut ws);
    ws.close(None).unwrap();
    // The server answers the close; then the handler's receive returns nil.
    while ws.read().is_ok() {}
    wait_line(&s, "closed true");
    let stream = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    let (mut room, _) =
        tungstenite::client(format!("ws://127.0.0.1:{}/rooms/blue", s.port), stream).unwrap();
    assert_eq!(room.read().unwrap(), Message::text("/rooms/blue blue"));
    // A plain GET on the WebSocket path is told to upgrade.
    assert_eq!(s.get("/ws").status, 426);
    assert_eq!(s.get("/other").text(), "plain /other");
}

#[test]
fn stop_server_closes_websockets_with_a_close_frame() {
    let mut s = Server::start("ws-stop", ECHO, &[]);
    let stream = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let (mut ws, _) = tungstenite::client(format!("ws://127.0.0.1:{}/ws", s.port), stream).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("Youre connected!"));
    assert_eq!(s.get("/stop").text(), "stopping");
    let mut got_close = false;
    loop {
        match ws.read() {
            Ok(Message::Close(_)) => got_close = true,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert!(got_close, "the server sent a close frame");
    assert_eq!(s.wait_exit(), Some(0), "stderr: {}", s.stderr());
}

/// Writes a self-signed certificate for `localhost` beside the test's script; returns the
/// certificate (DER) for the client to trust.
fn write_cert(test: &str) -> rustls::pki_types::CertificateDer<'static> {
    let dir = std::env::temp_dir().join(format!("solvm-server-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(dir.join("cert.pem"), ck.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), ck.key_pair.serialize_pem()).unwrap();
    ck.cert.der().clone()
}

fn tls_connect(
    port: u16,
    cert: &rustls::pki_types::CertificateDer<'static>,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let conn =
        rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap()).unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

#[test]
fn https_and_websocket_over_tls() {
    let cert = write_cert("tls");
    let s = Server::start_with("tls", ECHO, &[], &["tls"]);
    // Start writes main.lua into the same folder as write_cert's files; the script was run with
    // the certificate present because write_cert ran first.
    let mut tls = tls_connect(s.port, &cert);
    tls.write_all(b"GET /secure HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    let _ = tls.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("plain /secure"), "{text}");

    let tls = tls_connect(s.port, &cert);
    let (mut ws, _) = tungstenite::client("wss://localhost/ws", tls).unwrap();
    echo_messages(&mut ws);
    ws.close(None).unwrap();
}

#[test]
fn bad_certificate_files_are_a_clear_error_at_creation() {
    let dir = std::env::temp_dir().join(format!("solvm-server-badcert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("junk.pem"), "not a certificate").unwrap();
    let script = dir.join("main.lua");
    std::fs::write(
        &script,
        r#"
        print(pcall(create_server, "a", 0, true, "missing.pem", "missing-key.pem"))
        print(pcall(create_server, "b", 0, true, "junk.pem", "junk.pem"))
        print(pcall(create_server, "c", 0, true))
        "#,
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_solvm"))
        .arg(&script)
        .current_dir(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].starts_with("false")
            && lines[0].contains("missing.pem")
            && lines[0].contains("no such file"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("false") && lines[1].contains("junk.pem"),
        "{text}"
    );
    assert!(
        lines[2].starts_with("false") && lines[2].contains("certificate"),
        "{text}"
    );
}

#[test]
fn a_message_over_max_body_closes_with_1009_and_the_server_goes_on() {
    // Issue 8: a WebSocket message larger than max_body → close frame with status 1009 (message
    // too big); the handler's receive returns nil + error; the server keeps serving.
    let s = Server::start(
        "ws-1009",
        r#"
        create_server("big", {port = 0, host = "127.0.0.1", max_body = 1024})
        handle_http("big", "/", function() return "still here" end)
        handle_ws("big", "/ws", function(ws)
            while true do
                local m, err = ws:receive()
                if m == nil then print("receive ended " .. tostring(err ~= nil)) return end
                ws.send(m)
            end
        end)
        print(start_server("big"))
        "#,
        &[],
    );
    let stream = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (mut ws, _) = tungstenite::client(format!("ws://127.0.0.1:{}/ws", s.port), stream).unwrap();
    ws.send(Message::text("x".repeat(1024))).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("x".repeat(1024)));
    // The server may close before the whole frame is written: a failed send is fine.
    let _ = ws.send(Message::text("y".repeat(4096)));
    let mut code = None;
    loop {
        match ws.read() {
            Ok(Message::Close(frame)) => {
                code = frame.map(|f| u16::from(f.code));
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert_eq!(code, Some(1009), "close code; stderr: {}", s.stderr());
    wait_line(&s, "receive ended true");
    assert_eq!(s.get("/").text(), "still here");
}

#[test]
fn a_handlers_receive_with_any_number_of_seconds_keeps_its_worker() {
    // Issue 18: a server handler's ws:receive(math.huge) once killed its worker thread (a
    // Duration overflow). Each timeout below either waits (huge: no limit) or raises a Lua error
    // the handler can catch; the connection then echoes as usual.
    let script = r#"
    create_server("t", {port = 0, host = "127.0.0.1"})
    handle_ws("t", "/ws", function(ws)
        local out = {}
        for _, t in ipairs({0 / 0, -1, -math.huge}) do
            local ok, err = pcall(ws.receive, ws, t)
            out[#out + 1] = ok and ("ok " .. tostring(err)) or ("error " .. tostring(err):match("bad argument[^(]*"))
        end
        ws:send(table.concat(out, "; "))
        for _, t in ipairs({math.huge, 1e300, math.maxinteger}) do
            local msg = ws:receive(t)
            ws:send(tostring(t) .. ": " .. tostring(msg))
        end
    end)
    print(start_server("t"))
    "#;
    let s = Server::start("ws-receive-seconds", script, &[]);
    let stream = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let (mut ws, _) = tungstenite::client(format!("ws://127.0.0.1:{}/ws", s.port), stream).unwrap();
    let first = ws.read().unwrap().into_text().unwrap().to_string();
    assert_eq!(first, ["error bad argument #2 to 'receive' "; 3].join("; "));
    for (i, t) in ["inf", "1e+300", "9223372036854775807"].iter().enumerate() {
        ws.send(Message::text(format!("m{i}"))).unwrap();
        assert_eq!(
            ws.read().unwrap(),
            Message::text(format!("{t}: m{i}")),
            "first message was {first:?}"
        );
    }
    let err = s.stderr();
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(s.get("/ws").status, 426);
}
