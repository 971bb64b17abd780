//! HTTP, HTTPS and WebSocket servers (SPEC §11): `create_server`, `handle_http`, `handle_ws`,
//! `start_server`, `stop_server`.
//!
//! Each running server has an accept thread; a pool of worker goroutines (worker.rs), each owning a
//! Lua state with the handlers and serving one connection at a time, running its handlers itself
//! (at most `max_connections` at once; beyond that new connections wait in the kernel's backlog);
//! and a control thread that enforces the per-handler `--timeout` and shuts the server down on
//! `stop_server` or when the run is cancelled.

pub mod http;
pub mod router;
pub mod tls;
pub mod worker;
pub mod ws;

use crate::runtime::args::{arg_error, bad_argument, check_string, nil_err};
use crate::runtime::goroutine::{self, caller_location};
use crate::runtime::value::{GlobalsSnapshot, Value};
use crate::runtime::{ctx, ServiceGuard, Shared};
use crossbeam_channel::{Receiver, Sender};
use http::{Conn, ReadError, Request, Response};
use mlua::{Lua, MultiValue, Value as LuaValue};
use parking_lot::{Condvar, Mutex};
use router::{Route, Router};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Default request body limit (`max_body`).
pub const DEFAULT_MAX_BODY: usize = 8 * 1024 * 1024;
/// Default bound on simultaneous connections (`max_connections`).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// How long `stop_server` (or a shutdown) waits for in-flight requests and WebSockets.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Stack of connection threads: a WebSocket connection's thread runs Lua, so as for goroutines.
const CONNECTION_STACK: usize = 1024 * 1024;

/// A handler as registered: its function (copied out of the registering state) and where it was
/// registered, for reports.
#[derive(Clone)]
pub struct HandlerDef {
    pub func: Value,
    pub pattern: String,
    pub at: String,
}

/// What a route leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Http(usize),
    Ws(usize),
}

#[derive(Default)]
struct Routes {
    router: Router<Target>,
    http: Vec<HandlerDef>,
    ws: Vec<HandlerDef>,
}

/// A server created by `create_server`.
pub struct ServerDef {
    host: String,
    port: u16,
    tls: Option<Arc<rustls::ServerConfig>>,
    max_body: usize,
    workers: Option<usize>,
    max_connections: usize,
    timeouts: http::Timeouts,
    routes: Mutex<Routes>,
    running: Mutex<Option<Arc<Live>>>,
}

/// A running server: everything its threads share.
pub struct Live {
    pub name: String,
    pub rt: Arc<Shared>,
    pub router: Router<Target>,
    pub http: Arc<Vec<HandlerDef>>,
    pub ws: Vec<HandlerDef>,
    pub globals: Arc<GlobalsSnapshot>,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub max_body: usize,
    max_connections: usize,
    timeouts: http::Timeouts,
    /// Set when the server stops: connections finish their current request and close.
    pub stop: AtomicBool,
    /// The threads that serve connections and run the handlers.
    pub pool: worker::Pool,
    /// Cleared once the accept loop has closed the listening socket.
    listening: AtomicBool,
    /// Open connections, for the bound and the drain.
    conns: Mutex<usize>,
    conns_changed: Condvar,
    /// Dropped by `stop_server` to wake the control thread.
    stop_trigger: Mutex<Option<Sender<()>>>,
}

impl Live {
    pub fn connection_ended(&self) {
        let mut n = self.conns.lock();
        *n -= 1;
        self.conns_changed.notify_all();
    }
}

/// Installs the server builtins.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    crate::runtime::value::register_handle_type::<ws::WsRef>(lua);
    ws::register_methods(lua)?;
    let g = lua.globals();
    g.set("create_server", lua.create_function(create_server)?)?;
    g.set(
        "handle_http",
        lua.create_function(|lua, args: MultiValue| add_handler(lua, args, false))?,
    )?;
    g.set(
        "handle_ws",
        lua.create_function(|lua, args: MultiValue| add_handler(lua, args, true))?,
    )?;
    g.set("start_server", lua.create_function(start_server)?)?;
    g.set("stop_server", lua.create_function(stop_server)?)?;
    Ok(())
}

