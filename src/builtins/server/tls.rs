//! HTTPS: a rustls 0.23 server configuration from PEM certificate and key files (ring as the crypto
//! provider), and [`Stream`], a connection that is either plain TCP or TLS over TCP.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

/// Builds a TLS configuration from a certificate chain and a private key (PEM files). The error
/// names the file and what is wrong with it.
pub fn load_config(cert: &str, key: &str) -> Result<Arc<ServerConfig>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("cannot read certificate file '{cert}': {}", pem_error(&e)))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("bad certificate file '{cert}': {}", pem_error(&e)))?;
    if certs.is_empty() {
        return Err(format!(
            "bad certificate file '{cert}': no PEM certificate found"
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("bad key file '{key}': {}", pem_error(&e)))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate '{cert}' and key do not work together: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn pem_error(e: &rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => crate::runtime::args::io_error_text(io),
        rustls::pki_types::pem::Error::NoItemsFound => "no PEM private key found".into(),
        other => format!("{other:?}"),
    }
}

/// One accepted connection.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Stream {
    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }

    pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.tcp().set_read_timeout(d)
    }

    pub fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.tcp().set_write_timeout(d)
    }

    /// Ends the connection; for TLS, sends close_notify first.
    pub fn shutdown(&mut self) {
        if let Stream::Tls(s) = self {
            s.conn.send_close_notify();
            let _ = s.conn.complete_io(&mut s.sock);
        }
        let _ = self.tcp().shutdown(std::net::Shutdown::Both);
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            // A signal (EINTR) can interrupt sending the buffered records, which stay buffered:
            // go on, as `write_all` does for writes.
            Stream::Tls(s) => loop {
                match s.flush() {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    done => return done,
                }
            },
        }
    }
}
