//! Shared by the server tests: run the real binary on a script that starts a server on port 0 and
//! prints the port, and speak raw HTTP/1.1 to it over loopback.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `solvm` serving a script. Killed (by its own handle) when dropped.
pub struct Server {
    pub child: Child,
    pub port: u16,
    /// Further stdout lines after the port.
    pub lines: mpsc::Receiver<String>,
    stderr_path: std::path::PathBuf,
}

impl Server {
    /// Writes `script` to a scratch file and runs it with `args`; waits for the first stdout line
    /// (the port).
    pub fn start(test: &str, script: &str, args: &[&str]) -> Server {
        Server::start_with(test, script, args, &[])
    }

    /// Like [`Server::start`], with arguments for the script itself.
    pub fn start_with(test: &str, script: &str, args: &[&str], script_args: &[&str]) -> Server {
        Server::start_env(test, script, args, script_args, &[])
    }

    /// Like [`Server::start_with`], with environment variables for the server process.
    pub fn start_env(
        test: &str,
        script: &str,
        args: &[&str],
        script_args: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        let dir = std::env::temp_dir().join(format!("solvm-server-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("main.lua");
        std::fs::write(&path, script).unwrap();
        let stderr_path = dir.join("stderr.txt");
        let mut child = Command::new(env!("CARGO_BIN_EXE_solvm"))
            .args(args)
            .arg(&path)
            .args(script_args)
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .expect("run solvm");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = rx.recv_timeout(Duration::from_secs(30));
        let port = match first {
            Ok(l) => l
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("expected a port, got {l:?}")),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the server printed no port; stderr:\n{}",
                    std::fs::read_to_string(&stderr_path).unwrap_or_default()
                );
            }
        };
        Server {
            child,
            port,
            lines: rx,
            stderr_path,
        }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.port)
    }

    /// One request on a fresh connection.
    pub fn get(&self, path: &str) -> Response {
        let mut c = self.connect();
        c.send(&format!(
            "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        ));
        c.response()
    }

    /// Waits (bounded) for the process to end by itself; returns its exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        for _ in 0..300 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A raw HTTP/1.1 client on one connection.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, raw: &str) {
        self.send_bytes(raw.as_bytes());
    }

    pub fn send_bytes(&mut self, raw: &[u8]) {
        self.stream.write_all(raw).expect("write");
    }

    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 8192];
        match self.stream.read(&mut chunk) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// Whether the server closes the connection now that its responses are read: true at end of
    /// stream or a reset, false when more bytes arrive. Waits up to 10 s (an open connection that
    /// stays silent counts as open).
    pub fn closes(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        self.stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut b = [0u8; 1];
        let closed = match self.stream.read(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        };
        self.stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        closed
    }

    /// Reads one response (Content-Length framed, or to end of stream).
    pub fn response(&mut self) -> Response {
        self.try_response().expect("a response")
    }

    pub fn try_response(&mut self) -> Option<Response> {
        self.read_response(false)
    }

    /// Reads the response to a HEAD request (headers only, whatever Content-Length says).
    pub fn head_response(&mut self) -> Response {
        self.read_response(true).expect("a response")
    }

    fn read_response(&mut self, head_only: bool) -> Option<Response> {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            if !self.fill() {
                return None;
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        self.buf.drain(..end + 4);
        let mut lines = head.split("\r\n");
        let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        let len = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse::<usize>().unwrap());
        let body = match len {
            _ if head_only => Vec::new(),
            Some(len) => {
                while self.buf.len() < len {
                    if !self.fill() {
                        return None;
                    }
                }
                self.buf.drain(..len).collect()
            }
            None if status == 100 || status == 101 || status == 204 || status == 304 => Vec::new(),
            None => {
                while self.fill() {}
                std::mem::take(&mut self.buf)
            }
        };
        Some(Response {
            status,
            headers,
            body,
        })
    }
}
