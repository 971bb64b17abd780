//! Reading requests, held to RFC 9112 (SPEC §12): the request line by hand (so every version and
//! target rule gives the RFC's answer), the header fields with `httparse`, then the framing rules
//! that keep request smuggling out. Pure functions over bytes: the connection layer feeds them
//! what arrived. Every refusal carries the status to answer with; the connection closes after it.

use super::path;

/// Most bytes the request line and header fields may take (the answer past it is 431).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most bytes the request target may take (414 past it), as nginx's default buffer.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Most header fields a request may have (431 past it).
pub const MAX_HEADERS: usize = 100;
/// Longest chunk-size line (with extensions) accepted.
const MAX_CHUNK_LINE: usize = 4096;

/// A request the server refuses: answer with `status` and close the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reject {
    pub status: u16,
    pub why: &'static str,
}

const fn reject(status: u16, why: &'static str) -> Reject {
    Reject { status, why }
}

/// How the body of a request is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(usize),
    Chunked,
}

/// The form of the request target (RFC 9112 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetForm {
    Origin,
    Absolute,
    /// `OPTIONS *`: answered by the server itself.
    Asterisk,
}

/// A parsed request head.
#[derive(Debug)]
pub struct Head {
    pub method: String,
    pub form: TargetForm,
    /// The path as sent (origin-form), or the path part of an absolute-form target.
    pub raw_path: Vec<u8>,
    /// Everything after the first `?` (raw).
    pub query: Vec<u8>,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1 and later 1.x (served as 1.1, RFC 9110 §2.5).
    pub minor: u8,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    pub framing: Framing,
    pub keep_alive: bool,
    pub expect_continue: bool,
}

impl Head {
    /// The first header named `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// Whether header `name` lists `token` (comma-separated, case-insensitive).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .any(|(_, v)| {
                v.split(|&b| b == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
            })
    }
}

/// Where the end of a head is: the index just past the empty line ending it, searching `buf`
/// from `from` (what an earlier search already covered, so a head trickling in is scanned once).
pub fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from.saturating_sub(3);
    while let Some(off) = buf.get(i..)?.iter().position(|&b| b == b'\n') {
        let lf = i + off;
        // An empty line: LF, or CR LF, right after the previous LF.
        if lf >= 1 && buf[lf - 1] == b'\n'
            || lf >= 2 && buf[lf - 1] == b'\r' && buf[lf - 2] == b'\n'
        {
            return Some(lf + 1);
        }
        i = lf + 1;
    }
    None
}

/// Blank lines a client may send before a request (RFC 9112 §2.2): how many bytes of them lead
/// `buf`.
pub fn leading_blank_lines(buf: &[u8]) -> usize {
    let mut i = 0;
    loop {
        if buf[i..].starts_with(b"\r\n") {
            i += 2;
        } else if buf[i..].starts_with(b"\n") {
            i += 1;
        } else {
            return i;
        }
    }
}

