//! `url` (the `url` crate, WHATWG URL parsing; `percent-encoding` and `form_urlencoded` for the
//! codecs). `url.encode` is JavaScript's `encodeURIComponent` minus `!'()*`: every byte but
//! `A-Z a-z 0-9 - . _ ~` is percent-encoded, space as `%20`.

use super::{one, refuse, Builtin};
use crate::runtime::args::{self, check_string, type_name};
use mlua::{Lua, MultiValue, Table, Value as LuaValue};
use percent_encoding::{percent_decode, percent_encode, AsciiSet, NON_ALPHANUMERIC};

pub(super) const FUNCTIONS: &[(&str, Builtin)] = &[
    ("encode", encode),
    ("decode", decode),
    ("parse", parse),
    ("build", build),
    ("query_encode", query_encode),
    ("query_decode", query_decode),
];

/// What stays as it is: RFC 3986's unreserved characters.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn encode(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let s = check_string(lua, &a, 1, "url.encode")?;
    one(lua, percent_encode(&s.as_bytes(), COMPONENT).to_string())
}

/// `url.decode(s)`: `%XX` becomes its byte (a `%` not followed by two hex digits stays); `+` stays
/// `+` (use `url.query_decode` for form data).
fn decode(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let s = check_string(lua, &a, 1, "url.decode")?;
    let bytes: Vec<u8> = percent_decode(&s.as_bytes()).collect();
    one(lua, lua.create_string(bytes)?)
}

/// `url.parse(u)` → `{scheme, user, password, host, port, path, query, fragment}` | `nil, err`.
fn parse(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let func = "url.parse";
    let text = check_string(lua, &a, 1, func)?.to_string_lossy();
    let u = match url::Url::parse(text.trim()) {
        Ok(u) => u,
        Err(e) => return refuse(lua, func, e),
    };
    let t = lua.create_table()?;
    t.raw_set("scheme", u.scheme())?;
    if !u.username().is_empty() {
        t.raw_set("user", percent_decoded(u.username()))?;
    }
    if let Some(p) = u.password() {
        t.raw_set("password", percent_decoded(p))?;
    }
    if let Some(host) = u.host_str() {
        // `[::1]` in a URL is the host `::1`.
        t.raw_set("host", host.trim_start_matches('[').trim_end_matches(']'))?;
    }
    if let Some(port) = u.port_or_known_default() {
        t.raw_set("port", port)?;
    }
    t.raw_set("path", u.path())?;
    if let Some(q) = u.query() {
        t.raw_set("query", q)?;
    }
    if let Some(f) = u.fragment() {
        t.raw_set("fragment", f)?;
    }
    one(lua, t)
}

fn percent_decoded(s: &str) -> String {
    percent_decode(s.as_bytes())
        .decode_utf8_lossy()
        .into_owned()
}

/// A string field of `parts` (numbers allowed), or `None`.
fn field(lua: &Lua, parts: &Table, name: &str) -> mlua::Result<Option<String>> {
    match parts.get::<LuaValue>(name)? {
        LuaValue::Nil => Ok(None),
        LuaValue::String(s) => Ok(Some(s.to_string_lossy())),
        v @ (LuaValue::Integer(_) | LuaValue::Number(_)) => {
            Ok(lua.coerce_string(v)?.map(|s| s.to_string_lossy()))
        }
        v => Err(args::arg_error(
            1,
            "url.build",
            &format!("{name} must be a string, got {}", type_name(&v)),
        )),
    }
}

