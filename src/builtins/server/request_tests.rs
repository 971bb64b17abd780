//! Unit tests of the request parser: each rule of SPEC §12 that lives in pure parsing. The
//! end-to-end conformance table (bytes on a socket → status, close, handler ran) is in
//! tests/server_conformance.rs.

use super::*;

const MAX: usize = 1 << 20;

fn head(raw: &str) -> Result<Head, Reject> {
    let bytes = raw.as_bytes();
    let end = find_head_end(bytes, 0).expect("a complete head");
    parse_head(&bytes[..end], MAX)
}

fn status(raw: &str) -> u16 {
    match head(raw) {
        Ok(_) => 200,
        Err(r) => r.status,
    }
}

#[test]
fn a_plain_request() {
    let h = head("GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: h\r\nX-Thing: One\r\nx-thing: two\r\n\r\n")
        .unwrap();
    assert_eq!(h.method, "GET");
    assert_eq!(h.raw_path, b"/a/b");
    assert_eq!(h.query, b"x=1&y=2");
    assert_eq!(h.header("x-thing"), Some(&b"One"[..]));
    assert_eq!(h.headers.len(), 3);
    assert_eq!(h.form, TargetForm::Origin);
    assert_eq!(h.framing, Framing::None);
    assert!(h.keep_alive && !h.expect_continue);
}

#[test]
fn head_end_is_found_incrementally_with_crlf_or_lf() {
    let raw = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nrest";
    assert_eq!(find_head_end(raw, 0), Some(raw.len() - 4));
    for cut in 0..raw.len() - 4 {
        assert_eq!(find_head_end(&raw[..cut], 0), None, "cut {cut}");
    }
    // Scanning resumes where it stopped and still finds an end split across reads.
    assert_eq!(find_head_end(raw, 24), Some(raw.len() - 4));
    assert_eq!(find_head_end(b"GET / HTTP/1.1\nHost: x\n\nz", 0), Some(24));
    assert_eq!(leading_blank_lines(b"\r\n\n\r\nGET"), 5);
}

