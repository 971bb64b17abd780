//! The HTTP client (SPEC §10): `http_get`, `http_post`, `http_put`, `http_delete`, `http_request`
//! on ureq 3 with rustls. A response of any status is a normal `{status, body, headers}`; only a
//! transport failure (refused, DNS, TLS, timeout) is `nil, err`. The exchange runs on a helper thread
//! (ureq cannot be sliced), awaited in cancellable slices.

use super::{fail, off_thread};
use crate::runtime::args::{self, io_error_text};
use mlua::{Lua, MultiValue, Table, Value as LuaValue};
use std::time::Duration;
use ureq::http;

/// A request's timeout when none is given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Redirects followed before giving up.
const MAX_REDIRECTS: u32 = 10;

/// One request, independent of Lua (so `import` can fetch with it too).
pub struct Request {
    /// Upper-case method (`GET`, `PATCH`, ...).
    pub method: String,
    /// `http://` or `https://` URL.
    pub url: String,
    /// The request body; `None` sends none.
    pub body: Option<Vec<u8>>,
    /// Extra request headers, as given.
    pub headers: Vec<(String, String)>,
    /// Bound on the whole exchange, redirects and body included.
    pub timeout: Duration,
    /// Follow up to ten redirects; otherwise a 3xx is returned as it is.
    pub follow_redirects: bool,
    /// Skip certificate verification (self-signed test servers).
    pub insecure: bool,
    /// A PEM file of trust anchors used instead of the built-in Mozilla roots.
    pub ca_file: Option<String>,
}

impl Request {
    /// A GET of `url` with the defaults.
    pub fn get(url: &str) -> Request {
        Request {
            method: "GET".into(),
            url: url.into(),
            body: None,
            headers: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            follow_redirects: true,
            insecure: false,
            ca_file: None,
        }
    }
}

/// A response of any status. Header names are lower-case; repeated headers are joined with `, `.
pub struct Response {
    /// The status code, whatever it is.
    pub status: u16,
    /// The body bytes, exactly as received.
    pub body: Vec<u8>,
    /// Lower-case names, in order of first appearance.
    pub headers: Vec<(String, String)>,
}

/// Performs `req` on the calling thread. The error is a sentence for a person:
/// `GET http://127.0.0.1:1/: connection refused`.
pub fn perform(req: &Request) -> Result<Response, String> {
    let fail = |what: String| format!("{} {}: {what}", req.method, req.url);
    let mut tls = ureq::tls::TlsConfig::builder().disable_verification(req.insecure);
    if let Some(path) = &req.ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| fail(format!("cannot read ca_file {path}: {}", io_error_text(&e))))?;
        let certs = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| fail(format!("bad ca_file {path}: {e}")))?;
        if certs.is_empty() {
            return Err(fail(format!("ca_file {path} holds no certificate")));
        }
        tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global((req.timeout < args::NO_LIMIT).then_some(req.timeout))
        .max_redirects(if req.follow_redirects {
            MAX_REDIRECTS
        } else {
            0
        })
        .max_redirects_will_error(req.follow_redirects)
        .user_agent(concat!("solvm/", env!("CARGO_PKG_VERSION")))
        .allow_non_standard_methods(true)
        .tls_config(tls.build())
        .build()
        .into();
    let mut builder = http::Request::builder()
        .method(req.method.as_str())
        .uri(req.url.as_str());
    for (k, v) in &req.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let result = match &req.body {
        Some(body) => builder
            .body(body.clone())
            .map_err(|e| fail(e.to_string()))
            .and_then(|r| agent.run(r).map_err(|e| fail(describe(&e, req.timeout)))),
        None => builder
            .body(())
            .map_err(|e| fail(e.to_string()))
            .and_then(|r| agent.run(r).map_err(|e| fail(describe(&e, req.timeout)))),
    };
    let resp = result?;
    let status = resp.status().as_u16();
    let mut headers: Vec<(String, String)> = Vec::new();
    for (name, value) in resp.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match headers.iter_mut().find(|(n, _)| n == name.as_str()) {
            Some((_, v)) => {
                v.push_str(", ");
                v.push_str(&value);
            }
            None => headers.push((name.as_str().to_string(), value)),
        }
    }
    let body = resp
        .into_body()
        .into_with_config()
        .limit(u64::MAX)
        .read_to_vec()
        .map_err(|e| fail(describe(&e, req.timeout)))?;
    Ok(Response {
        status,
        body,
        headers,
    })
}

