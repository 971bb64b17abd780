//! WebSocket connections: the upgrade handshake on a connection the HTTP layer routed here, then
//! tungstenite on the same stream. The connection's thread becomes a goroutine that runs the
//! handler with a `ws` object; `ws` crosses goroutines by reference (a chat room can broadcast to
//! every connection). Its methods work both as `ws.send(x)` (the seed's style) and `ws:send(x)`.

use super::conn::Conn;
use super::dispatch::Request;
use super::response::Response;
use super::Live;
use crate::runtime::args::{bad_argument, nil_err, wrap_function};
use crate::runtime::goroutine::{self, io_wait, route_error};
use crate::runtime::interrupt::InterruptHandle;
use crate::runtime::report::ErrorInfo;
use crate::runtime::state::GoState;
use crate::runtime::value::SharedHandle;
use mlua::{Lua, MetaMethod, MultiValue, UserData, UserDataMethods, Value as LuaValue};
use parking_lot::Mutex;
use std::any::Any;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tungstenite::{Error as WsError, Message, WebSocket};

/// How long a blocked receive holds the socket before letting a sender in.
const WS_SLICE: Duration = Duration::from_millis(50);

/// One WebSocket connection, shared by every goroutine holding its `ws` object.
pub struct WsConn {
    socket: Mutex<WebSocket<super::tls::Stream>>,
    closed: AtomicBool,
    remote_addr: String,
    /// The request path (clean, decoded) and the pattern's wildcards, as `req.path` and
    /// `req.params`.
    path: Vec<u8>,
    params: Vec<(String, Vec<u8>)>,
    live: Arc<Live>,
}

impl WsConn {
    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Sends a close frame (once) and flushes it.
    fn close(&self, code: u16, reason: &str) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut ws = self.socket.lock();
        let _ = ws.close(Some(CloseFrame {
            code: code.into(),
            reason: reason.to_string().into(),
        }));
        let _ = ws.flush();
        // Give the peer a moment to answer the close, so it sees a clean closing handshake.
        let deadline = Instant::now() + Duration::from_millis(500);
        while Instant::now() < deadline {
            match ws.read() {
                Ok(_) => {}
                Err(WsError::Io(e)) if goroutine::is_slice_timeout(&e) => {}
                Err(_) => break,
            }
        }
        ws.get_mut().shutdown();
    }

    fn send(&self, msg: Message) -> Result<(), String> {
        if self.is_closed() {
            return Err("websocket is closed".into());
        }
        let mut ws = self.socket.lock();
        let mut sent = ws.send(msg);
        // Interrupted by a signal (EINTR): the frame is queued in tungstenite; flush it again.
        while matches!(&sent, Err(WsError::Io(e)) if e.kind() == std::io::ErrorKind::Interrupted) {
            sent = ws.flush();
        }
        sent.map_err(|e| {
            self.closed.store(true, Ordering::Release);
            e.to_string()
        })
    }
}

/// A `ws` object as a Lua value; crosses goroutines by reference.
#[derive(Clone)]
pub struct WsRef(pub Arc<WsConn>);

impl SharedHandle for WsRef {
    fn kind(&self) -> &'static str {
        "websocket"
    }
    fn push(&self, lua: &Lua) -> mlua::Result<LuaValue> {
        Ok(LuaValue::UserData(lua.create_userdata(self.clone())?))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Registry key of the table of unbound methods.
const METHODS_KEY: &str = "solvm.ws_methods";
const METHOD_NAMES: [&str; 5] = ["send", "send_binary", "receive", "close", "is_closed"];

impl UserData for WsRef {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_function(
            MetaMethod::Index,
            |lua, (this, key): (mlua::AnyUserData, LuaValue)| {
                let conn = Arc::clone(&this.borrow::<WsRef>()?.0);
                let LuaValue::String(k) = &key else {
                    return Ok(LuaValue::Nil);
                };
                let k = k.to_str()?.to_string();
                match k.as_str() {
                    "remote_addr" => {
                        return Ok(LuaValue::String(lua.create_string(&conn.remote_addr)?))
                    }
                    "path" => return Ok(LuaValue::String(lua.create_string(&conn.path)?)),
                    "params" => {
                        let t = lua.create_table()?;
                        for (name, value) in &conn.params {
                            t.raw_set(name.as_str(), lua.create_string(value)?)?;
                        }
                        return Ok(LuaValue::Table(t));
                    }
                    _ => {}
                }
                if !METHOD_NAMES.contains(&k.as_str()) {
                    return Ok(LuaValue::Nil);
                }
                // A method bound to this connection, so `ws.send(x)` works as well as `ws:send(x)`.
                let methods: mlua::Table = lua.named_registry_value(METHODS_KEY)?;
                let method: mlua::Function = methods.raw_get(k.as_str())?;
                let bound = lua.create_function(move |lua, mut args: MultiValue| {
                    let is_self = matches!(args.front(), Some(LuaValue::UserData(u))
                    if u.borrow::<WsRef>().is_ok_and(|w| Arc::ptr_eq(&w.0, &conn)));
                    if is_self {
                        args.pop_front();
                    }
                    let ud = lua.create_userdata(WsRef(Arc::clone(&conn)))?;
                    args.push_front(LuaValue::UserData(ud));
                    method.call::<MultiValue>(args)
                })?;
                Ok(LuaValue::Function(wrap_function(lua, bound)?))
            },
        );
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(format!("websocket: {}", this.0.remote_addr))
        });
        m.add_meta_method(MetaMethod::Eq, |_, this, other: mlua::AnyUserData| {
            Ok(other
                .borrow::<WsRef>()
                .map(|o| Arc::ptr_eq(&o.0, &this.0))
                .unwrap_or(false))
        });
    }
}

