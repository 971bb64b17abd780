//! The HTTP/1.1 layer: reads requests off one connection with `httparse` (keep-alive, pipelining,
//! `Content-Length` and chunked bodies, `Expect: 100-continue`) under size limits and timeouts, and
//! writes responses. Nothing here knows about Lua.

use super::tls::Stream;
use crate::runtime::goroutine;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Most header lines a request may have.
pub const MAX_HEADERS: usize = 100;
/// Most bytes the request line and headers may take.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// How long a connection may sit idle between requests (default of `idle_timeout`).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a client may take to send one whole request once it has started (default of
/// `request_timeout`).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The time limits on a client.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// Between requests: then the connection is closed quietly.
    pub idle: Duration,
    /// From a request's first byte to its last: then 408 and close.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            idle: IDLE_TIMEOUT,
            request: REQUEST_TIMEOUT,
        }
    }
}

/// A read that failed mid-request: 408 when the client was too slow, else the connection is gone.
fn mid_request(e: io::Error) -> ReadError {
    if e.kind() == io::ErrorKind::TimedOut {
        ReadError::Status(408, "request timeout")
    } else {
        ReadError::Io
    }
}
/// How often a blocked read wakes to look at the stop flag.
pub const READ_SLICE: Duration = Duration::from_millis(200);

/// One parsed request.
#[derive(Debug, Default)]
pub struct Request {
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// Everything after `?` (raw).
    pub query: String,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    /// Whether the connection stays open after the response.
    pub keep_alive: bool,
}

impl Request {
    /// The first header named `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// Whether header `name` lists `token` (comma-separated, case-insensitive).
    pub fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .any(|(_, v)| {
                String::from_utf8_lossy(v)
                    .split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case(token))
            })
    }
}

/// Why no request came out of the connection.
#[derive(Debug)]
pub enum ReadError {
    /// The client closed the connection (or went idle, or the server is stopping) between requests:
    /// close quietly.
    Closed,
    /// The request is bad: answer with this status and message, then close.
    Status(u16, &'static str),
    /// The connection failed mid-request (reset, timed out): close.
    Io,
}

/// A connection's read side: the stream plus bytes read but not consumed yet.
pub struct Conn {
    pub stream: Stream,
    buf: Vec<u8>,
    pos: usize,
    /// Where reads land before they join `buf` (kept, so it is zeroed once per connection).
    chunk: Box<[u8]>,
}

impl Conn {
    pub fn new(stream: Stream) -> Conn {
        Conn {
            stream,
            buf: Vec::with_capacity(4096),
            pos: 0,
            chunk: vec![0u8; 16 * 1024].into_boxed_slice(),
        }
    }

    /// Bytes read past the current request (a pipelined request, or WebSocket frames).
    pub fn take_buffered(&mut self) -> Vec<u8> {
        let rest = self.buf[self.pos..].to_vec();
        self.buf.clear();
        self.pos = 0;
        rest
    }

