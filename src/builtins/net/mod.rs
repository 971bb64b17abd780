//! Network clients (SPEC §10): HTTP (`http_*`), TCP (`tcp_listen`, `tcp_connect`), UDP, DNS and the
//! WebSocket client. Everything is blocking I/O on OS threads; every wait goes through
//! `goroutine::io_wait` in slices, so the run's timeout, `os.exit` and signals reach a goroutine
//! blocked on the network, and its timers still fire.
//!
//! Connection objects (TCP, WebSocket) expose their methods through `__index`, which hands out a
//! function *bound to that connection*: `conn.read()` (the seed's style) and `conn:read()` both work,
//! because a first argument that is the connection itself is taken as `self` and dropped.

pub mod dns;
pub mod http_client;
pub mod tcp;
pub mod udp;
pub mod ws_client;

use crate::runtime::args::{self, wrap_function};
use crate::runtime::ctx;
use crate::runtime::goroutine::{self, IO_SLICE};
use mlua::{AnyUserData, Lua, MultiValue, Value as LuaValue};

/// Installs every network builtin.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    http_client::register(lua)?;
    tcp::register(lua)?;
    udp::register(lua)?;
    dns::register(lua)?;
    ws_client::register(lua)
}

/// Runs `work` (something that blocks without a way to slice it: name resolution, a connect with
/// its own timeout, a whole HTTP exchange) on a helper thread, and waits for it in [`IO_SLICE`]s.
/// If the run is cancelled meanwhile the helper is abandoned; it ends at its own timeout.
pub(crate) fn off_thread<T: Send + 'static>(
    lua: &Lua,
    what: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> mlua::Result<T> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::Builder::new()
        .name(format!("solvm-{what}"))
        .spawn(move || {
            let _ = tx.send(work());
        })
        .map_err(|e| mlua::Error::runtime(format!("{what}: cannot start a thread: {e}")))?;
    let ctx = ctx(lua);
    goroutine::io_wait(lua, &ctx, &mut || match rx.recv_timeout(IO_SLICE) {
        Ok(v) => Ok(Some(v)),
        Err(crossbeam_channel::RecvTimeoutError::Timeout) => Ok(None),
        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => Err(mlua::Error::runtime(
            format!("{what}: the helper thread died"),
        )),
    })
}

/// A method of a connection type: gets the connection and the arguments after `self`.
pub(crate) type Method<T> = fn(&Lua, &T, MultiValue) -> mlua::Result<MultiValue>;

/// Connection types whose methods are handed out bound (see the module docs).
pub(crate) trait BoundObject: mlua::UserData + Clone + 'static {
    /// Whether `other` is the same underlying connection.
    fn same(&self, other: &Self) -> bool;
}

