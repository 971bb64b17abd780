//! HTTPS and `wss://` against a local rustls server with the self-signed certificate in
//! `tests/fixtures/tls` (for `localhost` and 127.0.0.1, valid until 2126): the built-in roots
//! refuse it, `insecure = true` and `ca_file` accept it.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

fn server_config() -> Arc<rustls::ServerConfig> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(fixture("cert.pem"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(fixture("key.pem")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
    )
}

/// An HTTPS responder answering every request with `200 secure`.
fn start_https() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = server_config();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let config = Arc::clone(&config);
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let mut buf = [0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tls.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecure",
                );
                let _ = tls.flush();
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    port
}

#[test]
fn https_verification_insecure_and_ca_file_and_wss() {
    let port = start_https();
    let dir = std::env::temp_dir().join(format!("solvm-net-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("tls.lua");
    std::fs::write(
        &script,
        r#"
local base = "https://127.0.0.1:" .. arg[1] .. "/"
local r, err = http_get(base)
print("built-in roots", r, err)
r = http_request("GET", base, nil, nil, {insecure = true})
print("insecure", r.status, r.body)
r = http_request("GET", "https://localhost:" .. arg[1] .. "/", nil, nil, {ca_file = arg[2]})
print("ca_file", r.status, r.body)
print("wss", ws_connect("wss://127.0.0.1:" .. arg[1] .. "/"))
"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_solvm"))
        .arg(&script)
        .arg(port.to_string())
        .arg(fixture("cert.pem"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        4,
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        lines[0],
        format!("built-in roots\tnil\tGET https://127.0.0.1:{port}/: TLS error: certificate signed by unknown authority")
    );
    assert_eq!(lines[1], "insecure\t200\tsecure");
    assert_eq!(lines[2], "ca_file\t200\tsecure");
    assert!(
        lines[3].starts_with(&format!("wss\tnil\tws_connect wss://127.0.0.1:{port}/: "))
            && lines[3].ends_with("TLS error: certificate signed by unknown authority"),
        "{stdout}"
    );
}
