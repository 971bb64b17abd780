//! The long-running server examples (`examples/servers/`, `examples/chat/`), which
//! `tests/examples.rs` does not run because they serve until stopped.

mod server_support;

use server_support::Server;
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;
use tungstenite::Message;

fn example(path: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(path),
    )
    .expect("example exists")
}

fn ws_connect(port: u16, path: &str) -> tungstenite::WebSocket<TcpStream> {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    tungstenite::client(format!("ws://127.0.0.1:{port}{path}"), stream)
        .unwrap()
        .0
}

#[test]
fn the_seeds_full_server_example() {
    // As written it listens on 8080 and prints nothing; the test runs it on a free port and has it
    // print the port. Nothing else changes.
    let source = example("servers/server.lua");
    assert!(source.contains("create_server(\"my_server\", 8080, false)"));
    let source = source
        .replace(
            "create_server(\"my_server\", 8080, false)",
            "create_server(\"my_server\", 0, false)",
        )
        .replace(
            "start_server(\"my_server\")",
            "print(start_server(\"my_server\"))",
        );
    let s = Server::start("seed-example", &source, &[]);
    let r = s.get("/");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "Hello World from my SolVM server!");
    let mut ws = ws_connect(s.port, "/ws");
    assert_eq!(ws.read().unwrap(), Message::text("Youre connected!"));
    ws.send(Message::text("hi")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("You said: hi"));
    ws.close(None).unwrap();
}

#[test]
fn the_chat_example_broadcasts_between_clients() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/chat");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_solvm"))
        .arg(dir.join("chat.lua"))
        .arg("0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    let port: u16 = line.trim().parse().expect("a port");
    let result = std::panic::catch_unwind(|| {
        let mut c = server_support::Client::connect(port);
        c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = c.response();
        assert_eq!(r.status, 200);
        assert!(r.text().contains("new WebSocket"));
        let mut alice = ws_connect(port, "/ws");
        let mut bob = ws_connect(port, "/ws");
        // Both have joined once each sees its own message come back through the hub.
        for (ws, name) in [(&mut alice, "alice"), (&mut bob, "bob")] {
            ws.send(Message::text(format!("{name} is here"))).unwrap();
            loop {
                let m = ws.read().unwrap();
                if m == Message::text(format!("{name} is here")) {
                    break;
                }
            }
        }
        alice.send(Message::text("alice: hello bob")).unwrap();
        loop {
            let m = bob.read().unwrap();
            if m == Message::text("alice: hello bob") {
                break;
            }
        }
    });
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}