#[test]
fn versions() {
    assert_eq!(head("GET / HTTP/1.0\r\n\r\n").unwrap().minor, 0);
    // HTTP/1.x with x > 1 is served as 1.1.
    assert_eq!(head("GET / HTTP/1.7\r\nHost: x\r\n\r\n").unwrap().minor, 1);
    assert_eq!(status("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 505);
    assert_eq!(status("GET / HTTP/0.9\r\nHost: x\r\n\r\n"), 505);
    assert_eq!(status("GET / HTTP/3.0\r\nHost: x\r\n\r\n"), 505);
    for bad in [
        "HTTP/1.1 ",
        "HTTP/11",
        "HTTP/1.",
        "http/1.1",
        "HTTP/1.1x",
        "HTTP/a.1",
    ] {
        assert_eq!(
            status(&format!("GET / {bad}\r\nHost: x\r\n\r\n")),
            400,
            "{bad}"
        );
    }
}

#[test]
fn request_line_shape() {
    for bad in [
        "GET  / HTTP/1.1",
        "GET / HTTP/1.1 ",
        " GET / HTTP/1.1",
        "GET\t/ HTTP/1.1",
        "G(T / HTTP/1.1",
        "GET /a b HTTP/1.1",
        "GET /a#frag HTTP/1.1",
        "GET /a\x01 HTTP/1.1",
        "GET /a\x7f HTTP/1.1",
        "GET",
        "",
    ] {
        assert_eq!(status(&format!("{bad}\r\nHost: x\r\n\r\n")), 400, "{bad:?}");
    }
    // Any token is a method; routing decides what it does.
    assert_eq!(status("PURGE / HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
    // Non-ASCII bytes in a path are obs-text, allowed as nginx and Go do.
    assert_eq!(status("GET /caf\u{e9} HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
}

#[test]
fn targets() {
    let h = head("GET http://example.com/a/b?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n").unwrap();
    assert_eq!(
        (h.form, &h.raw_path[..], &h.query[..]),
        (TargetForm::Absolute, &b"/a/b"[..], &b"q=1"[..])
    );
    let h = head("GET HTTPS://example.com HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(h.raw_path, b"/");
    let h = head("GET https://example.com?x HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!((&h.raw_path[..], &h.query[..]), (&b"/"[..], &b"x"[..]));
    // `://` inside a path is an ordinary path byte.
    let h = head("GET /public/x://y/admin HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(h.raw_path, b"/public/x://y/admin");
    assert_eq!(h.form, TargetForm::Origin);
    assert_eq!(
        head("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n").unwrap().form,
        TargetForm::Asterisk
    );
    assert_eq!(status("GET * HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
    for bad in [
        "x://y/admin",
        "ftp://h/",
        "http://",
        "http:///a",
        "http://u@h/",
        "example.com:443",
        "a/b",
    ] {
        assert_eq!(
            status(&format!("GET {bad} HTTP/1.1\r\nHost: x\r\n\r\n")),
            400,
            "{bad}"
        );
    }
    assert_eq!(
        status("CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n"),
        400
    );
}

#[test]
fn uri_and_head_limits() {
    let long = "a".repeat(MAX_URI_BYTES);
    assert_eq!(
        status(&format!("GET /{long} HTTP/1.1\r\nHost: x\r\n\r\n")),
        414
    );
    let ok = "a".repeat(MAX_URI_BYTES - 1);
    assert_eq!(
        status(&format!("GET /{ok} HTTP/1.1\r\nHost: x\r\n\r\n")),
        200
    );
    // Before the line ends: 414 as soon as it cannot fit any more.
    let partial = format!("GET /{}", "a".repeat(MAX_URI_BYTES + 100));
    assert_eq!(
        check_incomplete(partial.as_bytes()).unwrap_err().status,
        414
    );
    // A head over the limit is 431 whether it is complete or not.
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(MAX_HEAD_BYTES)
    );
    assert_eq!(status(&big), 431);
    assert_eq!(
        check_incomplete(&big.as_bytes()[..MAX_HEAD_BYTES + 1])
            .unwrap_err()
            .status,
        431
    );
    assert!(check_incomplete(&big.as_bytes()[..1000]).is_ok());
    let many: String = (0..MAX_HEADERS).map(|i| format!("h{i}: v\r\n")).collect();
    assert_eq!(
        status(&format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n")),
        431
    );
}

#[test]
fn host_rules() {
    assert_eq!(status("GET / HTTP/1.1\r\n\r\n"), 400);
    assert_eq!(status("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), 400);
    assert_eq!(status("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
    assert_eq!(status("GET / HTTP/1.0\r\n\r\n"), 200);
    assert_eq!(status("GET / HTTP/1.1\r\nHost:\r\n\r\n"), 200);
    assert_eq!(status("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"), 200);
    assert_eq!(status("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400);
    assert_eq!(status("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400);
}

#[test]
fn header_field_syntax() {
    for bad in [
        "Host: x\r\nX-A : 1",
        "Host: x\r\nX-A: 1\r\n folded",
        "Host: x\r\n\tX-A: 1",
        "Host: x\r\nX A: 1",
        "Host: x\r\nX-A: a\0b",
        "Host: x\r\nX-A: a\rb",
        "Host: x\r\n: empty-name",
        "Host: x\r\nX-(A): 1",
    ] {
        assert_eq!(
            status(&format!("GET / HTTP/1.1\r\n{bad}\r\n\r\n")),
            400,
            "{bad:?}"
        );
    }
    // obs-text in a value is allowed.
    assert_eq!(
        status("GET / HTTP/1.1\r\nHost: x\r\nX-A: caf\u{e9}\r\n\r\n"),
        200
    );
}

#[test]
fn framing_rules() {
    let f = |extra: &str| head(&format!("POST / HTTP/1.1\r\nHost: x\r\n{extra}\r\n"));
    assert_eq!(
        f("Content-Length: 5\r\n").unwrap().framing,
        Framing::Length(5)
    );
    assert_eq!(
        f("Content-Length: 0\r\n").unwrap().framing,
        Framing::Length(0)
    );
    assert_eq!(
        f("Transfer-Encoding: chunked\r\n").unwrap().framing,
        Framing::Chunked
    );
    assert_eq!(
        f("Transfer-Encoding: Chunked \r\n").unwrap().framing,
        Framing::Chunked
    );
    let code = |extra: &str| f(extra).map(|_| 200).unwrap_or_else(|r| r.status);
    // Smuggling pairs.
    assert_eq!(
        code("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"),
        400
    );
    assert_eq!(
        code("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
        400
    );
    assert_eq!(
        code("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
        501
    );
    assert_eq!(code("Transfer-Encoding: chunked, identity\r\n"), 501);
    assert_eq!(code("Transfer-Encoding: gzip, chunked\r\n"), 501);
    assert_eq!(code("Transfer-Encoding: xchunked\r\n"), 501);
    assert_eq!(code("Transfer-Encoding: identity\r\n"), 501);
    assert_eq!(code("Transfer-Encoding:\r\n"), 501);
    assert_eq!(code("Content-Length: 5\r\nContent-Length: 6\r\n"), 400);
    assert_eq!(code("Content-Length: 5\r\nContent-Length: 5\r\n"), 400);
    assert_eq!(code("Content-Length: 5, 5\r\n"), 400);
    assert_eq!(code("Content-Length: +5\r\n"), 400);
    assert_eq!(code("Content-Length: -1\r\n"), 400);
    assert_eq!(code("Content-Length: 0x5\r\n"), 400);
    assert_eq!(code("Content-Length:\r\n"), 400);
    assert_eq!(code("Content-Length: 99999999999999999999999\r\n"), 400);
    assert_eq!(code(&format!("Content-Length: {}\r\n", MAX + 1)), 413);
    let te10 = head("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!(te10.unwrap_err().status, 400);
}

#[test]
fn connection_and_expect() {
    assert!(!head("GET / HTTP/1.0\r\n\r\n").unwrap().keep_alive);
    assert!(
        head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap()
            .keep_alive
    );
    assert!(
        !head("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap()
            .keep_alive
    );
    assert!(
        !head("GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, Close\r\n\r\n")
            .unwrap()
            .keep_alive
    );
    let h = head("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n");
    assert!(h.unwrap().expect_continue);
    assert_eq!(
        status("GET / HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n"),
        417
    );
}

fn chunked(input: &[u8]) -> Result<(Vec<u8>, usize, bool), Reject> {
    let mut c = Chunked::default();
    let mut body = Vec::new();
    let (used, done) = c.feed(input, &mut body, 100)?;
    Ok((body, used, done))
}

#[test]
fn chunked_bodies() {
    let (body, used, done) = chunked(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nNEXT").unwrap();
    assert_eq!((&body[..], used, done), (&b"hello world"[..], 26, true));
    // Extensions and trailers are checked, then dropped.
    let ok = b"5;a=b ; c=\"q\\\"d\";e\r\nhello\r\n0\r\nX-T: 1\r\n\r\n";
    assert_eq!(chunked(ok).unwrap().0, b"hello");
    assert_eq!(
        chunked(b"A\r\n0123456789\r\n0\r\n\r\n").unwrap().0,
        b"0123456789"
    );
    assert!(chunked(b"0000\r\n\r\n").unwrap().2);
    for bad in [
        &b"   5\r\nhello\r\n0\r\n\r\n"[..],
        b"+5\r\nhello\r\n0\r\n\r\n",
        b"0x5\r\nhello\r\n0\r\n\r\n",
        b"5 \r\nhello\r\n0\r\n\r\n",
        b"-5\r\nhello\r\n0\r\n\r\n",
        b"\r\nhello\r\n0\r\n\r\n",
        b"5\nhello\r\n0\r\n\r\n",
        b"5\r\nhelloXX0\r\n\r\n",
        b"5\r\nhello\n0\r\n\r\n",
        b"5;\r\nhello\r\n0\r\n\r\n",
        b"5;a=\r\nhello\r\n0\r\n\r\n",
        b"5;a=\"x\r\nhello\r\n0\r\n\r\n",
        b"5\r\nhello\r\n0\r\n folded\r\n\r\n",
        b"5\r\nhello\r\n0\r\nbad trailer\r\n\r\n",
        b"fffffffffffffffffff\r\n",
        b"10000000000000000\r\n",
    ] {
        let r = chunked(bad);
        assert!(
            matches!(r, Err(Reject { status: 400, .. })),
            "{:?} gave {r:?}",
            String::from_utf8_lossy(bad)
        );
    }
    assert_eq!(chunked(b"ff\r\n").unwrap_err().status, 413);
}

#[test]
fn chunked_bodies_arrive_in_any_pieces() {
    let whole = b"5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nT: v\r\n\r\n";
    for split in 0..whole.len() {
        let mut c = Chunked::default();
        let mut body = Vec::new();
        let (a, b) = whole.split_at(split);
        let (used, done) = c.feed(a, &mut body, 100).unwrap();
        assert!(!done || split == whole.len());
        let mut rest = a[used..].to_vec();
        rest.extend_from_slice(b);
        let (used2, done2) = c.feed(&rest, &mut body, 100).unwrap();
        assert!(done2, "split {split}");
        assert_eq!(used2, rest.len());
        assert_eq!(body, b"hello world");
    }
}
