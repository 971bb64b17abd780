//! One client connection as the event loop holds it: a non-blocking socket (TLS through rustls
//! when the server has a certificate), the bytes received and not yet consumed, the bytes still to
//! send, and where the connection is in the request cycle. Reads and writes never block; the loop
//! calls them when epoll (edge-triggered) says the socket is ready.

use super::request::{Chunked, Head};
use rustls::ServerConnection;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

/// Where a connection is between two events.
pub enum Phase {
    /// TLS handshake in progress.
    Handshake,
    /// Waiting for a request (a new or kept-alive connection with nothing buffered).
    Idle,
    /// Part of a request head has arrived.
    Head,
    /// The head is parsed; the body is arriving.
    Body(Box<BodyState>),
    /// After an error response: reading and dropping what the client still sends, so it sees the
    /// response rather than a reset, until it closes or the linger time passes.
    Linger,
}

/// A request whose body is still arriving.
pub struct BodyState {
    pub head: Head,
    pub body: Vec<u8>,
    /// `Some` for a chunked body (`None`: `Content-Length`, `remaining` bytes to go).
    pub chunked: Option<Chunked>,
    pub remaining: usize,
}

/// A connection that failed (reset, TLS error): it is dropped.
#[derive(Debug)]
pub struct Broken;

/// How a connection ends once its output is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    /// Close at once (the response said `Connection: close`).
    AfterWrite,
    /// Stop writing, then read and drop what the client still sends before closing (after a
    /// refused request), so the client reads the response instead of a reset.
    Linger,
}

/// What a sweep decided for a connection that waited too long.
pub enum Expired {
    Close,
    /// Answer 408 and close.
    RequestTimeout,
}

/// One connection.
pub struct Conn {
    pub sock: TcpStream,
    pub tls: Option<Box<ServerConnection>>,
    pub peer: SocketAddr,
    /// Received bytes (plaintext) not consumed yet.
    pub inbuf: Vec<u8>,
    /// How far the search for the end of the head has looked into `inbuf`.
    pub scanned: usize,
    /// Bytes to send, from `out_pos` on.
    pub out: Vec<u8>,
    pub out_pos: usize,
    pub phase: Phase,
    /// When the current phase (or the pending output) started: the timeouts count from here.
    pub since: Instant,
    /// How the connection ends once `out` is sent (`None`: it stays open).
    pub closing: Option<Closing>,
    /// The write side is shut (lingering).
    pub write_shut: bool,
    /// The socket may hold more than the last read took (it stopped at its limit): read again
    /// without waiting for an event (epoll is edge-triggered).
    pub more: bool,
    /// The client has closed its side.
    pub eof: bool,
    /// epoll said the client closed or reset: reads go on to the end of stream (a short read
    /// does not mean the socket is drained of its end-of-stream).
    pub peer_closed: bool,
}

/// Most bytes one read call takes in before the loop serves what it has (a client pipelining a
/// flood of requests is served in turns, not buffered without end).
pub const READ_LIMIT: usize = 256 * 1024;

impl Conn {
    pub fn new(sock: TcpStream, peer: SocketAddr, tls: Option<Box<ServerConnection>>) -> Conn {
        let phase = if tls.is_some() {
            Phase::Handshake
        } else {
            Phase::Idle
        };
        Conn {
            sock,
            tls,
            peer,
            inbuf: Vec::new(),
            scanned: 0,
            out: Vec::new(),
            out_pos: 0,
            phase,
            since: Instant::now(),
            closing: None,
            write_shut: false,
            more: false,
            eof: false,
            peer_closed: false,
        }
    }

    /// Whether the connection waits for its next request with nothing in flight.
    pub fn is_idle(&self) -> bool {
        matches!(self.phase, Phase::Idle) && self.inbuf.is_empty() && !self.has_output()
    }

    /// What to do with the connection if it has waited past its limit by `now`.
    pub fn expired(&self, now: Instant, limits: &super::Timeouts) -> Option<Expired> {
        let waited = now.saturating_duration_since(self.since);
        let over = |limit: std::time::Duration| waited > limit;
        match &self.phase {
            Phase::Handshake if over(limits.request) => Some(Expired::Close),
            Phase::Head | Phase::Body(_) if over(limits.request) => Some(Expired::RequestTimeout),
            Phase::Idle if self.has_output() => {
                over(limits.idle.max(super::event_loop::WRITE_TIMEOUT)).then_some(Expired::Close)
            }
            Phase::Idle if over(limits.idle) => Some(Expired::Close),
            Phase::Linger if over(super::event_loop::LINGER) => Some(Expired::Close),
            _ => None,
        }
    }