fn this(args: &MultiValue, func: &str) -> mlua::Result<Arc<WsConn>> {
    match args.front() {
        Some(LuaValue::UserData(u)) => u
            .borrow::<WsRef>()
            .map(|w| Arc::clone(&w.0))
            .map_err(|_| bad_argument(1, func, "websocket", &LuaValue::UserData(u.clone()))),
        other => Err(bad_argument(1, func, "websocket", other)),
    }
}

fn send_result(lua: &Lua, r: Result<(), String>) -> mlua::Result<MultiValue> {
    match r {
        Ok(()) => Ok(MultiValue::from_iter([LuaValue::Boolean(true)])),
        Err(e) => nil_err(lua, e),
    }
}

/// The unbound methods: each takes the connection as its first argument.
pub fn register_methods(lua: &Lua) -> mlua::Result<()> {
    let methods = lua.create_table()?;
    methods.raw_set(
        "send",
        lua.create_function(|lua, args: MultiValue| {
            let conn = this(&args, "send")?;
            let text = crate::runtime::args::check_string(lua, &args, 2, "send")?;
            let msg = match text.to_str() {
                Ok(s) => Message::text(s.to_string()),
                // Text frames must be UTF-8; anything else goes out as binary rather than failing.
                Err(_) => Message::binary(text.as_bytes().to_vec()),
            };
            send_result(lua, conn.send(msg))
        })?,
    )?;
    methods.raw_set(
        "send_binary",
        lua.create_function(|lua, args: MultiValue| {
            let conn = this(&args, "send_binary")?;
            let bytes = crate::runtime::args::check_string(lua, &args, 2, "send_binary")?;
            send_result(lua, conn.send(Message::binary(bytes.as_bytes().to_vec())))
        })?,
    )?;
    methods.raw_set(
        "receive",
        lua.create_function(|lua, args: MultiValue| {
            let conn = this(&args, "receive")?;
            // `math.huge` and a century or more wait for ever; NaN and negatives are refused.
            let timeout = crate::runtime::args::opt_seconds(&args, 2, "receive")?;
            receive(lua, &conn, timeout)
        })?,
    )?;
    methods.raw_set(
        "close",
        lua.create_function(|_, args: MultiValue| {
            let conn = this(&args, "close")?;
            conn.close(1000, "");
            Ok(true)
        })?,
    )?;
    methods.raw_set(
        "is_closed",
        lua.create_function(|_, args: MultiValue| Ok(this(&args, "is_closed")?.is_closed()))?,
    )?;
    lua.set_named_registry_value(METHODS_KEY, methods)
}

/// `ws.receive([timeout])`: the next text or binary message as a string; `nil` once the connection
/// is closed; `nil, "timeout"` when `timeout` seconds pass first.
fn receive(lua: &Lua, conn: &Arc<WsConn>, timeout: Option<Duration>) -> mlua::Result<MultiValue> {
    let ctx = crate::runtime::ctx(lua);
    let deadline = timeout.and_then(crate::runtime::args::deadline_after);
    enum Got {
        Msg(Vec<u8>),
        Closed,
        Timeout,
        Failed(String),
    }
    let got = io_wait(lua, &ctx, &mut || {
        if conn.is_closed() {
            return Ok(Some(Got::Closed));
        }
        if conn.live.stop.load(Ordering::Acquire) {
            conn.close(1001, "server stopping");
            return Ok(Some(Got::Closed));
        }
        let result = conn.socket.lock().read();
        match result {
            Ok(Message::Text(t)) => Ok(Some(Got::Msg(t.as_bytes().to_vec()))),
            Ok(Message::Binary(b)) => Ok(Some(Got::Msg(b.to_vec()))),
            Ok(Message::Close(_)) => {
                // tungstenite has queued the answering close frame; send it.
                let _ = conn.socket.lock().flush();
                conn.closed.store(true, Ordering::Release);
                Ok(Some(Got::Closed))
            }
            Ok(_) => Ok(None),
            Err(WsError::Io(e)) if goroutine::is_slice_timeout(&e) => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    Ok(Some(Got::Timeout))
                } else {
                    Ok(None)
                }
            }
            Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => {
                conn.closed.store(true, Ordering::Release);
                Ok(Some(Got::Closed))
            }
            Err(e) => {
                let text = e.to_string();
                let (code, reason) = close_code(&e);
                conn.close(code, reason);
                Ok(Some(Got::Failed(text)))
            }
        }
    })?;
    match got {
        Got::Msg(m) => Ok(MultiValue::from_iter([LuaValue::String(
            lua.create_string(m)?,
        )])),
        Got::Closed => Ok(MultiValue::from_iter([LuaValue::Nil])),
        Got::Timeout => nil_err(lua, "timeout"),
        Got::Failed(e) => nil_err(lua, e),
    }
}

