//! `ws_connect(url, [headers])` (SPEC §10): a WebSocket client on tungstenite (`wss://` through
//! rustls with the bundled Mozilla roots, so nothing is fetched at run time). The object has the
//! methods of a server-side `ws` (SPEC §11): `send`, `send_binary`, `receive([timeout])`, `close`,
//! `is_closed`, and the fields `remote_addr`, `path` (of the URL) and `params` (empty). Pings are answered by tungstenite while reading or writing.

use super::{bound_method, fail, off_thread, BoundObject, Method};
use crate::builtins::net::tcp;
use crate::runtime::args;
use crate::runtime::args::{deadline_after, opt_seconds};
use crate::runtime::ctx;
use crate::runtime::goroutine::{self, IO_SLICE};
use crate::runtime::value::{self, SharedHandle};
use mlua::{
    AnyUserData, Lua, MetaMethod, MultiValue, UserData, UserDataMethods, Value as LuaValue,
};
use parking_lot::Mutex;
use std::any::Any;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tungstenite::client::IntoClientRequest;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// Connect and handshake must finish within this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `close()` waits for the peer's close reply.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

struct WsInner {
    /// Taken per slice only, so a `send` from another goroutine waits at most one slice.
    socket: Mutex<Socket>,
    remote: String,
    /// The path of the URL it connected to (`ws.path`, as a server-side `ws` has it).
    path: String,
    closed: AtomicBool,
}

/// A WebSocket client connection; crosses goroutines by reference.
#[derive(Clone)]
pub struct WsClient(Arc<WsInner>);

impl SharedHandle for WsClient {
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

impl BoundObject for WsClient {
    fn same(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// The connection's methods (also read by the builtin catalog's test).
pub(crate) const METHODS: &[(&str, Method<WsClient>)] = &[
    ("send", ws_send),
    ("send_binary", ws_send_binary),
    ("receive", ws_receive),
    ("close", ws_close),
    ("is_closed", ws_is_closed),
];

impl UserData for WsClient {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_function(
            MetaMethod::Index,
            |lua, (ud, key): (AnyUserData, LuaValue)| {
                let LuaValue::String(key) = key else {
                    return Ok(LuaValue::Nil);
                };
                let key = key.to_string_lossy();
                match key.as_str() {
                    "remote_addr" | "path" => {
                        let this = ud.borrow::<WsClient>()?.clone();
                        let text = if key == "path" {
                            &this.0.path
                        } else {
                            &this.0.remote
                        };
                        return Ok(LuaValue::String(lua.create_string(text)?));
                    }
                    // A server-side `ws` has the values its path pattern bound; a client none.
                    "params" => return Ok(LuaValue::Table(lua.create_table()?)),
                    _ => {}
                }
                Ok(bound_method(lua, &ud, &key, METHODS)?.unwrap_or(LuaValue::Nil))
            },
        );
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(format!("websocket {}", this.0.remote))
        });
    }
}

/// Installs `ws_connect`.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    value::register_handle_type::<WsClient>(lua);
    lua.globals()
        .set("ws_connect", lua.create_function(ws_connect)?)
}

fn tcp_of(s: &MaybeTlsStream<TcpStream>) -> Option<&TcpStream> {
    match s {
        MaybeTlsStream::Plain(s) => Some(s),
        MaybeTlsStream::Rustls(s) => Some(s.get_ref()),
        _ => None,
    }
}

/// Connects and handshakes (on a helper thread, blocking with [`CONNECT_TIMEOUT`]).
fn open(
    url: &str,
    headers: Vec<(String, String)>,
    ca_file: Option<String>,
) -> Result<(Socket, String, String), String> {
    let connector = match &ca_file {
        Some(path) => Some(tungstenite::Connector::Rustls(trusting(path)?)),
        None => None,
    };
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    for (k, v) in headers {
        let name = tungstenite::http::HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| format!("invalid header name '{k}'"))?;
        let value = tungstenite::http::HeaderValue::from_str(&v)
            .map_err(|_| format!("invalid value for header '{k}'"))?;
        request.headers_mut().append(name, value);
    }
    let uri = request.uri().clone();
    let path = uri.path().to_string();
    let host = uri
        .host()
        .ok_or("URL has no host")?
        .trim_matches(['[', ']']);
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("wss") {
            443
        } else {
            80
        });
    let stream = tcp::connect(host, port, CONNECT_TIMEOUT)?;
    let remote = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    stream
        .set_read_timeout(Some(CONNECT_TIMEOUT))
        .and_then(|_| stream.set_write_timeout(Some(CONNECT_TIMEOUT)))
        .map_err(|e| args::io_error_text(&e))?;
    let handshake = tungstenite::client_tls_with_config(request, stream, None, connector);
    let (socket, _) = handshake.map_err(|e| match e {
        tungstenite::HandshakeError::Failure(e) => describe(&e),
        tungstenite::HandshakeError::Interrupted(_) => "handshake timed out".into(),
    })?;
    if let Some(s) = tcp_of(socket.get_ref()) {
        s.set_read_timeout(Some(IO_SLICE))
            .and_then(|_| s.set_write_timeout(Some(IO_SLICE)))
            .map_err(|e| args::io_error_text(&e))?;
    }
    Ok((socket, remote, path))
}