    /// Whether bytes wait to be sent.
    pub fn has_output(&self) -> bool {
        self.out_pos < self.out.len() || self.tls.as_ref().is_some_and(|t| t.wants_write())
    }

    /// Reads what the socket has, up to [`READ_LIMIT`], into `inbuf`: `Ok(true)` when new bytes
    /// arrived. Sets `eof` when the client has closed its side, `more` when the read stopped at
    /// its limit. `Err` when the connection failed (reset, TLS error): drop it.
    pub fn read(&mut self, scratch: &mut [u8]) -> Result<bool, Broken> {
        self.more = false;
        if self.tls.is_some() {
            return self.read_tls(scratch);
        }
        let mut total = 0;
        loop {
            match self.sock.read(scratch) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(total > 0);
                }
                Ok(n) => {
                    self.inbuf.extend_from_slice(&scratch[..n]);
                    total += n;
                    // A short read emptied the socket: new data brings a new edge. Not so for the
                    // end of stream when the client closed right after sending: read on to it.
                    if n < scratch.len() && !self.peer_closed {
                        return Ok(true);
                    }
                    if total >= READ_LIMIT {
                        self.more = true;
                        return Ok(true);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(total > 0),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(Broken),
            }
        }
    }

    fn read_tls(&mut self, scratch: &mut [u8]) -> Result<bool, Broken> {
        let Some(tls) = self.tls.as_mut() else {
            return Err(Broken);
        };
        let mut total = 0;
        loop {
            match tls.read_tls(&mut self.sock) {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(total > 0),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Err(Broken),
            }
            let state = match tls.process_new_packets() {
                Ok(s) => s,
                Err(_) => {
                    // Send the alert rustls queued, best effort, then give up.
                    let _ = tls.write_tls(&mut self.sock);
                    return Err(Broken);
                }
            };
            let mut plain = state.plaintext_bytes_to_read();
            if state.peer_has_closed() {
                self.eof = true;
            }
            while plain > 0 {
                match tls.reader().read(scratch) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        self.inbuf.extend_from_slice(&scratch[..n]);
                        total += n;
                        plain = plain.saturating_sub(n);
                    }
                }
            }
            if self.eof {
                return Ok(total > 0);
            }
            if total >= READ_LIMIT {
                self.more = true;
                return Ok(true);
            }
        }
    }

    /// Sends what it can of the pending output; `Ok(true)` once everything is out.
    pub fn flush(&mut self) -> io::Result<bool> {
        if let Some(tls) = self.tls.as_mut() {
            while self.out_pos < self.out.len() {
                match tls.writer().write(&self.out[self.out_pos..]) {
                    Ok(0) => break,
                    Ok(n) => self.out_pos += n,
                    Err(e) => return Err(e),
                }
            }
            while tls.wants_write() {
                match tls.write_tls(&mut self.sock) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        } else {
            while self.out_pos < self.out.len() {
                match self.sock.write(&self.out[self.out_pos..]) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => self.out_pos += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if self.out_pos >= self.out.len() {
            self.out.clear();
            self.out_pos = 0;
            if self.out.capacity() > 64 * 1024 {
                self.out = Vec::new();
            }
        }
        Ok(!self.has_output())
    }

    /// Drops `n` consumed bytes from the front of `inbuf`.
    pub fn consume(&mut self, n: usize) {
        if n >= self.inbuf.len() {
            self.inbuf.clear();
            if self.inbuf.capacity() > 64 * 1024 {
                self.inbuf = Vec::new();
            }
        } else {
            self.inbuf.drain(..n);
        }
        self.scanned = 0;
    }

    /// Stops sending (after the last response of a connection that lingers).
    pub fn shutdown_write(&mut self) {
        if let Some(tls) = self.tls.as_mut() {
            tls.send_close_notify();
            let _ = tls.write_tls(&mut self.sock);
        }
        let _ = self.sock.shutdown(std::net::Shutdown::Write);
    }

    /// Closes the connection now (TLS: a close_notify first, best effort).
    pub fn close(mut self) {
        if let Some(tls) = self.tls.as_mut() {
            tls.send_close_notify();
            let _ = tls.write_tls(&mut self.sock);
        }
    }

    /// The state a WebSocket handler continues from: the socket made blocking again, the TLS
    /// session, and the bytes already received past the upgrade request.
    pub fn into_blocking(self) -> io::Result<(super::tls::Stream, Vec<u8>)> {
        self.sock.set_nonblocking(false)?;
        let leftover = self.inbuf;
        let stream = match self.tls {
            None => super::tls::Stream::Plain(self.sock),
            Some(tls) => {
                super::tls::Stream::Tls(Box::new(rustls::StreamOwned::new(*tls, self.sock)))
            }
        };
        Ok((stream, leftover))
    }
}