/// What can be said about a head that has not ended yet: 414 once the request line alone is too
/// long, 431 once the head is.
pub fn check_incomplete(buf: &[u8]) -> Result<(), Reject> {
    let line_end = buf.iter().position(|&b| b == b'\n');
    // Method, spaces and version take a few dozen bytes beyond the target.
    if line_end.is_none() && buf.len() > MAX_URI_BYTES + 64 {
        return Err(reject(414, "URI too long"));
    }
    if buf.len() > MAX_HEAD_BYTES {
        return Err(reject(431, "request header fields too large"));
    }
    Ok(())
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Parses a complete head, `head` being everything up to and including its empty line.
pub fn parse_head(head: &[u8], max_body: usize) -> Result<Head, Reject> {
    if head.len() > MAX_HEAD_BYTES {
        return Err(reject(431, "request header fields too large"));
    }
    let line_end = head
        .iter()
        .position(|&b| b == b'\n')
        .ok_or(reject(400, "malformed request line"))?;
    let line = head[..line_end]
        .strip_suffix(b"\r")
        .unwrap_or(&head[..line_end]);
    let (method, target, minor) = parse_request_line(line)?;
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let fields = &head[line_end + 1..];
    let parsed = match httparse::parse_headers(fields, &mut slots) {
        Ok(httparse::Status::Complete((_, parsed))) => parsed,
        Ok(httparse::Status::Partial) => return Err(reject(400, "malformed header section")),
        Err(httparse::Error::TooManyHeaders) => return Err(reject(431, "too many header fields")),
        Err(_) => return Err(reject(400, "malformed header field")),
    };
    let headers: Vec<(String, Vec<u8>)> = parsed
        .iter()
        .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
        .collect();
    let (form, raw_path, query) = split_target(&method, target)?;
    let mut req = Head {
        method,
        form,
        raw_path,
        query,
        minor,
        headers,
        framing: Framing::None,
        keep_alive: false,
        expect_continue: false,
    };
    check_host(&req)?;
    req.framing = framing(&req, max_body)?;
    req.keep_alive = if minor == 0 {
        req.has_token("connection", "keep-alive") && !req.has_token("connection", "close")
    } else {
        !req.has_token("connection", "close")
    };
    req.expect_continue = match req.header("expect") {
        None => false,
        Some(v) if v.trim_ascii().eq_ignore_ascii_case(b"100-continue") => minor >= 1,
        Some(_) => return Err(reject(417, "unsupported Expect header")),
    };
    Ok(req)
}

/// `method SP request-target SP HTTP-version`, with single spaces (RFC 9112 §3).
fn parse_request_line(line: &[u8]) -> Result<(String, &[u8], u8), Reject> {
    let bad = reject(400, "malformed request line");
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad);
    };
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(bad);
    }
    if target.is_empty() {
        return Err(bad);
    }
    if target.len() > MAX_URI_BYTES {
        return Err(reject(414, "URI too long"));
    }
    let minor = match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            if *major != b'1' {
                return Err(reject(505, "HTTP version not supported"));
            }
            // HTTP/1.x with x > 1 is served as 1.1 (RFC 9110 §2.5).
            (minor - b'0').min(1)
        }
        _ => return Err(bad),
    };
    // Visible ASCII and obs-text only: no controls, no DEL, no fragment.
    if target.iter().any(|&b| b < 0x21 || b == 0x7f || b == b'#') {
        return Err(bad);
    }
    let method = String::from_utf8(method.to_vec()).map_err(|_| bad)?;
    Ok((method, target, minor))
}

/// The target's form, path and query. Absolute-form only when it starts with `http://` or
/// `https://`: a `://` anywhere else is an ordinary path byte.
fn split_target(method: &str, target: &[u8]) -> Result<(TargetForm, Vec<u8>, Vec<u8>), Reject> {
    let split = |t: &[u8]| -> (Vec<u8>, Vec<u8>) {
        match t.iter().position(|&b| b == b'?') {
            Some(q) => (t[..q].to_vec(), t[q + 1..].to_vec()),
            None => (t.to_vec(), Vec::new()),
        }
    };
    if target == b"*" {
        if method != "OPTIONS" {
            return Err(reject(400, "'*' is only a target for OPTIONS"));
        }
        return Ok((TargetForm::Asterisk, b"*".to_vec(), Vec::new()));
    }
    if target.starts_with(b"/") {
        let (p, q) = split(target);
        return Ok((TargetForm::Origin, p, q));
    }
    let lower: Vec<u8> = target.iter().take(8).map(u8::to_ascii_lowercase).collect();
    let scheme = if lower.starts_with(b"http://") {
        7
    } else if lower.starts_with(b"https://") {
        8
    } else {
        return Err(reject(400, "malformed request target"));
    };
    let rest = &target[scheme..];
    let end = rest
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(rest.len());
    if end == 0 || rest[..end].contains(&b'@') {
        return Err(reject(400, "malformed request target"));
    }
    let (p, q) = split(&rest[end..]);
    let p = if p.is_empty() { b"/".to_vec() } else { p };
    Ok((TargetForm::Absolute, p, q))
}

