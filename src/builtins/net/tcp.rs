//! TCP (SPEC §10): `tcp_listen(port, [host])` → `channel, bound_port` fed by a listener thread, and
//! `tcp_connect(host, port, [timeout])` → connection. Connections cross goroutines by reference; their
//! sockets carry an [`IO_SLICE`] timeout so every blocking read or write is a cancellable wait.

use super::{bound_method, fail, off_thread, port_arg, BoundObject, Method};
use crate::builtins::chan::{ChanRef, Channel};
use crate::runtime::args::{self, io_error_text};
use crate::runtime::args::{opt_seconds, NO_LIMIT};
use crate::runtime::goroutine::{self, IO_SLICE};
use crate::runtime::value::{self, Handle, SharedHandle, Value};
use crate::runtime::{ctx, Shared};
use mlua::{
    AnyUserData, Lua, MetaMethod, MultiValue, UserData, UserDataMethods, Value as LuaValue,
};
use parking_lot::Mutex;
use std::any::Any;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest chunk `read()` returns when no size is given.
const DEFAULT_CHUNK: usize = 64 * 1024;
/// A line longer than this without a newline is an error rather than unbounded buffering.
const MAX_LINE: usize = 16 * 1024 * 1024;
/// How many accepted connections wait in the channel before the listener stops accepting.
const ACCEPT_BACKLOG: usize = 64;
/// `tcp_connect`'s timeout when none is given.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

struct ConnInner {
    stream: TcpStream,
    /// Bytes read from the socket but not handed out yet (`read_line` reads ahead).
    pending: Mutex<Vec<u8>>,
    /// Per-operation timeout set by `set_timeout` (none by default).
    timeout: Mutex<Option<Duration>>,
    remote: String,
    local: String,
    closed: AtomicBool,
}

/// A TCP connection as a Lua value; crosses goroutines by reference (both sides use one socket).
#[derive(Clone)]
pub struct TcpConn(Arc<ConnInner>);

impl TcpConn {
    /// Wraps a connected stream, giving it the slice timeouts every wait relies on.
    fn new(stream: TcpStream) -> std::io::Result<TcpConn> {
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(IO_SLICE))?;
        stream.set_write_timeout(Some(IO_SLICE))?;
        let _ = stream.set_nodelay(true);
        let remote = stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let local = stream
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        Ok(TcpConn(Arc::new(ConnInner {
            stream,
            pending: Mutex::new(Vec::new()),
            timeout: Mutex::new(None),
            remote,
            local,
            closed: AtomicBool::new(false),
        })))
    }

    fn deadline(&self) -> Option<Instant> {
        self.0.timeout.lock().map(|t| Instant::now() + t)
    }
}

impl SharedHandle for TcpConn {
    fn kind(&self) -> &'static str {
        "tcp connection"
    }
    fn push(&self, lua: &Lua) -> mlua::Result<LuaValue> {
        Ok(LuaValue::UserData(lua.create_userdata(self.clone())?))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl BoundObject for TcpConn {
    fn same(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// The connection's methods (also read by the builtin catalog's test).
pub(crate) const METHODS: &[(&str, Method<TcpConn>)] = &[
    ("read", conn_read),
    ("read_line", conn_read_line),
    ("write", conn_write),
    ("close", conn_close),
    ("set_timeout", conn_set_timeout),
];

impl UserData for TcpConn {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_function(
            MetaMethod::Index,
            |lua, (ud, key): (AnyUserData, LuaValue)| {
                let LuaValue::String(key) = key else {
                    return Ok(LuaValue::Nil);
                };
                let key = key.to_string_lossy();
                let this = ud.borrow::<TcpConn>()?.clone();
                match key.as_str() {
                    "remote_addr" => Ok(LuaValue::String(lua.create_string(&this.0.remote)?)),
                    "local_addr" => Ok(LuaValue::String(lua.create_string(&this.0.local)?)),
                    _ => Ok(bound_method(lua, &ud, &key, METHODS)?.unwrap_or(LuaValue::Nil)),
                }
            },
        );
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(format!(
                "tcp connection {} -> {}",
                this.0.local, this.0.remote
            ))
        });
        m.add_meta_method(MetaMethod::Eq, |_, this, other: AnyUserData| {
            Ok(other
                .borrow::<TcpConn>()
                .map(|o| o.same(this))
                .unwrap_or(false))
        });
    }
}

