//! SPEC §12 over raw sockets, as a table: request bytes → the status the server must answer,
//! whether the connection must close, and which handler (if any) ran. Covers framing (the
//! smuggling pairs CL+TE, TE+TE, a smuggled request behind a body), the request target and path
//! confusions, header syntax, limits, versions, and responses a handler builds badly.
//!
//! Whether a handler ran: every handler prints a line; after each case a request to `/sentinel`
//! on a fresh connection prints `sentinel`, and the lines before it are what the case ran.

mod server_support;

use server_support::Server;
use std::time::Duration;

const SCRIPT: &str = r#"
create_server("c", {port = 0, host = "127.0.0.1", max_body = 1000})
handle_http("c", "/", function(req)
  print("ran root " .. req.method .. " " .. req.path)
  return "root " .. req.path
end)
handle_http("c", "GET /admin", function(req) print("ran admin") return "admin" end)
handle_http("c", "/public/", function(req) print("ran public " .. req.path) return "public" end)
handle_http("c", "/static/{path...}", function(req)
  print("ran static " .. req.params.path)
  return "static " .. req.params.path
end)
handle_http("c", "POST /echo", function(req) print("ran echo " .. req.body) return req.body end)
handle_http("c", "PUT /only-put", function(req) print("ran put") return "put" end)
handle_http("c", "GET /sentinel", function(req) print("sentinel") return "s" end)
handle_http("c", "GET /bad/status100", function() print("ran bad") return {status = 100} end)
handle_http("c", "GET /bad/status600", function() print("ran bad") return {status = 600} end)
handle_http("c", "GET /bad/cr", function()
  print("ran bad")
  return {headers = {["X-A"] = "a\r\nInjected: 1"}, body = "x"}
end)
handle_http("c", "GET /bad/nul", function()
  print("ran bad")
  return {headers = {["X-A"] = "a\0b"}, body = "x"}
end)
handle_http("c", "GET /bad/name", function()
  print("ran bad")
  return {headers = {["Bad Name"] = "v"}, body = "x"}
end)
print(start_server("c"))
"#;

/// One row: what is sent, the status expected, whether the connection must close after it, and
/// the handler line expected (`None`: no handler may run).
struct Case {
    name: &'static str,
    send: Vec<u8>,
    status: u16,
    closes: bool,
    ran: Option<&'static str>,
}

fn case(
    name: &'static str,
    send: &str,
    status: u16,
    closes: bool,
    ran: Option<&'static str>,
) -> Case {
    Case {
        name,
        send: send.as_bytes().to_vec(),
        status,
        closes,
        ran,
    }
}

