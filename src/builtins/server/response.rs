//! Responses: what a handler built is checked before a byte is sent (SPEC §12: a status of
//! 200–599, header names that are tokens, values free of CR, LF and NUL; anything else becomes a
//! 500 and a report naming the problem, never a silently edited header), then serialised. The
//! runtime owns the framing: `Content-Length`, `Transfer-Encoding`, `Connection` and
//! `Keep-Alive` from a handler are replaced by the server's own (a handler's `Connection: close`
//! is honoured), and `Date` is added unless the handler set one.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

/// A response about to be written.
#[derive(Debug, Default, Clone)]
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

    /// `self` with one more header.
    pub fn with(mut self, name: &str, value: impl Into<Vec<u8>>) -> Response {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// Whether the handler asked to close the connection after this response.
    pub fn asks_close(&self) -> bool {
        self.headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case("connection")
                && v.split(|&b| b == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
        })
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Checks what a handler returned; the error says what is wrong, for the `on_error` report.
pub fn validate(resp: &Response) -> Result<(), String> {
    if !(200..=599).contains(&resp.status) {
        return Err(format!(
            "handler returned status {}; a response status must be from 200 to 599",
            resp.status
        ));
    }
    for (name, value) in &resp.headers {
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(format!(
                "handler returned an invalid header name {name:?} (a name is letters, digits and !#$%&'*+-.^_`|~)"
            ));
        }
        if let Some(b) = value.iter().find(|&&b| matches!(b, b'\r' | b'\n' | 0)) {
            let what = match b {
                b'\r' => "CR",
                b'\n' => "LF",
                _ => "NUL",
            };
            return Err(format!(
                "handler returned header '{name}' with a {what} in its value"
            ));
        }
    }
    Ok(())
}

/// The reason phrase for a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// How a response goes out.
#[derive(Debug, Clone, Copy)]
pub struct Framing {
    /// The connection stays open after this response.
    pub keep_alive: bool,
    /// The request was HEAD: headers only.
    pub head: bool,
    /// The request was HTTP/1.0 (a kept-alive 1.0 connection is said so explicitly).
    pub http10: bool,
}

/// Serialises `resp` (already validated) into `out`.
pub fn encode(out: &mut Vec<u8>, resp: &Response, how: Framing) {
    let status = resp.status;
    out.extend_from_slice(b"HTTP/1.1 ");
    push_int(out, status as u64);
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut has_date = false;
    for (name, value) in &resp.headers {
        if is_framing(name) {
            continue;
        }
        has_date |= name.eq_ignore_ascii_case("date");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if !has_date {
        push_date(out);
    }
    let no_body = status == 204 || status == 304 || status < 200;
    if !no_body {
        out.extend_from_slice(b"Content-Length: ");
        push_int(out, resp.body.len() as u64);
        out.extend_from_slice(b"\r\n");
    }
    if !how.keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if how.http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !how.head && !no_body {
        out.extend_from_slice(&resp.body);
    }
}

/// Headers the server sets itself.
fn is_framing(name: &str) -> bool {
    [
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
    ]
    .iter()
    .any(|f| name.eq_ignore_ascii_case(f))
}

fn push_int(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa_buf(n).as_slice());
}

/// Decimal digits of `n` without allocating.
fn itoa_buf(mut n: u64) -> Digits {
    let mut d = Digits {
        buf: [0; 20],
        start: 20,
    };
    loop {
        d.start -= 1;
        d.buf[d.start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return d;
        }
    }
}

struct Digits {
    buf: [u8; 20],
    start: usize,
}

impl Digits {
    fn as_slice(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

thread_local! {
    /// The `Date` line of the current second (formatting it costs more than the rest of a small
    /// response's head).
    static DATE: RefCell<(u64, Vec<u8>)> = const { RefCell::new((u64::MAX, Vec::new())) };
}

/// Appends `Date: <IMF-fixdate>\r\n`.
fn push_date(out: &mut Vec<u8>) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    DATE.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.0 != now {
            let text = chrono::DateTime::from_timestamp(now as i64, 0)
                .unwrap_or_default()
                .format("Date: %a, %d %b %Y %H:%M:%S GMT\r\n")
                .to_string();
            *cell = (now, text.into_bytes());
        }
        out.extend_from_slice(&cell.1);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(resp: &Response, how: Framing) -> String {
        let mut out = Vec::new();
        encode(&mut out, resp, how);
        let s = String::from_utf8(out).unwrap();
        // The date changes; check its shape and take it out.
        let start = s.find("Date: ").expect("a Date header");
        let end = start + s[start..].find("\r\n").unwrap() + 2;
        assert_eq!(end - start, "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n".len());
        format!("{}{}", &s[..start], &s[end..])
    }

    const KEEP: Framing = Framing {
        keep_alive: true,
        head: false,
        http10: false,
    };

    #[test]
    fn the_runtime_frames_responses() {
        let resp = Response {
            status: 201,
            headers: vec![
                ("X-A".into(), b"1".to_vec()),
                ("Content-Length".into(), b"999".to_vec()),
                ("transfer-encoding".into(), b"chunked".to_vec()),
            ],
            body: b"hello".to_vec(),
        };
        assert_eq!(
            text(
                &resp,
                Framing {
                    keep_alive: false,
                    ..KEEP
                }
            ),
            "HTTP/1.1 201 Created\r\nX-A: 1\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
        );
        assert_eq!(
            text(&resp, Framing { http10: true, ..KEEP }),
            "HTTP/1.1 201 Created\r\nX-A: 1\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello"
        );
        assert_eq!(
            text(&resp, Framing { head: true, ..KEEP }),
            "HTTP/1.1 201 Created\r\nX-A: 1\r\nContent-Length: 5\r\n\r\n"
        );
        let empty = Response {
            status: 204,
            ..Default::default()
        };
        assert_eq!(text(&empty, KEEP), "HTTP/1.1 204 No Content\r\n\r\n");
        let dated = Response::text(200, "x").with("Date", "then");
        let mut out = Vec::new();
        encode(&mut out, &dated, KEEP);
        assert_eq!(String::from_utf8(out).unwrap().matches("Date:").count(), 1);
    }

    #[test]
    fn bad_handler_responses_are_refused_with_a_reason() {
        for status in [0, 100, 101, 199, 600, 999] {
            let r = Response {
                status,
                ..Default::default()
            };
            assert!(validate(&r).unwrap_err().contains(&status.to_string()));
        }
        let ok = Response::text(599, "x");
        assert!(validate(&ok).is_ok());
        for (name, value, says) in [
            ("X-A", &b"1\r\nInjected: yes"[..], "CR"),
            ("X-A", b"1\nx", "LF"),
            ("X-A", b"a\0b", "NUL"),
            ("Bad Name", b"v", "invalid header name"),
            ("Bad:Name", b"v", "invalid header name"),
            ("", b"v", "invalid header name"),
            ("X\0", b"v", "invalid header name"),
        ] {
            let r = Response::text(200, "x").with(name, value);
            let e = validate(&r).unwrap_err();
            assert!(e.contains(says), "{e}");
        }
    }

    #[test]
    fn connection_close_from_a_handler() {
        assert!(Response::text(200, "x")
            .with("Connection", "Close")
            .asks_close());
        assert!(!Response::text(200, "x").asks_close());
        assert_eq!(reason(431), "Request Header Fields Too Large");
    }
}