/// What one attempt to read produced.
enum ReadOutcome {
    Data(usize),
    Eof,
    Timeout,
    Failed(std::io::Error),
}

/// Reads once into `buf`, waiting in slices until data, end of stream, an error or `deadline`.
fn read_some(lua: &Lua, conn: &TcpConn, buf: &mut [u8]) -> mlua::Result<ReadOutcome> {
    let deadline = conn.deadline();
    let ctx = ctx(lua);
    goroutine::io_wait(lua, &ctx, &mut || match (&conn.0.stream).read(buf) {
        Ok(0) => Ok(Some(ReadOutcome::Eof)),
        Ok(n) => Ok(Some(ReadOutcome::Data(n))),
        Err(e) if goroutine::is_slice_timeout(&e) => {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                Ok(Some(ReadOutcome::Timeout))
            } else {
                Ok(None)
            }
        }
        Err(e) => Ok(Some(ReadOutcome::Failed(e))),
    })
}

/// `nil` at end of stream (or once closed here); `nil, err` for a reset or a timeout.
fn end_of_read(lua: &Lua, conn: &TcpConn, outcome: ReadOutcome) -> mlua::Result<MultiValue> {
    match outcome {
        ReadOutcome::Eof | ReadOutcome::Data(_) => Ok(MultiValue::from_iter([LuaValue::Nil])),
        ReadOutcome::Timeout => fail(lua, "timeout"),
        ReadOutcome::Failed(_) if conn.0.closed.load(Ordering::Acquire) => {
            Ok(MultiValue::from_iter([LuaValue::Nil]))
        }
        ReadOutcome::Failed(e) => fail(lua, io_error_text(&e)),
    }
}

/// `read([n])`: the next chunk of at most `n` bytes (64 KiB by default) as soon as any data is
/// there, like Go's `Read`; `nil` at end of stream.
fn conn_read(lua: &Lua, conn: &TcpConn, args: MultiValue) -> mlua::Result<MultiValue> {
    let max = match args.front() {
        None | Some(LuaValue::Nil) => DEFAULT_CHUNK,
        Some(_) => {
            let n = args::check_number(&args, 1, "read")?;
            if n.fract() != 0.0 || n < 1.0 {
                return Err(args::arg_error(
                    1,
                    "read",
                    "size must be a positive integer",
                ));
            }
            n.min(MAX_LINE as f64) as usize
        }
    };
    {
        let mut pending = conn.0.pending.lock();
        if !pending.is_empty() {
            let n = max.min(pending.len());
            let chunk: Vec<u8> = pending.drain(..n).collect();
            return Ok(MultiValue::from_iter([LuaValue::String(
                lua.create_string(&chunk)?,
            )]));
        }
    }
    if conn.0.closed.load(Ordering::Acquire) {
        return Ok(MultiValue::from_iter([LuaValue::Nil]));
    }
    let mut buf = vec![0u8; max.min(DEFAULT_CHUNK)];
    match read_some(lua, conn, &mut buf)? {
        ReadOutcome::Data(n) => Ok(MultiValue::from_iter([LuaValue::String(
            lua.create_string(&buf[..n])?,
        )])),
        other => end_of_read(lua, conn, other),
    }
}