/// The close code for a connection that failed with `e` (RFC 6455 §7.4.1).
fn close_code(e: &WsError) -> (u16, &'static str) {
    match e {
        WsError::Capacity(_) => (1009, "message too big"),
        WsError::Utf8(_) => (1007, "invalid UTF-8 in a text message"),
        _ => (1002, "protocol error"),
    }
}

/// Whether `key` is a valid `Sec-WebSocket-Key`: base64 of 16 bytes (RFC 6455 §4.1).
fn valid_key(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

/// Takes an upgrade request off the event loop: its own thread, which answers the handshake and
/// runs handler `index` as a goroutine of its own (the handler is a loop over the connection).
pub fn start(live: &Arc<Live>, conn: Box<Conn>, req: Request, index: usize) {
    live.ws_opened();
    let l = Arc::clone(live);
    let started = std::thread::Builder::new()
        .name(format!("server-{}-ws", live.name))
        .stack_size(super::CONNECTION_STACK)
        .spawn(move || {
            serve(&l, *conn, req, index);
            l.ws_closed();
        });
    if started.is_err() {
        live.ws_closed();
    }
}

/// Answers the upgrade and runs the handler with the `ws` object.
fn serve(live: &Arc<Live>, conn: Conn, req: Request, index: usize) {
    let peer = conn.peer;
    let Ok((mut stream, leftover)) = conn.into_blocking() else {
        return;
    };
    let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
    let key = req
        .head
        .header("sec-websocket-key")
        .map(|k| k.trim_ascii().to_vec());
    let version_ok = req.head.header("sec-websocket-version") == Some(b"13");
    let Some(key) = key.filter(|k| version_ok && valid_key(k)) else {
        let r = Response::text(
            400,
            "Bad Request: WebSocket version 13 and a valid key are required",
        )
        .with("Sec-WebSocket-Version", "13");
        let mut out = Vec::new();
        let how = super::response::Framing {
            keep_alive: false,
            head: false,
            http10: false,
        };
        super::response::encode(&mut out, &r, how);
        let _ = stream.write_all(&out);
        let _ = stream.flush();
        stream.shutdown();
        return;
    };
    let accept = tungstenite::handshake::derive_accept_key(&key);
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    if stream
        .write_all(head.as_bytes())
        .and_then(|_| stream.flush())
        .is_err()
    {
        return;
    }
    let _ = stream.set_read_timeout(Some(WS_SLICE));
    let config = WebSocketConfig::default()
        .max_message_size(Some(live.max_body))
        // The message limit is max_body; frames may be a little larger than a tiny max_body, so
        // an oversized control frame is told apart (1002) from an oversized message (1009).
        .max_frame_size(Some(live.max_body.max(4096)));
    let socket = WebSocket::from_partially_read(stream, leftover, Role::Server, Some(config));
    let ws = Arc::new(WsConn {
        socket: Mutex::new(socket),
        closed: AtomicBool::new(false),
        remote_addr: peer.to_string(),
        path: super::path::joined(&req.segments),
        params: req.params,
        live: Arc::clone(live),
    });
    let Some(def) = live.ws.get(index) else {
        ws.close(1011, "no handler");
        return;
    };
    let rt = Arc::clone(&live.rt);
    let gid = rt.next_goroutine_id();
    let name = format!(
        "websocket handler '{}' (server '{}')",
        def.pattern, live.name
    );
    let mailbox = goroutine::register(
        &rt,
        gid,
        name.clone(),
        0,
        Some(def.at.clone()),
        Arc::new(InterruptHandle::default()),
    );
    let mut failed = false;
    let outcome = (|| -> mlua::Result<()> {
        let state = GoState::with_mailbox(&rt, mailbox)?;
        let lua = &state.lua;
        live.globals.install(lua)?;
        let LuaValue::Function(f) = def.func.to_lua(lua)? else {
            return Err(mlua::Error::runtime(
                "the handler did not arrive as a function",
            ));
        };
        let ud = lua.create_userdata(WsRef(Arc::clone(&ws)))?;
        if let Err(e) = f.call::<()>(ud) {
            failed = true;
            if rt.cancel.reason().is_none() {
                let info = ErrorInfo::from_lua_error_in(lua, &e);
                route_error(&rt, info, gid, &name, Some(&def.at));
            }
        }
        let _ = goroutine::drain_events(lua, &state.ctx);
        Ok(())
    })();
    if let Err(e) = outcome {
        failed = true;
        if rt.cancel.reason().is_none() {
            let info = ErrorInfo::from_lua_error(&e);
            goroutine::report_unhandled(&rt, &info, gid, &name, Some(&def.at));
        }
    }
    if failed {
        ws.close(1011, "handler error");
    } else {
        ws.close(1000, "");
    }
    goroutine::unregister(&rt, gid);
}