fn lookup(rt: &Shared, name: &str, func: &str) -> mlua::Result<Arc<ServerDef>> {
    rt.servers
        .lock()
        .get(name)
        .cloned()
        .and_then(|s| s.downcast::<ServerDef>().ok())
        .ok_or_else(|| {
            mlua::Error::runtime(format!(
                "{func}: no server named '{name}' (create it with create_server)"
            ))
        })
}

fn opt_field<T: mlua::FromLua>(t: &mlua::Table, key: &str) -> mlua::Result<Option<T>> {
    t.get::<Option<T>>(key).map_err(|_| {
        mlua::Error::runtime(format!(
            "bad argument #2 to 'create_server' (field '{key}' has the wrong type)"
        ))
    })
}

fn port_of(v: &LuaValue, pos: usize) -> mlua::Result<u16> {
    let n = match v {
        LuaValue::Integer(i) => *i,
        LuaValue::Number(f) if f.fract() == 0.0 => *f as i64,
        LuaValue::String(s) => s
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .ok_or_else(|| bad_argument(pos, "create_server", "port number", v))?,
        _ => return Err(bad_argument(pos, "create_server", "port number", v)),
    };
    u16::try_from(n)
        .map_err(|_| arg_error(pos, "create_server", "port must be between 0 and 65535"))
}

/// `create_server(name, port, [https], [cert], [key])` or `create_server(name, {port=, host=,
/// https=, cert=, key=, max_body=, workers=, max_connections=})`.
fn create_server(lua: &Lua, args: MultiValue) -> mlua::Result<bool> {
    let rt = ctx(lua).rt;
    let name = check_string(lua, &args, 1, "create_server")?
        .to_str()?
        .to_string();
    let second = args.get(1).cloned().unwrap_or(LuaValue::Nil);
    let mut host = "0.0.0.0".to_string();
    let mut max_body = DEFAULT_MAX_BODY;
    let mut workers = None;
    let mut max_connections = DEFAULT_MAX_CONNECTIONS;
    let mut timeouts = http::Timeouts::default();
    let (port, https, cert, key) = match &second {
        LuaValue::Table(t) => {
            let port = match t.get::<LuaValue>("port")? {
                LuaValue::Nil => 0,
                v => port_of(&v, 2)?,
            };
            if let Some(h) = opt_field::<String>(t, "host")? {
                host = h;
            }
            if let Some(m) = opt_field::<i64>(t, "max_body")? {
                max_body = usize::try_from(m)
                    .map_err(|_| arg_error(2, "create_server", "max_body must not be negative"))?;
            }
            if let Some(w) = opt_field::<i64>(t, "workers")? {
                if w < 1 {
                    return Err(arg_error(2, "create_server", "workers must be at least 1"));
                }
                workers = Some(w as usize);
            }
            for (key, slot) in [
                ("idle_timeout", &mut timeouts.idle),
                ("request_timeout", &mut timeouts.request),
            ] {
                if let Some(secs) = opt_field::<f64>(t, key)? {
                    if !(secs > 0.0 && secs < 1e9) {
                        return Err(arg_error(
                            2,
                            "create_server",
                            &format!("{key} must be a positive number of seconds"),
                        ));
                    }
                    *slot = Duration::from_secs_f64(secs);
                }
            }
            if let Some(m) = opt_field::<i64>(t, "max_connections")? {
                if m < 1 {
                    return Err(arg_error(
                        2,
                        "create_server",
                        "max_connections must be at least 1",
                    ));
                }
                max_connections = m as usize;
            }
            (
                port,
                opt_field::<bool>(t, "https")?.unwrap_or(false),
                opt_field::<String>(t, "cert")?,
                opt_field::<String>(t, "key")?,
            )
        }
        v => {
            let port = port_of(v, 2)?;
            let https = match args.get(2) {
                None | Some(LuaValue::Nil) => false,
                Some(LuaValue::Boolean(b)) => *b,
                Some(v) => return Err(bad_argument(3, "create_server", "boolean", v)),
            };
            let text = |i: usize| -> mlua::Result<Option<String>> {
                match args.get(i) {
                    None | Some(LuaValue::Nil) => Ok(None),
                    Some(_) => Ok(Some(
                        check_string(lua, &args, i + 1, "create_server")?
                            .to_str()?
                            .to_string(),
                    )),
                }
            };
            (port, https, text(3)?, text(4)?)
        }
    };
    let tls = if https {
        let (Some(cert), Some(key)) = (cert, key) else {
            return Err(mlua::Error::runtime(format!(
                "create_server: HTTPS server '{name}' needs a certificate and a key file (PEM)"
            )));
        };
        let cert = resolve(&rt, &cert);
        let key = resolve(&rt, &key);
        Some(
            tls::load_config(&cert, &key)
                .map_err(|e| mlua::Error::runtime(format!("create_server: {e}")))?,
        )
    } else {
        None
    };
    let mut servers = rt.servers.lock();
    if servers.contains_key(&name) {
        return Err(mlua::Error::runtime(format!(
            "create_server: a server named '{name}' already exists"
        )));
    }
    servers.insert(
        name.clone(),
        Arc::new(ServerDef {
            host,
            port,
            tls,
            max_body,
            workers,
            max_connections,
            timeouts,
            routes: Mutex::new(Routes::default()),
            running: Mutex::new(None),
        }),
    );
    Ok(true)
}