/// Exactly one `Host` in HTTP/1.1, at most one in 1.0, with a value that can be a host.
fn check_host(req: &Head) -> Result<(), Reject> {
    let mut hosts = req.headers.iter().filter(|(n, _)| n == "host");
    let first = hosts.next();
    if hosts.next().is_some() {
        return Err(reject(400, "more than one Host header"));
    }
    match first {
        None if req.minor >= 1 => Err(reject(400, "missing required Host header")),
        None => Ok(()),
        Some((_, v)) => {
            let ok = v
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"-._~:[]!$&'()*+,;=%@".contains(&b));
            if ok {
                Ok(())
            } else {
                Err(reject(400, "malformed Host header"))
            }
        }
    }
}

/// The body's framing (RFC 9112 §6): `Transfer-Encoding` with `Content-Length` is refused, as is
/// any coding but a lone `chunked`, and any `Content-Length` but one plain number.
fn framing(req: &Head, max_body: usize) -> Result<Framing, Reject> {
    let te: Vec<&[u8]> = req
        .headers
        .iter()
        .filter(|(n, _)| n == "transfer-encoding")
        .map(|(_, v)| v.as_slice())
        .collect();
    let cl: Vec<&[u8]> = req
        .headers
        .iter()
        .filter(|(n, _)| n == "content-length")
        .map(|(_, v)| v.as_slice())
        .collect();
    if !te.is_empty() {
        if req.minor == 0 {
            return Err(reject(400, "Transfer-Encoding in an HTTP/1.0 request"));
        }
        if !cl.is_empty() {
            return Err(reject(
                400,
                "both Transfer-Encoding and Content-Length in one request",
            ));
        }
        if te.len() != 1 || !te[0].trim_ascii().eq_ignore_ascii_case(b"chunked") {
            return Err(reject(501, "unsupported transfer coding"));
        }
        return Ok(Framing::Chunked);
    }
    match cl.as_slice() {
        [] => Ok(Framing::None),
        [v] => {
            let v = v.trim_ascii();
            if v.is_empty() || !v.iter().all(u8::is_ascii_digit) || v.len() > 19 {
                return Err(reject(400, "malformed Content-Length"));
            }
            let n: u64 = std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or(reject(400, "malformed Content-Length"))?;
            match usize::try_from(n) {
                Ok(n) if n <= max_body => Ok(Framing::Length(n)),
                _ => Err(reject(413, "request body too large")),
            }
        }
        _ => Err(reject(400, "more than one Content-Length header")),
    }
}

/// Decodes a chunked body as it arrives (RFC 9112 §7.1), strictly: a chunk size is hex digits and
/// nothing else (extensions after it are checked and ignored), every line ends in CRLF, and the
/// trailer section is checked and dropped.
#[derive(Debug, Default)]
pub struct Chunked {
    state: ChunkState,
    /// Bytes of the trailer section so far.
    trailer_bytes: usize,
}

#[derive(Debug, Default, PartialEq, Eq)]
enum ChunkState {
    #[default]
    Size,
    Data(usize),
    DataEnd,
    Trailer,
    Done,
}

impl Chunked {
    /// Consumes what it can of `input`, appending chunk data to `body`. Returns the bytes used
    /// and whether the body is complete.
    pub fn feed(
        &mut self,
        input: &[u8],
        body: &mut Vec<u8>,
        max_body: usize,
    ) -> Result<(usize, bool), Reject> {
        let mut at = 0;
        loop {
            let rest = &input[at..];
            match self.state {
                ChunkState::Done => return Ok((at, true)),
                ChunkState::Size => {
                    let Some(line) = crlf_line(rest, MAX_CHUNK_LINE)? else {
                        return Ok((at, false));
                    };
                    at += line.len() + 2;
                    let size = chunk_size(line)?;
                    if body.len().saturating_add(size) > max_body {
                        return Err(reject(413, "request body too large"));
                    }
                    self.state = if size == 0 {
                        ChunkState::Trailer
                    } else {
                        ChunkState::Data(size)
                    };
                }
                ChunkState::Data(left) => {
                    let n = left.min(rest.len());
                    if n == 0 {
                        return Ok((at, false));
                    }
                    body.extend_from_slice(&rest[..n]);
                    at += n;
                    self.state = match left - n {
                        0 => ChunkState::DataEnd,
                        more => ChunkState::Data(more),
                    };
                }
                ChunkState::DataEnd => {
                    if rest.len() < 2 {
                        if rest.first().is_some_and(|&b| b != b'\r') {
                            return Err(reject(400, "chunk data not followed by CRLF"));
                        }
                        return Ok((at, false));
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err(reject(400, "chunk data not followed by CRLF"));
                    }
                    at += 2;
                    self.state = ChunkState::Size;
                }
                ChunkState::Trailer => {
                    let Some(line) = crlf_line(rest, MAX_HEAD_BYTES)? else {
                        return Ok((at, false));
                    };
                    at += line.len() + 2;
                    self.trailer_bytes += line.len() + 2;
                    if self.trailer_bytes > MAX_HEAD_BYTES {
                        return Err(reject(431, "request trailer section too large"));
                    }
                    if line.is_empty() {
                        self.state = ChunkState::Done;
                    } else {
                        check_trailer_field(line)?;
                    }
                }
            }
        }
    }
}