fn describe(e: &tungstenite::Error) -> String {
    match e {
        tungstenite::Error::Io(io) => super::io_failure_text(io),
        tungstenite::Error::Tls(tungstenite::error::TlsError::Rustls(tls)) => {
            super::tls_error_text(tls)
        }
        tungstenite::Error::Tls(tls) => format!("TLS error: {tls}"),
        tungstenite::Error::Http(resp) => {
            format!("handshake refused with status {}", resp.status())
        }
        other => other.to_string(),
    }
}

/// A TLS client configuration that trusts exactly the certificates in the PEM file `path`.
fn trusting(path: &str) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| match e {
            rustls::pki_types::pem::Error::Io(io) => {
                format!("cannot read ca_file {path}: {}", args::io_error_text(&io))
            }
            other => format!("bad ca_file {path}: {other}"),
        })?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad ca_file {path}: {e}"))?;
    let mut roots = rustls::RootCertStore::empty();
    for c in certs {
        roots
            .add(c)
            .map_err(|e| format!("bad ca_file {path}: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("ca_file {path} holds no certificate"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// `ws_connect(url, [headers], [{ca_file = path}])` → client | `nil, err`.
fn ws_connect(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let url = args::check_string(lua, &a, 1, "ws_connect")?
        .to_string_lossy()
        .to_string();
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("ws://") || lower.starts_with("wss://")) {
        return Err(args::arg_error(
            1,
            "ws_connect",
            "URL must start with ws:// or wss://",
        ));
    }
    let mut headers = Vec::new();
    match a.get(1) {
        None | Some(LuaValue::Nil) => {}
        Some(LuaValue::Table(t)) => {
            for pair in t.pairs::<String, String>() {
                headers.push(pair.map_err(|_| {
                    args::arg_error(2, "ws_connect", "headers must map names to strings")
                })?);
            }
        }
        Some(v) => return Err(args::bad_argument(2, "ws_connect", "table", v)),
    }
    let ca_file = match a.get(2) {
        None | Some(LuaValue::Nil) => None,
        Some(LuaValue::Table(t)) => match t.get::<LuaValue>("ca_file")? {
            LuaValue::Nil => None,
            LuaValue::String(s) => Some(s.to_string_lossy().to_string()),
            _ => return Err(args::arg_error(3, "ws_connect", "ca_file must be a string")),
        },
        Some(v) => return Err(args::bad_argument(3, "ws_connect", "table", v)),
    };
    let target = url.clone();
    match off_thread(lua, "ws-connect", move || open(&target, headers, ca_file))? {
        Ok((socket, remote, path)) => {
            let client = WsClient(Arc::new(WsInner {
                socket: Mutex::new(socket),
                remote,
                path,
                closed: AtomicBool::new(false),
            }));
            Ok(MultiValue::from_iter([client.push(lua)?]))
        }
        Err(msg) => fail(lua, format!("ws_connect {url}: {msg}")),
    }
}

fn is_would_block(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io) if goroutine::is_slice_timeout(io))
}

/// Sends one message and flushes it, in slices. `true` | `nil, err`.
fn send_message(lua: &Lua, ws: &WsClient, msg: Message) -> mlua::Result<MultiValue> {
    if ws.0.closed.load(Ordering::Acquire) {
        return fail(lua, "websocket is closed");
    }
    let ctx = ctx(lua);
    let mut msg = Some(msg);
    let result = goroutine::io_wait(lua, &ctx, &mut || {
        let mut socket = ws.0.socket.lock();
        let step = match msg.take() {
            Some(m) => socket.send(m),
            None => socket.flush(),
        };
        match step {
            Ok(()) => Ok(Some(Ok(()))),
            Err(e) if is_would_block(&e) => Ok(None),
            Err(e) => Ok(Some(Err(describe(&e)))),
        }
    })?;
    match result {
        Ok(()) => Ok(MultiValue::from_iter([LuaValue::Boolean(true)])),
        Err(msg) => fail(lua, msg),
    }
}