/// A relative cert/key path is taken from the working directory when it exists there, else beside
/// the script.
fn resolve(rt: &Shared, path: &str) -> String {
    let p = std::path::Path::new(path);
    if p.is_absolute() || p.exists() {
        return path.to_string();
    }
    let beside = rt.script_dir.join(p);
    if beside.exists() {
        beside.to_string_lossy().into_owned()
    } else {
        path.to_string()
    }
}

/// `handle_http(name, pattern, fn)` / `handle_ws(name, path, fn)`.
fn add_handler(lua: &Lua, args: MultiValue, websocket: bool) -> mlua::Result<bool> {
    let func_name = if websocket {
        "handle_ws"
    } else {
        "handle_http"
    };
    let rt = ctx(lua).rt;
    let name = check_string(lua, &args, 1, func_name)?
        .to_str()?
        .to_string();
    let pattern = check_string(lua, &args, 2, func_name)?
        .to_str()?
        .to_string();
    let f = match args.get(2) {
        Some(f @ LuaValue::Function(_)) => f.clone(),
        other => return Err(bad_argument(3, func_name, "function", other)),
    };
    let server = lookup(&rt, &name, func_name)?;
    if server.running.lock().is_some() {
        return Err(mlua::Error::runtime(format!(
            "{func_name}: server '{name}' is running; add routes before start_server (or stop it first)"
        )));
    }
    let func = Value::from_lua(lua, &f, &format!("handler for '{pattern}'"))?;
    let def = HandlerDef {
        func,
        pattern: pattern.clone(),
        at: caller_location(lua),
    };
    let mut routes = server.routes.lock();
    let target = if websocket {
        Target::Ws(routes.ws.len())
    } else {
        Target::Http(routes.http.len())
    };
    routes
        .router
        .add(&pattern, target)
        .map_err(|e| mlua::Error::runtime(format!("{func_name}: {e}")))?;
    if websocket {
        routes.ws.push(def);
    } else {
        routes.http.push(def);
    }
    Ok(true)
}