/// `url.build(parts)`: the inverse of `url.parse`; `query` may also be a table (as for
/// `url.query_encode`). Raises on parts no URL can hold.
fn build(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let func = "url.build";
    let parts = match a.front() {
        Some(LuaValue::Table(t)) => t.clone(),
        other => return Err(args::bad_argument(1, func, "table", other)),
    };
    let bad = |what: String| args::arg_error(1, func, &what);
    let scheme = field(lua, &parts, "scheme")?.unwrap_or_else(|| "http".into());
    let host = field(lua, &parts, "host")?.unwrap_or_default();
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host
    };
    let mut u = url::Url::parse(&format!("{scheme}://{host}"))
        .map_err(|e| bad(format!("{scheme}://{host}: {e}")))?;
    if let Some(user) = field(lua, &parts, "user")? {
        u.set_username(&user)
            .map_err(|()| bad("this URL cannot have a user".into()))?;
    }
    if let Some(password) = field(lua, &parts, "password")? {
        u.set_password(Some(&password))
            .map_err(|()| bad("this URL cannot have a password".into()))?;
    }
    if let Some(port) = field(lua, &parts, "port")? {
        let port: u16 = port
            .parse()
            .map_err(|_| bad(format!("port must be from 0 to 65535, got {port}")))?;
        u.set_port(Some(port))
            .map_err(|()| bad("this URL cannot have a port".into()))?;
    }
    if let Some(path) = field(lua, &parts, "path")? {
        u.set_path(&path);
    }
    match parts.get::<LuaValue>("query")? {
        LuaValue::Nil => {}
        LuaValue::Table(q) => u.set_query(Some(&query_text(lua, &q)?)),
        _ => u.set_query(field(lua, &parts, "query")?.as_deref()),
    }
    if let Some(fragment) = field(lua, &parts, "fragment")? {
        u.set_fragment(Some(&fragment));
    }
    one(lua, u.to_string())
}

/// One query value as text (`true`, numbers as `tostring` shows them).
fn query_value(lua: &Lua, key: &str, v: &LuaValue) -> mlua::Result<Vec<u8>> {
    match v {
        LuaValue::String(s) => Ok(s.as_bytes().to_vec()),
        LuaValue::Integer(_) | LuaValue::Number(_) => Ok(lua
            .coerce_string(v.clone())?
            .map(|s| s.as_bytes().to_vec())
            .unwrap_or_default()),
        LuaValue::Boolean(b) => Ok(b.to_string().into_bytes()),
        other => Err(mlua::Error::runtime(format!(
            "url.query_encode: cannot encode a {} under {key}",
            type_name(other)
        ))),
    }
}

/// `a=1&b=x%20y&t=1&t=2`: keys sorted; an array value repeats its key.
fn query_text(lua: &Lua, t: &Table) -> mlua::Result<String> {
    let mut pairs: Vec<(String, Vec<u8>)> = Vec::new();
    for pair in t.pairs::<LuaValue, LuaValue>() {
        let (k, v) = pair?;
        let key = match &k {
            LuaValue::String(s) => s.to_string_lossy(),
            LuaValue::Integer(i) => i.to_string(),
            other => {
                return Err(mlua::Error::runtime(format!(
                    "url.query_encode: a {} key",
                    type_name(other)
                )))
            }
        };
        match &v {
            LuaValue::Table(list) => {
                for item in list.sequence_values::<LuaValue>() {
                    pairs.push((key.clone(), query_value(lua, &key, &item?)?));
                }
            }
            _ => pairs.push((key.clone(), query_value(lua, &key, &v)?)),
        }
    }
    // Stable: sorted by key, values of one key in their array order.
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let encoded: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                percent_encode(k.as_bytes(), COMPONENT),
                percent_encode(v, COMPONENT)
            )
        })
        .collect();
    Ok(encoded.join("&"))
}

fn query_encode(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    match a.front() {
        Some(LuaValue::Table(t)) => one(lua, query_text(lua, t)?),
        other => Err(args::bad_argument(1, "url.query_encode", "table", other)),
    }
}

/// `url.query_decode(s)`: form decoding (`+` is a space); a repeated key gives an array. A leading
/// `?` is ignored.
fn query_decode(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let s = check_string(lua, &a, 1, "url.query_decode")?;
    let bytes = s.as_bytes();
    let bytes = bytes.strip_prefix(b"?").unwrap_or(&bytes);
    let t = lua.create_table()?;
    for (k, v) in url::form_urlencoded::parse(bytes) {
        let v = lua.create_string(v.as_bytes())?;
        match t.raw_get::<LuaValue>(k.as_ref())? {
            LuaValue::Nil => t.raw_set(k.as_ref(), v)?,
            LuaValue::Table(list) => list.raw_set(list.raw_len() + 1, v)?,
            first => t.raw_set(
                k.as_ref(),
                lua.create_sequence_from([first, LuaValue::String(v)])?,
            )?,
        }
    }
    one(lua, t)
}