/// `read_line()`: the next line without its `\n` (or `\r\n`); at end of stream the last unterminated
/// line, then `nil`.
fn conn_read_line(lua: &Lua, conn: &TcpConn, _args: MultiValue) -> mlua::Result<MultiValue> {
    let line = |lua: &Lua, mut bytes: Vec<u8>| -> mlua::Result<MultiValue> {
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
        }
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        Ok(MultiValue::from_iter([LuaValue::String(
            lua.create_string(&bytes)?,
        )]))
    };
    let mut buf = vec![0u8; DEFAULT_CHUNK];
    loop {
        {
            let mut pending = conn.0.pending.lock();
            if let Some(i) = pending.iter().position(|&b| b == b'\n') {
                let bytes: Vec<u8> = pending.drain(..=i).collect();
                drop(pending);
                return line(lua, bytes);
            }
            if pending.len() > MAX_LINE {
                return fail(lua, "line too long");
            }
        }
        if conn.0.closed.load(Ordering::Acquire) {
            return Ok(MultiValue::from_iter([LuaValue::Nil]));
        }
        match read_some(lua, conn, &mut buf)? {
            ReadOutcome::Data(n) => conn.0.pending.lock().extend_from_slice(&buf[..n]),
            ReadOutcome::Eof => {
                let rest = std::mem::take(&mut *conn.0.pending.lock());
                if rest.is_empty() {
                    return Ok(MultiValue::from_iter([LuaValue::Nil]));
                }
                return line(lua, rest);
            }
            other => return end_of_read(lua, conn, other),
        }
    }
}

/// `write(data)` → bytes written | `nil, err`. Writes everything (in slices) before returning.
fn conn_write(lua: &Lua, conn: &TcpConn, args: MultiValue) -> mlua::Result<MultiValue> {
    let data = args::check_string(lua, &args, 1, "write")?;
    let data = data.as_bytes();
    if conn.0.closed.load(Ordering::Acquire) {
        return fail(lua, "use of closed connection");
    }
    let deadline = conn.deadline();
    let ctx = ctx(lua);
    let mut off = 0usize;
    let result = goroutine::io_wait(lua, &ctx, &mut || {
        while off < data.len() {
            match (&conn.0.stream).write(&data[off..]) {
                Ok(0) => return Ok(Some(Err("connection closed".to_string()))),
                Ok(n) => off += n,
                Err(e) if goroutine::is_slice_timeout(&e) => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Ok(Some(Err("timeout".to_string())));
                    }
                    return Ok(None);
                }
                Err(e) => return Ok(Some(Err(io_error_text(&e)))),
            }
        }
        Ok(Some(Ok(())))
    })?;
    match result {
        Ok(()) => Ok(MultiValue::from_iter([LuaValue::Integer(off as i64)])),
        Err(msg) => fail(lua, msg),
    }
}

/// `close()`: shuts the socket down both ways (a read blocked elsewhere then ends with `nil`).
fn conn_close(_lua: &Lua, conn: &TcpConn, _args: MultiValue) -> mlua::Result<MultiValue> {
    if !conn.0.closed.swap(true, Ordering::AcqRel) {
        let _ = conn.0.stream.shutdown(std::net::Shutdown::Both);
    }
    Ok(MultiValue::from_iter([LuaValue::Boolean(true)]))
}

/// `set_timeout(s)`: every later read or write gives up after `s` seconds (`nil, "timeout"`);
/// `nil` or 0 removes the limit.
fn conn_set_timeout(_lua: &Lua, conn: &TcpConn, args: MultiValue) -> mlua::Result<MultiValue> {
    let t = opt_seconds(&args, 1, "set_timeout")?.filter(|d| !d.is_zero() && *d < NO_LIMIT);
    *conn.0.timeout.lock() = t;
    Ok(MultiValue::from_iter([LuaValue::Boolean(true)]))
}

/// Installs `tcp_listen` and `tcp_connect`.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    value::register_handle_type::<TcpConn>(lua);
    let g = lua.globals();
    g.set("tcp_listen", lua.create_function(tcp_listen)?)?;
    g.set("tcp_connect", lua.create_function(tcp_connect)?)?;
    Ok(())
}

/// `tcp_connect(host, port, [timeout])` → connection | `nil, err` (Go's wording:
/// `dial tcp 127.0.0.1:1: connection refused`).
fn tcp_connect(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let host = args::check_string(lua, &args, 1, "tcp_connect")?
        .to_string_lossy()
        .to_string();
    let port = port_arg(&args, 2, "tcp_connect", false)?;
    let timeout = opt_seconds(&args, 3, "tcp_connect")?.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let target = format!("{host}:{port}");
    let result = off_thread(lua, "tcp-connect", move || connect(&host, port, timeout))?;
    match result.and_then(|s| TcpConn::new(s).map_err(|e| io_error_text(&e))) {
        Ok(conn) => Ok(MultiValue::from_iter([conn.push(lua)?])),
        Err(msg) => fail(lua, format!("dial tcp {target}: {msg}")),
    }
}