/// ureq's error in words a person understands.
fn describe(e: &ureq::Error, timeout: Duration) -> String {
    match e {
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            format!("timeout after {}s", timeout.as_secs_f64())
        }
        ureq::Error::Io(io) => super::io_failure_text(io),
        ureq::Error::Timeout(_) => format!("timeout after {}s", timeout.as_secs_f64()),
        ureq::Error::HostNotFound => "no such host".into(),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        ureq::Error::TooManyRedirects => "too many redirects".into(),
        ureq::Error::BadUri(u) => format!("invalid URL ({u})"),
        ureq::Error::Tls(t) => format!("TLS error: {t}"),
        ureq::Error::Rustls(t) => super::tls_error_text(t),
        other => other.to_string(),
    }
}

/// Performs `req` from Lua: on a helper thread, waiting in cancellable slices.
pub fn perform_from_lua(lua: &Lua, req: Request) -> mlua::Result<Result<Response, String>> {
    off_thread(lua, "http", move || perform(&req))
}

/// Installs the five HTTP functions.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    let g = lua.globals();
    g.set(
        "http_get",
        lua.create_function(|lua, a: MultiValue| simple(lua, &a, "http_get", "GET", false))?,
    )?;
    g.set(
        "http_post",
        lua.create_function(|lua, a: MultiValue| simple(lua, &a, "http_post", "POST", true))?,
    )?;
    g.set(
        "http_put",
        lua.create_function(|lua, a: MultiValue| simple(lua, &a, "http_put", "PUT", true))?,
    )?;
    g.set(
        "http_delete",
        lua.create_function(|lua, a: MultiValue| simple(lua, &a, "http_delete", "DELETE", false))?,
    )?;
    g.set("http_request", lua.create_function(http_request)?)?;
    Ok(())
}

/// `http_get(url, [headers])`, `http_post(url, body, [headers])` and the like.
fn simple(
    lua: &Lua,
    a: &MultiValue,
    func: &str,
    method: &str,
    with_body: bool,
) -> mlua::Result<MultiValue> {
    let mut req = Request::get(&url_arg(lua, a, 1, func)?);
    req.method = method.into();
    let mut pos = 2;
    if with_body {
        req.body = body_arg(lua, a, 2, func)?;
        pos = 3;
    }
    req.headers = headers_arg(a, pos, func)?;
    send(lua, req)
}

/// `http_request(method, url, [body], [headers], [options])`.
fn http_request(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let func = "http_request";
    let method = args::check_string(lua, &a, 1, func)?
        .to_string_lossy()
        .to_uppercase();
    if method.is_empty()
        || !method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(args::arg_error(1, func, "invalid HTTP method"));
    }
    let mut req = Request::get(&url_arg(lua, &a, 2, func)?);
    req.method = method;
    req.body = body_arg(lua, &a, 3, func)?;
    req.headers = headers_arg(&a, 4, func)?;
    match a.get(4) {
        None | Some(LuaValue::Nil) => {}
        Some(LuaValue::Table(opts)) => apply_options(&mut req, opts)?,
        Some(v) => return Err(args::bad_argument(5, func, "table", v)),
    }
    send(lua, req)
}