/// How many workers a server gets.
fn pool_size(rt: &Shared, server: &ServerDef) -> usize {
    server
        .workers
        .or(rt.config.workers)
        .unwrap_or_else(|| {
            4 * std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
        .max(1)
}

/// `start_server(name)` → the bound port, or `nil, err` when it cannot listen.
fn start_server(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let ctx = ctx(lua);
    let rt = Arc::clone(&ctx.rt);
    let name = check_string(lua, &args, 1, "start_server")?
        .to_str()?
        .to_string();
    let server = lookup(&rt, &name, "start_server")?;
    let mut running = server.running.lock();
    if running.is_some() {
        return Err(mlua::Error::runtime(format!(
            "start_server: server '{name}' is already running"
        )));
    }
    let addr = format!("{}:{}", server.host, server.port);
    let listener = match addr
        .to_socket_addrs()
        .map_err(|e| e.to_string())
        .and_then(|mut a| a.next().ok_or_else(|| "no address".to_string()))
        .and_then(|a| TcpListener::bind(a).map_err(|e| crate::runtime::args::io_error_text(&e)))
    {
        Ok(l) => l,
        Err(e) => return nil_err(lua, format!("listen tcp {addr}: {e}")),
    };
    let local = listener.local_addr().map_err(mlua::Error::external)?;
    let globals = Arc::new(GlobalsSnapshot::take(lua)?);
    let (router, http, ws_defs) = {
        let r = server.routes.lock();
        (r.router.clone(), r.http.clone(), r.ws.clone())
    };
    let workers = pool_size(&rt, &server);
    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
    let live = Arc::new(Live {
        name: name.clone(),
        rt: Arc::clone(&rt),
        router,
        http: Arc::new(http),
        ws: ws_defs,
        globals,
        tls: server.tls.clone(),
        max_body: server.max_body,
        max_connections: server.max_connections,
        timeouts: server.timeouts,
        stop: AtomicBool::new(false),
        pool: worker::Pool::new(workers),
        listening: AtomicBool::new(true),
        conns: Mutex::new(0),
        conns_changed: Condvar::new(),
        stop_trigger: Mutex::new(Some(stop_tx)),
    });
    let guard = rt.start_service();
    worker::start_pool(&live)?;
    let accept_live = Arc::clone(&live);
    std::thread::Builder::new()
        .name(format!("server-{name}-accept"))
        .stack_size(256 * 1024)
        .spawn(move || accept_loop(accept_live, listener))
        .map_err(|e| mlua::Error::runtime(format!("start_server: cannot start a thread: {e}")))?;
    let control_live = Arc::clone(&live);
    let server2 = Arc::clone(&server);
    std::thread::Builder::new()
        .name(format!("server-{name}-control"))
        .stack_size(256 * 1024)
        .spawn(move || control(control_live, server2, local, stop_rx, guard))
        .map_err(|e| mlua::Error::runtime(format!("start_server: cannot start a thread: {e}")))?;
    *running = Some(live);
    Ok(MultiValue::from_iter([LuaValue::Integer(
        local.port() as i64
    )]))
}

/// Stops every running server of the run, as `stop_server` does, and waits until their in-flight
/// requests have been answered and their connections closed, or `limit` has passed. Meant for a
/// graceful SIGTERM: call it before cancelling the run (cancellation interrupts handlers mid-way).
pub fn stop_all(rt: &Shared, limit: Duration) {
    let servers: Vec<Arc<ServerDef>> = rt
        .servers
        .lock()
        .values()
        .filter_map(|s| Arc::clone(s).downcast::<ServerDef>().ok())
        .collect();
    let stopping: Vec<Arc<Live>> = servers
        .iter()
        .filter_map(|s| s.running.lock().take())
        .collect();
    for live in &stopping {
        live.stop.store(true, Ordering::Release);
        live.stop_trigger.lock().take();
    }
    let deadline = Instant::now() + limit;
    for live in &stopping {
        let mut n = live.conns.lock();
        while (*n > 0 || live.listening.load(Ordering::Acquire)) && Instant::now() < deadline {
            live.conns_changed
                .wait_for(&mut n, Duration::from_millis(20));
        }
    }
}

/// `stop_server(name)`: stops accepting at once; in-flight requests finish and WebSockets are
/// closed in the background (bounded by [`DRAIN_TIMEOUT`]). Returns whether it was running.
fn stop_server(lua: &Lua, args: MultiValue) -> mlua::Result<bool> {
    let rt = ctx(lua).rt;
    let name = check_string(lua, &args, 1, "stop_server")?
        .to_str()?
        .to_string();
    let server = lookup(&rt, &name, "stop_server")?;
    let live = server.running.lock().take();
    Ok(match live {
        Some(live) => {
            live.stop.store(true, Ordering::Release);
            live.stop_trigger.lock().take();
            // Wait (briefly) for the port to be released, so the server can be started again
            // at once; the drain goes on in the background.
            let deadline = Instant::now() + Duration::from_secs(2);
            let mut n = live.conns.lock();
            while live.listening.load(Ordering::Acquire) && Instant::now() < deadline {
                live.conns_changed
                    .wait_for(&mut n, Duration::from_millis(20));
            }
            true
        }
        None => false,
    })
}

/// Accepts connections until the server stops, never more than `max_connections` at once. Accept
/// errors (out of file descriptors, a connection reset before it was accepted) are survived.
fn accept_loop(live: Arc<Live>, listener: TcpListener) {
    accept_until_stopped(&live, &listener);
    drop(listener);
    live.pool.close();
    live.listening.store(false, Ordering::Release);
    let _n = live.conns.lock();
    live.conns_changed.notify_all();
}

fn accept_until_stopped(live: &Arc<Live>, listener: &TcpListener) {
    loop {
        {
            let mut n = live.conns.lock();
            while *n >= live.max_connections && !live.stop.load(Ordering::Acquire) {
                live.conns_changed
                    .wait_for(&mut n, Duration::from_millis(100));
            }
        }
        if live.stop.load(Ordering::Acquire) {
            return;
        }
        match listener.accept() {
            Ok((tcp, addr)) => {
                if live.stop.load(Ordering::Acquire) {
                    return;
                }
                *live.conns.lock() += 1;
                if !worker::dispatch(live, (tcp, addr)) {
                    live.connection_ended();
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            Err(_) => {
                // EMFILE and friends: the connection stays in the backlog; try again shortly.
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Holds one of the `max_connections` slots for a connection thread.
struct SlotGuard<'a>(&'a Live);

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        self.0.connection_ended();
    }
}

/// Watches handler time limits while the server runs; on `stop_server` or cancellation stops the
/// accept loop, lets connections drain, and ends the service.
fn control(
    live: Arc<Live>,
    server: Arc<ServerDef>,
    local: SocketAddr,
    stop_rx: Receiver<()>,
    guard: ServiceGuard,
) {
    let limit = live.rt.config.timeout.filter(|d| !d.is_zero());
    let tick = Duration::from_millis(20);
    loop {
        crossbeam_channel::select! {
            recv(stop_rx) -> _ => break,
            recv(live.rt.cancel.signal()) -> _ => break,
            default(tick) => {}
        }
        if let Some(limit) = limit {
            live.pool.check_time(limit);
        }
    }
    live.stop.store(true, Ordering::Release);
    // Wake the accept loop out of its blocking accept.
    let wake = match local {
        SocketAddr::V4(a) if a.ip().is_unspecified() => {
            SocketAddr::from(([127, 0, 0, 1], a.port()))
        }
        SocketAddr::V6(a) if a.ip().is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, a.port()))
        }
        a => a,
    };
    let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    {
        let mut n = live.conns.lock();
        while *n > 0 && Instant::now() < deadline {
            live.conns_changed
                .wait_for(&mut n, Duration::from_millis(50));
            if let Some(limit) = limit {
                live.pool.check_time(limit);
            }
        }
    }
    // A stopped server can be started again: forget this run if `stop_server` did not already.
    let mut running = server.running.lock();
    if running.as_ref().is_some_and(|r| Arc::ptr_eq(r, &live)) {
        *running = None;
    }
    drop(running);
    drop(guard);
}

/// Whether `req` asks for a WebSocket upgrade.
fn is_ws_upgrade(req: &Request) -> bool {
    req.method == "GET"
        && req.header_has_token("upgrade", "websocket")
        && req.header_has_token("connection", "upgrade")
}

/// Serves a connection the accept loop counted, on the thread of `worker` (`None` when that
/// thread's Lua state could not be built: handler routes then get 500), and frees its slot.
fn serve_accepted(live: &Arc<Live>, worker: Option<&worker::Worker>, conn: worker::Accepted) {
    // Frees the slot however the connection ends (a panic included).
    let _slot = SlotGuard(live);
    serve_connection(live, worker, conn.0, conn.1);
}

/// Serves one connection: requests in order (pipelined ones too) until the client closes, asks to
/// close, errs, idles too long, or the server stops. Handlers run right here, on `worker`'s state.
fn serve_connection(
    live: &Arc<Live>,
    worker: Option<&worker::Worker>,
    tcp: TcpStream,
    addr: SocketAddr,
) {
    let _ = tcp.set_nodelay(true);
    let _ = tcp.set_write_timeout(Some(Duration::from_secs(30)));
    let Ok(stream) = tls::Stream::new(tcp, live.tls.as_ref()) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(http::READ_SLICE));
    let mut conn = Conn::new(stream);
    let remote = addr.to_string();
    let mut out = Vec::with_capacity(1024);
    loop {
        let req = match conn.read_request(live.max_body, &live.timeouts, &live.stop) {
            Ok(r) => r,
            Err(ReadError::Closed) | Err(ReadError::Io) => break,
            Err(ReadError::Status(code, msg)) => {
                out.clear();
                http::encode_response(&mut out, &Response::text(code, msg), false, false);
                let _ = conn.stream.write_all(&out);
                let _ = conn.stream.flush();
                linger_close(conn);
                return;
            }
        };
        let head = req.method == "HEAD";
        let keep = req.keep_alive && !live.stop.load(Ordering::Acquire);
        let resp = match live.router.route(&req.method, &req.path) {
            Route::Found {
                target: Target::Http(i),
                params,
                ..
            } => match worker {
                Some(w) => w.handle(live, *i, &req, &params, &remote),
                None => Response::text(
                    500,
                    "Internal Server Error: the handler's Lua state could not be built",
                ),
            },
            Route::Found {
                target: Target::Ws(i),
                params,
                ..
            } => {
                if is_ws_upgrade(&req) {
                    ws::serve(live, conn, &req, *i, params, remote);
                    return;
                }
                let mut r = Response::text(426, "Upgrade Required: this path speaks WebSocket");
                r.headers.push(("Upgrade".into(), b"websocket".to_vec()));
                r
            }
            Route::NotFound => Response::text(404, "404 page not found"),
            Route::MethodNotAllowed(methods) => {
                let mut r = Response::text(405, "Method Not Allowed");
                r.headers
                    .push(("Allow".into(), methods.join(", ").into_bytes()));
                r
            }
            Route::Redirect(to) => {
                let mut location = to;
                if !req.query.is_empty() {
                    location = format!("{location}?{}", req.query);
                }
                let mut r = Response::text(301, "Moved Permanently");
                r.headers.push(("Location".into(), location.into_bytes()));
                r
            }
        };
        out.clear();
        http::encode_response(&mut out, &resp, keep, head);
        if conn
            .stream
            .write_all(&out)
            .and_then(|_| conn.stream.flush())
            .is_err()
        {
            return;
        }
        if !keep {
            break;
        }
        if let Some(w) = worker {
            w.poll_events();
        }
    }
    conn.stream.shutdown();
}

/// After an error response: stop writing, read (and drop) what the client is still sending for a
/// moment, then close, so the client sees the response rather than a reset.
fn linger_close(mut conn: Conn) {
    let _ = conn.stream.flush();
    if let tls::Stream::Plain(s) = &conn.stream {
        let _ = s.shutdown(std::net::Shutdown::Write);
    }
    let deadline = Instant::now() + Duration::from_millis(500);
    let mut sink = [0u8; 8192];
    let mut total = 0usize;
    while Instant::now() < deadline && total < 1 << 20 {
        match conn.stream.read(&mut sink) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(e) if goroutine::is_slice_timeout(&e) => {}
            Err(_) => break,
        }
    }
    conn.stream.shutdown();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_all_drains_a_running_server() {
        let rt = Shared::new(
            crate::config::Config::default(),
            std::path::PathBuf::from("."),
        );
        let state = crate::runtime::state::GoState::new(&rt, rt.next_goroutine_id()).unwrap();
        let port: u16 = state
            .lua
            .load(
                r#"create_server("s", {port = 0, host = "127.0.0.1", workers = 1})
                handle_http("s", "/", function() return "ok" end)
                return start_server("s")"#,
            )
            .eval()
            .unwrap();
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let mut buf = [0u8; 256];
        let n = c.read(&mut buf).unwrap();
        assert!(buf[..n].ends_with(b"ok"));
        assert_eq!(rt.services(), 1);
        // The idle keep-alive connection is closed by the stop, well within the limit.
        stop_all(&rt, Duration::from_secs(20));
        assert_eq!(c.read(&mut buf).unwrap(), 0);
        let deadline = Instant::now() + Duration::from_secs(20);
        while rt.services() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(rt.services(), 0);
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
        crate::runtime::goroutine::unregister(&rt, state.ctx.gid);
    }
}
