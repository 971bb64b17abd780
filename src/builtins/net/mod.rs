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
use std::time::Duration;

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

/// Optional timeout argument in seconds (`nil` = none); must not be negative.
pub(crate) fn opt_seconds(
    args: &MultiValue,
    pos: usize,
    func: &str,
) -> mlua::Result<Option<Duration>> {
    match args.get(pos - 1) {
        None | Some(LuaValue::Nil) => Ok(None),
        Some(_) => {
            let s = args::check_number(args, pos, func)?;
            if s.is_nan() || s < 0.0 || !s.is_finite() {
                return Err(args::arg_error(
                    pos,
                    func,
                    "timeout must be a non-negative number",
                ));
            }
            Ok(Some(Duration::from_secs_f64(s)))
        }
    }
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
        Some(tls) => format!("TLS error: {tls}"),
        None => dns::lookup_error(e),
    }
}

/// `nil, msg` as a [`MultiValue`].
pub(crate) fn fail(lua: &Lua, msg: impl AsRef<str>) -> mlua::Result<MultiValue> {
    args::nil_err(lua, msg)
}