fn apply_options(req: &mut Request, opts: &Table) -> mlua::Result<()> {
    let func = "http_request";
    match opts.get::<LuaValue>("timeout")? {
        LuaValue::Nil => {}
        LuaValue::Integer(_) | LuaValue::Number(_) => {
            let secs = opts.get::<f64>("timeout")?;
            match args::seconds_to_duration(secs) {
                Ok(d) if !d.is_zero() => req.timeout = d,
                _ => {
                    return Err(args::arg_error(
                        5,
                        func,
                        "timeout must be a positive number",
                    ))
                }
            }
        }
        _ => {
            return Err(args::arg_error(
                5,
                func,
                "timeout must be a positive number",
            ))
        }
    }
    let flag = |name: &str, default: bool| -> mlua::Result<bool> {
        match opts.get::<LuaValue>(name)? {
            LuaValue::Nil => Ok(default),
            LuaValue::Boolean(b) => Ok(b),
            _ => Err(args::arg_error(
                5,
                func,
                &format!("{name} must be a boolean"),
            )),
        }
    };
    req.follow_redirects = flag("follow_redirects", true)?;
    req.insecure = flag("insecure", false)?;
    req.ca_file = match opts.get::<LuaValue>("ca_file")? {
        LuaValue::Nil => None,
        LuaValue::String(s) => Some(s.to_string_lossy().to_string()),
        _ => return Err(args::arg_error(5, func, "ca_file must be a string")),
    };
    Ok(())
}

fn send(lua: &Lua, req: Request) -> mlua::Result<MultiValue> {
    match perform_from_lua(lua, req)? {
        Ok(resp) => {
            let headers = lua.create_table()?;
            for (k, v) in &resp.headers {
                headers.set(k.as_str(), v.as_str())?;
            }
            let t = lua.create_table()?;
            t.set("status", resp.status)?;
            t.set("body", lua.create_string(&resp.body)?)?;
            t.set("headers", headers)?;
            Ok(MultiValue::from_iter([LuaValue::Table(t)]))
        }
        Err(msg) => fail(lua, msg),
    }
}

/// Argument `pos` as an `http://` or `https://` URL (shared with `ft`).
pub fn url_arg(lua: &Lua, a: &MultiValue, pos: usize, func: &str) -> mlua::Result<String> {
    let url = args::check_string(lua, a, pos, func)?
        .to_string_lossy()
        .to_string();
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(args::arg_error(
            pos,
            func,
            "URL must start with http:// or https://",
        ));
    }
    Ok(url)
}

fn body_arg(lua: &Lua, a: &MultiValue, pos: usize, func: &str) -> mlua::Result<Option<Vec<u8>>> {
    match a.get(pos - 1) {
        None | Some(LuaValue::Nil) => Ok(None),
        Some(_) => Ok(Some(
            args::check_string(lua, a, pos, func)?.as_bytes().to_vec(),
        )),
    }
}

fn headers_arg(a: &MultiValue, pos: usize, func: &str) -> mlua::Result<Vec<(String, String)>> {
    let t = match a.get(pos - 1) {
        None | Some(LuaValue::Nil) => return Ok(Vec::new()),
        Some(LuaValue::Table(t)) => t,
        Some(v) => return Err(args::bad_argument(pos, func, "table", v)),
    };
    let mut out = Vec::new();
    for pair in t.pairs::<LuaValue, LuaValue>() {
        let (k, v) = pair?;
        let text = |v: &LuaValue| match v {
            LuaValue::String(s) => Some(s.to_string_lossy().to_string()),
            LuaValue::Integer(i) => Some(i.to_string()),
            LuaValue::Number(n) => Some(n.to_string()),
            LuaValue::Boolean(b) => Some(b.to_string()),
            _ => None,
        };
        match (text(&k), text(&v)) {
            (Some(k), Some(v)) => out.push((k, v)),
            _ => {
                return Err(args::arg_error(
                    pos,
                    func,
                    "headers must map names to strings",
                ))
            }
        }
    }
    Ok(out)
}