fn cases() -> Vec<Case> {
    let h = "Host: t\r\n";
    let big_head = format!(
        "GET / HTTP/1.1\r\n{h}X-Big: {}\r\n\r\n",
        "b".repeat(80 * 1024)
    );
    let long_uri = format!("GET /{} HTTP/1.1\r\n{h}\r\n", "a".repeat(9000));
    let many: String = (0..120).map(|i| format!("X-{i}: v\r\n")).collect();
    vec![
        // Framing (RFC 9112 §6) and smuggling.
        case("plain GET", &format!("GET /x HTTP/1.1\r\n{h}\r\n"), 200, false, Some("ran root GET /x")),
        case("CL+TE with a smuggled request", &format!("POST /echo HTTP/1.1\r\n{h}Content-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: t\r\n\r\n"), 400, true, None),
        case("TE+CL", &format!("POST /echo HTTP/1.1\r\n{h}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n"), 400, true, None),
        case("TE+TE", &format!("POST /echo HTTP/1.1\r\n{h}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n"), 501, true, None),
        case("TE chunked, identity", &format!("POST /echo HTTP/1.1\r\n{h}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"), 501, true, None),
        case("TE gzip, chunked", &format!("POST /echo HTTP/1.1\r\n{h}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"), 501, true, None),
        case("TE xchunked", &format!("POST /echo HTTP/1.1\r\n{h}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"), 501, true, None),
        case("TE in HTTP/1.0", "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, true, None),
        case("differing CL", &format!("POST /echo HTTP/1.1\r\n{h}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"), 400, true, None),
        case("CL list", &format!("POST /echo HTTP/1.1\r\n{h}Content-Length: 3, 3\r\n\r\nabc"), 400, true, None),
        case("CL with sign", &format!("POST /echo HTTP/1.1\r\n{h}Content-Length: +3\r\n\r\nabc"), 400, true, None),
        case("CL overflow", &format!("POST /echo HTTP/1.1\r\n{h}Content-Length: 99999999999999999999999\r\n\r\n"), 400, true, None),
        case("CL body", &format!("POST /echo HTTP/1.1\r\n{h}Content-Length: 5\r\n\r\nhello"), 200, false, Some("ran echo hello")),
        case("chunked body", &format!("POST /echo HTTP/1.1\r\n{h}Transfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nT: v\r\n\r\n"), 200, false, Some("ran echo hello")),
        case("chunk size with spaces", &format!("POST /echo HTTP/1.1\r\n{h}Transfer-Encoding: chunked\r\n\r\n   5\r\nhello\r\n0\r\n\r\n"), 400, true, None),
        case("chunk size with plus", &format!("POST /echo HTTP/1.1\r\n{h}Transfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n"), 400, true, None),
        case("chunk size 0x", &format!("POST /echo HTTP/1.1\r\n{h}Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n"), 400, true, None),
        case("chunk size overflow", &format!("POST /echo HTTP/1.1\r\n{h}Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nhello\r\n0\r\n\r\n"), 400, true, None),
        case("chunk without CRLF after data", &format!("POST /echo HTTP/1.1\r\n{h}Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n"), 400, true, None),
        case("body over max_body", &format!("POST /echo HTTP/1.1\r\n{h}Content-Length: 5000\r\n\r\n"), 413, true, None),
        case("chunked over max_body", &format!("POST /echo HTTP/1.1\r\n{h}Transfer-Encoding: chunked\r\n\r\n1000\r\n"), 413, true, None),
        // Host.
        case("no Host in 1.1", "GET / HTTP/1.1\r\n\r\n", 400, true, None),
        case("two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, true, None),
        case("1.0 without Host", "GET /ten HTTP/1.0\r\n\r\n", 200, true, Some("ran root GET /ten")),
        // Header syntax.
        case("obs-fold", &format!("GET / HTTP/1.1\r\n{h}X-A: 1\r\n folded\r\n\r\n"), 400, true, None),
        case("space before colon", &format!("GET / HTTP/1.1\r\n{h}X-A : 1\r\n\r\n"), 400, true, None),
        case("NUL in a value", &format!("GET / HTTP/1.1\r\n{h}X-A: a\0b\r\n\r\n"), 400, true, None),
        case("bad header name", &format!("GET / HTTP/1.1\r\n{h}X(A): 1\r\n\r\n"), 400, true, None),
        case("bad Expect", &format!("GET / HTTP/1.1\r\n{h}Expect: teapot\r\n\r\n"), 417, true, None),
        // Limits.
        case("head over 64 KiB in one write", &big_head, 431, true, None),
        case("too many headers", &format!("GET / HTTP/1.1\r\n{h}{many}\r\n"), 431, true, None),
        case("URI over 8 KiB", &long_uri, 414, true, None),
        // Versions.
        case("HTTP/1.2 served as 1.1", &format!("GET /v HTTP/1.2\r\n{h}\r\n"), 200, false, Some("ran root GET /v")),
        case("HTTP/2.0", &format!("GET / HTTP/2.0\r\n{h}\r\n"), 505, true, None),
        case("HTTP/0.9", &format!("GET / HTTP/0.9\r\n{h}\r\n"), 505, true, None),
        case("garbage request line", "GARBAGE\r\n\r\n", 400, true, None),
        // Request target.
        case("OPTIONS *", &format!("OPTIONS * HTTP/1.1\r\n{h}\r\n"), 200, false, None),
        case("GET *", &format!("GET * HTTP/1.1\r\n{h}\r\n"), 400, true, None),
        case("absolute-form", &format!("GET http://t/abs?q=1 HTTP/1.1\r\n{h}\r\n"), 200, false, Some("ran root GET /abs")),
        case(":// inside a path", &format!("GET /public/x://y/admin HTTP/1.1\r\n{h}\r\n"), 301, false, None),
        case("scheme-like relative target", &format!("GET x://y/admin HTTP/1.1\r\n{h}\r\n"), 400, true, None),
        case("fragment in target", &format!("GET /a#b HTTP/1.1\r\n{h}\r\n"), 400, true, None),
        // Paths, as Go's ServeMux, stricter.
        case("dot-dot", &format!("GET /public/../admin HTTP/1.1\r\n{h}\r\n"), 301, false, None),
        case("encoded dot-dot", &format!("GET /static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\n{h}\r\n"), 301, false, None),
        case("dot-dot behind an encoded slash", &format!("GET /static/..%2F..%2Fetc%2Fpasswd HTTP/1.1\r\n{h}\r\n"), 400, true, None),
        case("double slash", &format!("GET /static//a HTTP/1.1\r\n{h}\r\n"), 301, false, None),
        case("encoded slash stays in its segment", &format!("GET /static/a%2Fb HTTP/1.1\r\n{h}\r\n"), 200, false, Some("ran static a/b")),
        case("encoded NUL", &format!("GET /a%00b HTTP/1.1\r\n{h}\r\n"), 400, true, None),
        case("bad escape", &format!("GET /a%zz HTTP/1.1\r\n{h}\r\n"), 400, true, None),
        // Responses a handler builds.
        case("handler status 100", &format!("GET /bad/status100 HTTP/1.1\r\n{h}\r\n"), 500, false, Some("ran bad")),
        case("handler status 600", &format!("GET /bad/status600 HTTP/1.1\r\n{h}\r\n"), 500, false, Some("ran bad")),
        case("CR LF in a header value", &format!("GET /bad/cr HTTP/1.1\r\n{h}\r\n"), 500, false, Some("ran bad")),
        case("NUL in a header value", &format!("GET /bad/nul HTTP/1.1\r\n{h}\r\n"), 500, false, Some("ran bad")),
        case("invalid header name", &format!("GET /bad/name HTTP/1.1\r\n{h}\r\n"), 500, false, Some("ran bad")),
    ]
}

/// The handler lines printed since the last sentinel.
fn ran_since(s: &Server) -> Vec<String> {
    let r = s.get("/sentinel");
    assert_eq!(r.status, 200);
    let mut lines = Vec::new();
    loop {
        let line = s
            .lines
            .recv_timeout(Duration::from_secs(30))
            .expect("the sentinel line");
        if line == "sentinel" {
            return lines;
        }
        lines.push(line);
    }
}

#[test]
fn every_rule_of_spec_12_over_raw_sockets() {
    let s = Server::start("conformance", SCRIPT, &[]);
    let mut failures = Vec::new();
    for c in cases() {
        let mut client = s.connect();
        client.send_bytes(&c.send);
        let got = client.try_response();
        let status = got.as_ref().map(|r| r.status);
        // Open means it answers another request (one that runs no handler).
        client.send("OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n");
        let closes = client.try_response().map(|r| r.status) != Some(200);
        let ran = ran_since(&s);
        let want_ran: Vec<String> = c.ran.iter().map(|r| r.to_string()).collect();
        if status != Some(c.status) || closes != c.closes || ran != want_ran {
            failures.push(format!(
                "{}: got status {status:?}, closes {closes}, ran {ran:?}; want {}, closes {}, ran {want_ran:?}",
                c.name, c.status, c.closes
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    // Each bad handler response was reported, naming the problem.
    let err = s.stderr();
    for says in [
        "status 100",
        "status 600",
        "'X-A' with a CR",
        "'X-A' with a NUL",
        "invalid header name \"Bad Name\"",
    ] {
        assert!(err.contains(says), "no report saying {says:?} in:\n{err}");
    }
}

#[test]
fn answers_carry_what_the_rfc_asks_for() {
    let s = Server::start("conformance_headers", SCRIPT, &[]);
    // OPTIONS * lists methods and reaches no handler (405 with Allow: server_http.rs, where
    // no catch-all takes every method).
    let mut c = s.connect();
    c.send("OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.response();
    assert!(r.header("allow").is_some(), "{r:?}");
    // Redirects keep the query and go to the clean path.
    c.send("GET /public/../admin?x=1 HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.response();
    assert_eq!((r.status, r.header("location")), (301, Some("/admin?x=1")));
    c.send("GET /static/%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response().header("location"), Some("/etc/passwd"));
    // An HTTP/1.0 keep-alive answer says so; every answer has a Date.
    c.send("GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = c.response();
    assert_eq!(r.header("connection"), Some("keep-alive"));
    assert!(r.header("date").is_some_and(|d| d.ends_with(" GMT")));
    // A request whose head trickles in byte by byte is answered once complete.
    for b in b"GET /slowly HTTP/1.1\r\nHost: t\r\n\r\n" {
        c.send_bytes(&[*b]);
    }
    assert_eq!(c.response().text(), "root /slowly");
    // Pipelined requests come back in order; the smuggling attempt inside a valid body is just
    // a body.
    c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 32\r\n\r\nGET /admin HTTP/1.1\r\nHost: t\r\n\r\nGET /p1 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        c.response().text(),
        "GET /admin HTTP/1.1\r\nHost: t\r\n\r\n"
    );
    assert_eq!(c.response().text(), "root /p1");
    // Expect: 100-continue gets the interim answer before the body is sent.
    c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
    assert_eq!(c.response().status, 100);
    c.send("ok");
    assert_eq!(c.response().text(), "ok");
    // HEAD gets the headers of GET, no body.
    c.send("HEAD /admin HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.head_response();
    assert_eq!((r.status, r.header("content-length")), (200, Some("5")));
    c.send("GET /admin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(c.response().text(), "admin");
    assert!(c.closes());
}