    fn available(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Reads more bytes. `Ok(false)` at end of stream. Waits in slices so `stop` is seen, and fails
    /// with `TimedOut` after `deadline`.
    fn fill(&mut self, deadline: Instant, stop: &AtomicBool) -> io::Result<bool> {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 64 * 1024 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        loop {
            match self.stream.read(&mut self.chunk) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.buf.extend_from_slice(&self.chunk[..n]);
                    return Ok(true);
                }
                Err(e) if goroutine::is_slice_timeout(&e) => {
                    if stop.load(Ordering::Acquire) {
                        return Err(io::Error::new(
                            io::ErrorKind::Interrupted,
                            "server stopping",
                        ));
                    }
                    if Instant::now() >= deadline {
                        return Err(io::ErrorKind::TimedOut.into());
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Ensures `n` unconsumed bytes are buffered.
    fn ensure(&mut self, n: usize, deadline: Instant, stop: &AtomicBool) -> Result<(), ReadError> {
        while self.available().len() < n {
            match self.fill(deadline, stop) {
                Ok(true) => {}
                Ok(false) => return Err(ReadError::Io),
                Err(e) => return Err(mid_request(e)),
            }
        }
        Ok(())
    }

    /// Reads one CRLF-terminated line (without the CRLF), at most `max` bytes.
    fn line(
        &mut self,
        max: usize,
        deadline: Instant,
        stop: &AtomicBool,
    ) -> Result<Vec<u8>, ReadError> {
        loop {
            if let Some(i) = self.available().windows(2).position(|w| w == b"\r\n") {
                let line = self.available()[..i].to_vec();
                self.pos += i + 2;
                return Ok(line);
            }
            if self.available().len() > max {
                return Err(ReadError::Status(400, "chunk header line too long"));
            }
            match self.fill(deadline, stop) {
                Ok(true) => {}
                Ok(false) => return Err(ReadError::Io),
                Err(e) => return Err(mid_request(e)),
            }
        }
    }

    /// Reads the next request, answering `Expect: 100-continue` when the body is acceptable.
    pub fn read_request(
        &mut self,
        max_body: usize,
        timeouts: &Timeouts,
        stop: &AtomicBool,
    ) -> Result<Request, ReadError> {
        let mut deadline = Instant::now() + timeouts.idle;
        let mut started = !self.available().is_empty();
        if started {
            deadline = Instant::now() + timeouts.request;
        }
        let (mut req, head_len, expect_continue) = loop {
            // Tolerate blank lines before a request (RFC 9112 §2.2).
            while self.available().starts_with(b"\r\n") {
                self.pos += 2;
            }
            if !self.available().is_empty() {
                match parse_head(self.available())? {
                    Some(parsed) => break parsed,
                    None if self.available().len() > MAX_HEAD_BYTES => {
                        return Err(ReadError::Status(431, "request header fields too large"))
                    }
                    None => {}
                }
            }
            match self.fill(deadline, stop) {
                Ok(true) => {
                    if !started {
                        started = true;
                        deadline = Instant::now() + timeouts.request;
                    }
                }
                Ok(false) if !started => return Err(ReadError::Closed),
                Err(_) if !started => return Err(ReadError::Closed),
                Ok(false) => return Err(ReadError::Io),
                Err(e) => return Err(mid_request(e)),
            }
        };
        self.pos += head_len;
        let chunked = req.headers.iter().any(|(n, _)| n == "transfer-encoding");
        if chunked {
            if !req.header_has_token("transfer-encoding", "chunked") {
                return Err(ReadError::Status(501, "unsupported transfer encoding"));
            }
            if expect_continue {
                write_continue(&mut self.stream)?;
            }
            req.body = self.read_chunked(max_body, deadline, stop)?;
        } else if let Some(len) = content_length(&req)? {
            if len > max_body {
                return Err(ReadError::Status(413, "request body too large"));
            }
            if expect_continue && len > 0 && self.available().len() < len {
                write_continue(&mut self.stream)?;
            }
            self.ensure(len, deadline, stop)?;
            req.body = self.available()[..len].to_vec();
            self.pos += len;
        }
        Ok(req)
    }

    fn read_chunked(
        &mut self,
        max_body: usize,
        deadline: Instant,
        stop: &AtomicBool,
    ) -> Result<Vec<u8>, ReadError> {
        let mut body = Vec::new();
        loop {
            let line = self.line(4096, deadline, stop)?;
            let text = String::from_utf8_lossy(&line);
            let size_text = text.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| ReadError::Status(400, "bad chunk size"))?;
            if size == 0 {
                // Trailers, up to the empty line.
                let mut total = 0;
                loop {
                    let t = self.line(MAX_HEAD_BYTES, deadline, stop)?;
                    if t.is_empty() {
                        return Ok(body);
                    }
                    total += t.len();
                    if total > MAX_HEAD_BYTES {
                        return Err(ReadError::Status(431, "request trailers too large"));
                    }
                }
            }
            if body.len().saturating_add(size) > max_body {
                return Err(ReadError::Status(413, "request body too large"));
            }
            self.ensure(size + 2, deadline, stop)?;
            body.extend_from_slice(&self.available()[..size]);
            if &self.available()[size..size + 2] != b"\r\n" {
                return Err(ReadError::Status(400, "bad chunk terminator"));
            }
            self.pos += size + 2;
        }
    }
}

fn write_continue(stream: &mut Stream) -> Result<(), ReadError> {
    stream
        .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
        .and_then(|_| stream.flush())
        .map_err(|_| ReadError::Io)
}

/// The body length from `Content-Length` (all copies must agree).
fn content_length(req: &Request) -> Result<Option<usize>, ReadError> {
    let mut len = None;
    for (n, v) in &req.headers {
        if n != "content-length" {
            continue;
        }
        let text = std::str::from_utf8(v).unwrap_or("").trim();
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ReadError::Status(400, "bad Content-Length"));
        }
        let value: usize = text
            .parse()
            .map_err(|_| ReadError::Status(413, "request body too large"))?;
        if len.is_some_and(|l| l != value) {
            return Err(ReadError::Status(400, "conflicting Content-Length headers"));
        }
        len = Some(value);
    }
    Ok(len)
}

/// Parses a request head from `buf`: `Ok(None)` when more bytes are needed. Returns the request
/// (without body), the head's length, and whether the client expects `100 Continue`.
pub fn parse_head(buf: &[u8]) -> Result<Option<(Request, usize, bool)>, ReadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let n = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ReadError::Status(431, "too many header fields"))
        }
        Err(_) => return Err(ReadError::Status(400, "malformed request")),
    };
    let method = parsed.method.unwrap_or("GET").to_string();
    let target = parsed.path.unwrap_or("/");
    let version = parsed.version.unwrap_or(1);
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, q),
        None => (target, ""),
    };
    // Absolute-form targets (`GET http://host/path`) are accepted, as RFC 9112 requires.
    let path = match path.find("://") {
        Some(i) => match path[i + 3..].find('/') {
            Some(j) => &path[i + 3 + j..],
            None => "/",
        },
        None => path,
    };
    if !(path.starts_with('/') || method == "OPTIONS" && path == "*") {
        return Err(ReadError::Status(400, "malformed request target"));
    }
    let mut req = Request {
        method,
        path: path.to_string(),
        query: query.to_string(),
        headers: parsed
            .headers
            .iter()
            .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
            .collect(),
        body: Vec::new(),
        keep_alive: false,
    };
    req.keep_alive = if version == 0 {
        req.header_has_token("connection", "keep-alive")
    } else {
        !req.header_has_token("connection", "close")
    };
    if version == 1 && req.header("host").is_none() {
        return Err(ReadError::Status(400, "missing required Host header"));
    }
    let expect = match req.header("expect") {
        None => false,
        Some(v) if v.eq_ignore_ascii_case(b"100-continue") => version == 1,
        Some(_) => return Err(ReadError::Status(417, "unsupported Expect header")),
    };
    Ok(Some((req, n, expect)))
}