/// The line at the start of `buf` (without its CRLF), or `None` if it has not ended yet. A bare
/// LF, or a line longer than `max`, is refused.
fn crlf_line(buf: &[u8], max: usize) -> Result<Option<&[u8]>, Reject> {
    match buf.iter().position(|&b| b == b'\n') {
        Some(lf) if lf >= 1 && buf[lf - 1] == b'\r' && lf - 1 <= max => Ok(Some(&buf[..lf - 1])),
        Some(lf) if lf > max => Err(reject(400, "chunked line too long")),
        Some(_) => Err(reject(400, "chunked line without CRLF")),
        None if buf.len() > max + 1 => Err(reject(400, "chunked line too long")),
        None => Ok(None),
    }
}

/// `chunk-size [ chunk-ext ]`: 1*HEXDIG, then `*( BWS ";" BWS name [ BWS "=" BWS value ] )`.
fn chunk_size(line: &[u8]) -> Result<usize, Reject> {
    let bad = reject(400, "malformed chunk size");
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(bad);
    }
    let text = std::str::from_utf8(&line[..digits]).map_err(|_| bad)?;
    let significant = text.trim_start_matches('0');
    let size = if significant.is_empty() {
        0
    } else {
        u64::from_str_radix(significant, 16)
            .ok()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or(reject(400, "chunk size too large"))?
    };
    let mut ext = &line[digits..];
    let bws = |s: &mut &[u8]| {
        while let [b' ' | b'\t', rest @ ..] = *s {
            *s = rest;
        }
    };
    let token = |s: &mut &[u8]| -> bool {
        let n = s.iter().take_while(|&&b| is_tchar(b)).count();
        *s = &s[n..];
        n > 0
    };
    while !ext.is_empty() {
        bws(&mut ext);
        let [b';', rest @ ..] = ext else {
            return Err(bad);
        };
        ext = rest;
        bws(&mut ext);
        if !token(&mut ext) {
            return Err(bad);
        }
        let mut look = ext;
        bws(&mut look);
        if let [b'=', rest @ ..] = look {
            ext = rest;
            bws(&mut ext);
            if let [b'"', rest @ ..] = ext {
                ext = quoted_rest(rest).ok_or(bad)?;
            } else if !token(&mut ext) {
                return Err(bad);
            }
        }
    }
    Ok(size)
}

/// What follows a quoted-string whose opening quote is already consumed.
fn quoted_rest(mut s: &[u8]) -> Option<&[u8]> {
    loop {
        match s {
            [b'"', rest @ ..] => return Some(rest),
            [b'\\', c, rest @ ..] if *c == b'\t' || (0x20..0x7f).contains(c) || *c >= 0x80 => {
                s = rest
            }
            [c, rest @ ..] if *c == b'\t' || (0x20..0x7f).contains(c) || *c >= 0x80 => s = rest,
            _ => return None,
        }
    }
}

/// A trailer field line: a token name, a colon, a value without controls (no obs-fold).
fn check_trailer_field(line: &[u8]) -> Result<(), Reject> {
    let bad = reject(400, "malformed trailer field");
    let colon = line.iter().position(|&b| b == b':').ok_or(bad)?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(bad);
    }
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(bad);
    }
    Ok(())
}

/// The path checks of [`path::check`], for a head's origin- or absolute-form target.
pub fn route_path(head: &Head) -> path::Checked {
    path::check(&head.raw_path)
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