/// `__index` for a connection userdata: a method from `methods`, bound to this connection and
/// wrapped like every builtin (errors read like Lua's); cached in the userdata's user values so
/// `conn.read()` in a loop does not build a new closure each time. `None` for unknown keys.
pub(crate) fn bound_method<T: BoundObject>(
    lua: &Lua,
    ud: &AnyUserData,
    key: &str,
    methods: &[(&'static str, Method<T>)],
) -> mlua::Result<Option<LuaValue>> {
    let Some(&(name, method)) = methods.iter().find(|(n, _)| *n == key) else {
        return Ok(None);
    };
    if let Ok(f @ LuaValue::Function(_)) = ud.named_user_value::<LuaValue>(name) {
        return Ok(Some(f));
    }
    let this = ud.borrow::<T>()?.clone();
    let f = lua.create_function(move |lua, mut args: MultiValue| {
        let is_self = match args.front() {
            Some(LuaValue::UserData(first)) => {
                first.borrow::<T>().map(|o| o.same(&this)).unwrap_or(false)
            }
            _ => false,
        };
        if is_self {
            args.pop_front();
        }
        method(lua, &this, args)
    })?;
    let f = LuaValue::Function(wrap_function(lua, f)?);
    ud.set_named_user_value(name, &f)?;
    Ok(Some(f))
}

/// A port argument: an integer in 0..=65535 (0 only where `allow_zero`).
pub(crate) fn port_arg(
    args: &MultiValue,
    pos: usize,
    func: &str,
    allow_zero: bool,
) -> mlua::Result<u16> {
    let n = args::check_number(args, pos, func)?;
    let lo = if allow_zero { 0.0 } else { 1.0 };
    if n.fract() != 0.0 || n < lo || n > 65535.0 {
        return Err(args::arg_error(
            pos,
            func,
            &format!("port must be an integer from {lo} to 65535"),
        ));
    }
    Ok(n as u16)
}

/// Optional string argument.
pub(crate) fn opt_string(
    lua: &Lua,
    args: &MultiValue,
    pos: usize,
    func: &str,
) -> mlua::Result<Option<String>> {
    match args.get(pos - 1) {
        None | Some(LuaValue::Nil) => Ok(None),
        Some(_) => Ok(Some(
            args::check_string(lua, args, pos, func)?
                .to_string_lossy()
                .to_string(),
        )),
    }
}

/// A socket-level error in words: TLS failures (which rustls reports inside an I/O error) say so,
/// resolver failures read `no such host`, the rest as [`args::io_error_text`].
pub(crate) fn io_failure_text(e: &std::io::Error) -> String {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls) => tls_error_text(tls),
        None => dns::lookup_error(e),
    }
}

/// A TLS failure in words, `TLS error: certificate signed by unknown authority` (Go's wording where
/// it has one). rustls renders several causes with Rust `Debug` names (`invalid peer certificate:
/// UnknownIssuer`, `received fatal alert: HandshakeFailure`), which a user should never see.
pub(crate) fn tls_error_text(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    let text = match e {
        rustls::Error::InvalidCertificate(cert) => match cert {
            C::UnknownIssuer => "certificate signed by unknown authority".into(),
            C::BadSignature => "certificate signature is invalid".into(),
            C::Expired => "certificate has expired".into(),
            C::NotValidYet => "certificate is not valid yet".into(),
            C::Revoked => "certificate has been revoked".into(),
            C::NotValidForName => "certificate is not valid for this host name".into(),
            C::BadEncoding => "certificate is malformed".into(),
            C::InvalidPurpose => "certificate is not valid for this purpose".into(),
            other => format!(
                "invalid certificate: {}",
                debug_names_as_words(&other.to_string())
            ),
        },
        other => debug_names_as_words(&other.to_string()),
    };
    format!("TLS error: {text}")
}

/// `received fatal alert: HandshakeFailure` → `received fatal alert: handshake failure`: every
/// CamelCase word (two capitals or more, letters and digits only) becomes lower-case words.
fn debug_names_as_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let camel = word.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && word.chars().filter(|c| c.is_ascii_uppercase()).count() >= 2
            && word.chars().any(|c| c.is_ascii_lowercase());
        if camel {
            for (i, c) in word.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    out.push(' ');
                }
                out.push(c.to_ascii_lowercase());
            }
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// `nil, msg` as a [`MultiValue`].
pub(crate) fn fail(lua: &Lua, msg: impl AsRef<str>) -> mlua::Result<MultiValue> {
    args::nil_err(lua, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_errors_carry_no_rust_debug_names() {
        let e = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        assert_eq!(
            tls_error_text(&e),
            "TLS error: certificate signed by unknown authority"
        );
        let e = rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure);
        assert_eq!(
            tls_error_text(&e),
            "TLS error: received fatal alert: handshake failure"
        );
        let e = rustls::Error::PeerIncompatible(rustls::PeerIncompatible::NoCipherSuitesInCommon);
        assert_eq!(
            tls_error_text(&e),
            "TLS error: peer is incompatible: no cipher suites in common"
        );
        assert_eq!(debug_names_as_words("TLS 1.3 on ABC"), "TLS 1.3 on ABC");
    }
}