fn ws_send(lua: &Lua, ws: &WsClient, a: MultiValue) -> mlua::Result<MultiValue> {
    let text = args::check_string(lua, &a, 1, "send")?;
    let text = String::from_utf8(text.as_bytes().to_vec())
        .map_err(|_| args::arg_error(1, "send", "text is not valid UTF-8 (use send_binary)"))?;
    send_message(lua, ws, Message::text(text))
}

fn ws_send_binary(lua: &Lua, ws: &WsClient, a: MultiValue) -> mlua::Result<MultiValue> {
    let data = args::check_string(lua, &a, 1, "send_binary")?;
    send_message(lua, ws, Message::binary(data.as_bytes().to_vec()))
}

/// What one receive produced.
enum Received {
    Message(Vec<u8>),
    Closed,
    Timeout,
    Failed(String),
}

/// `receive([timeout])` → the next text or binary message | `nil` once closed | `nil, "timeout"`.
fn ws_receive(lua: &Lua, ws: &WsClient, a: MultiValue) -> mlua::Result<MultiValue> {
    let deadline = opt_seconds(&a, 1, "receive")?.and_then(deadline_after);
    if ws.0.closed.load(Ordering::Acquire) {
        return Ok(MultiValue::from_iter([LuaValue::Nil]));
    }
    let ctx = ctx(lua);
    let got = goroutine::io_wait(lua, &ctx, &mut || {
        let mut socket = ws.0.socket.lock();
        match socket.read() {
            Ok(Message::Text(t)) => Ok(Some(Received::Message(t.as_bytes().to_vec()))),
            Ok(Message::Binary(b)) => Ok(Some(Received::Message(b.to_vec()))),
            Ok(Message::Close(_)) => {
                // tungstenite queued the close reply: send it before reporting the end.
                let _ = socket.flush();
                Ok(Some(Received::Closed))
            }
            Ok(_) => Ok(None),
            Err(e) if is_would_block(&e) => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    Ok(Some(Received::Timeout))
                } else {
                    Ok(None)
                }
            }
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                Ok(Some(Received::Closed))
            }
            Err(e) => Ok(Some(Received::Failed(describe(&e)))),
        }
    })?;
    match got {
        Received::Message(bytes) => Ok(MultiValue::from_iter([LuaValue::String(
            lua.create_string(&bytes)?,
        )])),
        Received::Closed => {
            ws.0.closed.store(true, Ordering::Release);
            Ok(MultiValue::from_iter([LuaValue::Nil]))
        }
        Received::Timeout => fail(lua, "timeout"),
        Received::Failed(msg) => {
            ws.0.closed.store(true, Ordering::Release);
            fail(lua, msg)
        }
    }
}

/// `is_closed()`: whether this side closed the connection or saw it end, as a server-side `ws`.
fn ws_is_closed(_lua: &Lua, ws: &WsClient, _a: MultiValue) -> mlua::Result<MultiValue> {
    Ok(MultiValue::from_iter([LuaValue::Boolean(
        ws.0.closed.load(Ordering::Acquire),
    )]))
}

/// `close()`: sends a close frame and waits (briefly) for the peer's reply. Always `true`.
fn ws_close(lua: &Lua, ws: &WsClient, _a: MultiValue) -> mlua::Result<MultiValue> {
    if ws.0.closed.swap(true, Ordering::AcqRel) {
        return Ok(MultiValue::from_iter([LuaValue::Boolean(true)]));
    }
    let end = Instant::now() + CLOSE_WAIT;
    let ctx = ctx(lua);
    let mut started = false;
    goroutine::io_wait(lua, &ctx, &mut || {
        let mut socket = ws.0.socket.lock();
        let step = if started {
            socket.read().map(|_| ())
        } else {
            started = true;
            socket.close(None)
        };
        match step {
            Ok(()) | Err(_) if Instant::now() >= end => Ok(Some(())),
            Ok(()) => Ok(None),
            Err(e) if is_would_block(&e) => Ok(None),
            Err(_) => Ok(Some(())),
        }
    })?;
    if let Some(s) = tcp_of(ws.0.socket.lock().get_ref()) {
        let _ = s.shutdown(std::net::Shutdown::Both);
    }
    Ok(MultiValue::from_iter([LuaValue::Boolean(true)]))
}