/// The reason phrase for a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// A response about to be written.
#[derive(Debug, Default)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A plain-text response (Go's `http.Error` shape).
    pub fn text(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), b"text/plain; charset=utf-8".to_vec())],
            body: format!("{body}\n").into_bytes(),
        }
    }
}

/// Serialises `resp` into `out`. The runtime owns framing: `Content-Length`, `Transfer-Encoding` and
/// `Connection` set by the handler are replaced; CR and LF in header names or values are dropped so a
/// handler cannot split the response.
pub fn encode_response(out: &mut Vec<u8>, resp: &Response, keep_alive: bool, head: bool) {
    let status = if (100..1000).contains(&resp.status) {
        resp.status
    } else {
        500
    };
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in &resp.headers {
        let lower = name.to_ascii_lowercase();
        if matches!(
            lower.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) || name.is_empty()
        {
            continue;
        }
        out.extend(name.bytes().filter(|b| !matches!(b, b'\r' | b'\n' | b':')));
        out.extend_from_slice(b": ");
        out.extend(value.iter().filter(|b| !matches!(b, b'\r' | b'\n')));
        out.extend_from_slice(b"\r\n");
    }
    let no_body = status == 204 || status == 304 || status < 200;
    if !no_body {
        out.extend_from_slice(b"Content-Length: ");
        out.extend_from_slice(resp.body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !head && !no_body {
        out.extend_from_slice(&resp.body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> Result<Option<(Request, usize, bool)>, ReadError> {
        parse_head(raw.as_bytes())
    }

    #[test]
    fn parses_a_request_head() {
        let raw =
            "GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: h\r\nX-Thing: One\r\nx-thing: two\r\n\r\nrest";
        let (req, n, expect) = head(raw).unwrap().unwrap();
        assert_eq!(req.method, "GET");
        assert_eq!(req.path, "/a/b");
        assert_eq!(req.query, "x=1&y=2");
        assert_eq!(req.header("x-thing"), Some(&b"One"[..]));
        assert_eq!(req.headers.len(), 3);
        assert!(req.keep_alive);
        assert!(!expect);
        assert_eq!(&raw[n..], "rest");
    }

    #[test]
    fn partial_malformed_and_limits() {
        assert!(head("GET / HTTP/1.1\r\nHost: x\r\n").unwrap().is_none());
        assert!(matches!(
            head("GARBAGE\r\n\r\n"),
            Err(ReadError::Status(400, _))
        ));
        assert!(matches!(
            head("GET / HTTP/1.1\r\n\r\n"),
            Err(ReadError::Status(400, _))
        ));
        let many: String = (0..MAX_HEADERS + 1)
            .map(|i| format!("h{i}: v\r\n"))
            .collect();
        assert!(matches!(
            head(&format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n")),
            Err(ReadError::Status(431, _))
        ));
    }

    #[test]
    fn connection_semantics_and_expect() {
        let (r, _, _) = head("GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!r.keep_alive);
        let (r, _, _) = head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(r.keep_alive);
        let (r, _, e) =
            head("POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nExpect: 100-continue\r\n\r\n")
                .unwrap()
                .unwrap();
        assert!(!r.keep_alive);
        assert!(e);
    }

    #[test]
    fn responses_are_framed_by_the_runtime() {
        let mut out = Vec::new();
        let resp = Response {
            status: 201,
            headers: vec![
                ("X-A".into(), b"1\r\nInjected: yes".to_vec()),
                ("Content-Length".into(), b"999".to_vec()),
            ],
            body: b"hello".to_vec(),
        };
        encode_response(&mut out, &resp, false, false);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 201 Created\r\nX-A: 1Injected: yes\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
        );
    }
}
