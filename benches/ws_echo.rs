//! WebSocket echo round trips per second against a SolVM server (examples/servers/echo_json.lua's
//! `/ws` handler), with 1 and 16 concurrent clients, each sending a 16-byte text message and
//! waiting for its echo. With `WS_NODE_MODULES` set to a `node_modules` folder holding the `ws`
//! package (scripts/bench-ws.sh installs it with npm), the same clients then measure a Node echo
//! server on `ws` in the same run, WS_ROUNDS rounds (default 3) taken in turn, medians reported. Run: `cargo bench --bench ws_echo` (builds the release binary
//! first). Report ratios between runs on the same machine, not absolute numbers.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn show(v: &[f64]) -> String {
    v.iter()
        .map(|r| format!("{r:.0}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn client(port: u16) -> WebSocket<TcpStream> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    let url = format!("ws://127.0.0.1:{port}/ws");
    let (ws, _) = tungstenite::client(url, tcp).expect("handshake");
    ws
}

fn run(port: u16, clients: usize, secs: u64) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (stop, count) = (Arc::clone(&stop), Arc::clone(&count));
            let mut ws = client(port);
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    ws.send(Message::text("0123456789abcdef")).expect("send");
                    match ws.read().expect("read") {
                        Message::Text(t) => assert_eq!(t.as_str(), "0123456789abcdef"),
                        other => panic!("unexpected {other:?}"),
                    }
                    n += 1;
                }
                count.fetch_add(n, Ordering::Relaxed);
                let _ = ws.close(None);
            })
        })
        .collect();
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    for th in threads {
        th.join().expect("client thread");
    }
    count.load(Ordering::Relaxed) as f64 / t.elapsed().as_secs_f64()
}

/// A Node echo server on the `ws` package; returns the child and its port.
fn start_node(modules: &str) -> (std::process::Child, u16) {
    let script = "const { WebSocketServer } = require('ws');\n\
        const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/ws' });\n\
        wss.on('listening', () => console.log(wss.address().port));\n\
        wss.on('connection', ws => ws.on('message', (m, bin) => ws.send(m, { binary: bin })));\n";
    let mut child = Command::new("node")
        .args(["-e", script])
        .env("NODE_PATH", modules)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start node");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("port line");
    (child, line.trim().parse().expect("a port"))
}

fn main() {
    let here = env!("CARGO_MANIFEST_DIR");
    let mut child = Command::new(env!("CARGO_BIN_EXE_solvm"))
        .args(["--timeout", "0", "examples/servers/echo_json.lua", "0"])
        .current_dir(here)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start solvm");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("port line");
    let port: u16 = line.trim().parse().expect("a port");
    let secs = std::env::var("WS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let node = std::env::var("WS_NODE_MODULES")
        .ok()
        .map(|m| start_node(&m));
    // Rounds alternate between the servers, so a burst of load on the machine hits both.
    let rounds: usize = std::env::var("WS_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    for clients in [1, 16] {
        let (mut ours, mut peers) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            ours.push(run(port, clients, secs));
            if let Some((_, node_port)) = &node {
                peers.push(run(*node_port, clients, secs));
            }
        }
        println!(
            "websocket echo, {clients:>2} clients: {:>9.0} round trips/s (median; rounds {})",
            median(&ours),
            show(&ours)
        );
        if !peers.is_empty() {
            println!(
                "node ws echo,   {clients:>2} clients: {:>9.0} round trips/s (median; rounds {})",
                median(&peers),
                show(&peers)
            );
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    if let Some((mut n, _)) = node {
        let _ = n.kill();
        let _ = n.wait();
    }
}