/// Resolves `host` and tries each address in turn within `timeout` overall.
pub(crate) fn connect(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, String> {
    let end = Instant::now() + timeout;
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("lookup {host}: {}", super::dns::lookup_error(&e)))?
        .collect();
    let mut last = format!("lookup {host}: no such host");
    for addr in addrs {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("timeout".into());
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => return Ok(s),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => last = "timeout".into(),
            Err(e) => last = io_error_text(&e),
        }
    }
    Err(last)
}

/// `tcp_listen(port, [host])` → `channel, bound_port`. Default host `0.0.0.0`. A listen that fails
/// (port in use, no such address) raises, naming the address and the reason, like `start_server`:
/// a service that cannot start is a setup failure, and the seed's `local ch = tcp_listen(8080)`
/// would otherwise fail later, far away, on a nil channel.
fn tcp_listen(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let port = port_arg(&args, 1, "tcp_listen", true)?;
    let host = super::opt_string(lua, &args, 2, "tcp_listen")?.unwrap_or_else(|| "0.0.0.0".into());
    let failed = |e: std::io::Error| {
        mlua::Error::runtime(format!(
            "tcp_listen: cannot listen on {host}:{port} (tcp): {}",
            io_error_text(&e)
        ))
    };
    let listener = TcpListener::bind((host.as_str(), port)).map_err(failed)?;
    let bound = listener
        .local_addr()
        .and_then(|a| {
            listener.set_nonblocking(true)?;
            Ok(a.port())
        })
        .map_err(failed)?;
    let ch = Channel::new(None, ACCEPT_BACKLOG);
    let rt = ctx(lua).rt;
    let feed = Arc::clone(&ch);
    std::thread::Builder::new()
        .name(format!("solvm-tcp-listen-{bound}"))
        .stack_size(256 * 1024)
        .spawn(move || accept_loop(rt, listener, feed))
        .map_err(|e| mlua::Error::runtime(format!("tcp_listen: cannot start a thread: {e}")))?;
    Ok(MultiValue::from_iter([
        ChanRef(ch).push(lua)?,
        LuaValue::Integer(bound as i64),
    ]))
}

/// The listener thread: accepts until the channel is closed or the run is cancelled, and counts as
/// a service meanwhile (SPEC §4).
fn accept_loop(rt: Arc<Shared>, listener: TcpListener, ch: Arc<Channel>) {
    let _service = rt.start_service();
    let running = || ch.is_open() && rt.cancel.reason().is_none();
    while running() {
        match listener.accept() {
            Ok((stream, _)) => {
                let Ok(conn) = TcpConn::new(stream) else {
                    continue;
                };
                if !deliver(&rt, &ch, Value::Handle(Handle(Arc::new(conn)))) {
                    break;
                }
            }
            Err(e) if goroutine::is_slice_timeout(&e) => {
                // Nothing to accept: wait a little, waking at once when the run is cancelled.
                let _ = rt.cancel.signal().recv_timeout(Duration::from_millis(10));
            }
            Err(_) => {
                // Out of descriptors and the like: keep serving once it passes.
                let _ = rt.cancel.signal().recv_timeout(Duration::from_millis(100));
            }
        }
    }
}

/// Hands `v` to the channel, waiting while it is full; `false` once the channel is closed or the run
/// cancelled (the listener then stops). Shared with the UDP listener.
pub(crate) fn deliver(rt: &Shared, ch: &Channel, mut v: Value) -> bool {
    loop {
        if !ch.is_open() || rt.cancel.reason().is_some() {
            return false;
        }
        let Some(tx) = ch.sender() else {
            return false;
        };
        match tx.send_timeout(v, IO_SLICE) {
            Ok(()) => return true,
            Err(crossbeam_channel::SendTimeoutError::Timeout(back)) => v = back,
            Err(crossbeam_channel::SendTimeoutError::Disconnected(_)) => return false,
        }
    }
}
