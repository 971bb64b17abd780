//! HTTP, HTTPS and WebSocket servers (SPEC §11, §12): `create_server`, `handle_http`,
//! `handle_ws`, `start_server`, `stop_server`.
//!
//! A running server has one event loop per core (event_loop.rs) holding its connections in epoll,
//! worker threads with their own Lua states that drive the loops and run the handlers
//! (worker.rs, handler.rs), and a control thread (control.rs) that enforces handler deadlines,
//! hands a loop on when its worker is held up in a handler, and drains the server when it stops.
//! Requests are parsed by request.rs and path.rs, answered through response.rs; WebSocket
//! connections leave the loops for a goroutine of their own (ws.rs).

pub mod conn;
mod control;
pub mod dispatch;
pub mod event_loop;
pub mod handler;
pub mod path;
pub mod request;
pub mod response;
pub mod router;
pub mod tls;
pub mod worker;
pub mod ws;

use crate::runtime::args::{arg_error, bad_argument, check_string};
use crate::runtime::goroutine::caller_location;
use crate::runtime::value::{GlobalsSnapshot, Value};
use crate::runtime::{ctx, Shared};
use event_loop::LoopShared;
use mlua::{Lua, MultiValue, Value as LuaValue};
use parking_lot::{Condvar, Mutex};
use router::Router;
use std::net::{TcpListener, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Default request body limit (`max_body`).
pub const DEFAULT_MAX_BODY: usize = 8 * 1024 * 1024;
/// Default bound on open connections (`max_connections`); at the bound the longest-idle
/// keep-alive connection makes room for a new one.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// How long `stop_server` (or a shutdown) waits for in-flight requests and WebSockets.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// A time limit this long or longer means none.
const CENTURY_SECS: f64 = 100.0 * 365.25 * 86400.0;
/// Stack of worker and WebSocket threads: they run Lua, so as for goroutines.
const CONNECTION_STACK: usize = 1024 * 1024;
/// How long a connection may sit idle between requests (default of `idle_timeout`).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a client may take to send one whole request once it has started (default of
/// `request_timeout`).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The time limits on a client.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// Between requests: then the connection is closed quietly.
    pub idle: Duration,
    /// From a request's first byte to its last (a TLS handshake included): then 408 and close.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            idle: IDLE_TIMEOUT,
            request: REQUEST_TIMEOUT,
        }
    }
}

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

/// A handler time limit as configured: the run's `--timeout`, or the server's own.
#[derive(Clone, Copy, Debug)]
enum HandlerLimit {
    Default,
    None,
    Limit(Duration),
}

/// A server created by `create_server`.
pub struct ServerDef {
    host: String,
    port: u16,
    tls: Option<Arc<rustls::ServerConfig>>,
    max_body: usize,
    workers: Option<usize>,
    max_connections: usize,
    timeouts: Timeouts,
    handler_limit: HandlerLimit,
    routes: Mutex<Routes>,
    running: Mutex<Option<Arc<Live>>>,
}

/// A running server: everything its threads share.
pub struct Live {
    pub name: String,
    pub rt: Arc<Shared>,
    pub router: Router<Target>,
    pub http: Vec<HandlerDef>,
    pub ws: Vec<HandlerDef>,
    pub globals: Arc<GlobalsSnapshot>,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub max_body: usize,
    pub timeouts: Timeouts,
    /// How often a loop looks for connections past their time limits.
    pub sweep_every: Duration,
    /// A handler's time limit (`handler_timeout`, else `--timeout`).
    pub handler_limit: Option<Duration>,
    /// Each loop's share of `max_connections`.
    pub cap_per_loop: usize,
    pub loops: Vec<Arc<LoopShared>>,
    pub workers: worker::Workers,
    /// Set when the server stops: no new connections, each closes after its current request.
    pub stop: AtomicBool,
    /// Set when the drain time is over: everything still open is closed.
    pub force: AtomicBool,
    /// The server's clock (loop hand-off times are microseconds since this).
    clock: Instant,
    in_flight: AtomicUsize,
    /// The control thread sleeps long and wants a word when a handler starts.
    control_armed: AtomicBool,
    control_wake: crossbeam_channel::Sender<()>,
    loops_finished: AtomicUsize,
    ws_open: AtomicUsize,
    /// Whether the listening socket is still open, for `stop_server`'s wait.
    listening: Mutex<bool>,
    listening_changed: Condvar,
    stop_trigger: Mutex<Option<crossbeam_channel::Sender<()>>>,
}

impl Live {
    /// Microseconds on the server's clock (never 0).
    pub fn now_us(&self) -> u64 {
        self.clock.elapsed().as_micros() as u64 + 1
    }

    /// The loop a new connection goes to: the one with the fewest.
    pub fn least_loaded_loop(&self) -> usize {
        self.loops
            .iter()
            .enumerate()
            .min_by_key(|(_, l)| l.conns.load(Ordering::Relaxed))
            .map_or(0, |(i, _)| i)
    }

    pub fn loop_finished(&self) {
        self.loops_finished.fetch_add(1, Ordering::AcqRel);
        let _ = self.control_wake.try_send(());
    }

    pub fn all_loops_finished(&self) -> bool {
        self.loops_finished.load(Ordering::Acquire) >= self.loops.len()
    }

    pub fn listener_closed(&self) {
        *self.listening.lock() = false;
        self.listening_changed.notify_all();
    }

    pub fn handler_started(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        if self.control_armed.swap(false, Ordering::AcqRel) {
            let _ = self.control_wake.try_send(());
        }
    }

    pub fn handler_ended(&self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    pub fn ws_opened(&self) {
        self.ws_open.fetch_add(1, Ordering::AcqRel);
    }

    pub fn ws_closed(&self) {
        self.ws_open.fetch_sub(1, Ordering::AcqRel);
        let _ = self.control_wake.try_send(());
    }

    /// The handler time limit as a report says it.
    pub fn limit_text(&self) -> String {
        self.handler_limit
            .map(|d| format!("{}s", d.as_secs_f64()))
            .unwrap_or_else(|| "none".into())
    }

    /// Stops the server (once): the control thread drains it.
    fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.stop_trigger.lock().take();
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
/// https=, cert=, key=, max_body=, workers=, max_connections=, idle_timeout=, request_timeout=,
/// handler_timeout=})`.
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
    let mut timeouts = Timeouts::default();
    let mut handler_limit = HandlerLimit::Default;
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
            if let Some(secs) = opt_field::<f64>(t, "handler_timeout")? {
                handler_limit = if secs.is_nan() || secs < 0.0 {
                    return Err(arg_error(
                        2,
                        "create_server",
                        "handler_timeout must be a number of seconds (0 for none)",
                    ));
                } else if secs == 0.0 || secs >= CENTURY_SECS {
                    HandlerLimit::None
                } else {
                    HandlerLimit::Limit(Duration::from_secs_f64(secs))
                };
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
            handler_limit,
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
            2 * std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
        .max(1)
}

/// How many event loops a server runs: one per core (`SOLVM_SERVER_LOOPS` overrides it, for
/// measurements).
fn loop_count() -> usize {
    std::env::var("SOLVM_SERVER_LOOPS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, 64)
}

/// Lets the process open as many files as the system allows it (Go's runtime does the same at
/// start): idle connections cost a descriptor each, not a thread.
fn raise_fd_limit() {
    // Safety: getrlimit/setrlimit on a local struct.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// `start_server(name)` → the bound port. Raises when it cannot listen (the error names the
/// address and why).
fn start_server(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let rt = Arc::clone(&ctx(lua).rt);
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
    let listener = addr
        .to_socket_addrs()
        .map_err(|e| e.to_string())
        .and_then(|mut a| a.next().ok_or_else(|| "no address".to_string()))
        .and_then(|a| TcpListener::bind(a).map_err(|e| crate::runtime::args::io_error_text(&e)))
        .and_then(|l| {
            l.set_nonblocking(true)
                .map_err(|e| crate::runtime::args::io_error_text(&e))?;
            Ok(l)
        })
        .map_err(|e| {
            mlua::Error::runtime(format!(
                "start_server: cannot listen on {addr} (server '{name}'): {e}"
            ))
        })?;
    let local = listener.local_addr().map_err(mlua::Error::external)?;
    raise_fd_limit();
    let globals = Arc::new(GlobalsSnapshot::take(lua)?);
    let (router, http, ws_defs) = {
        let r = server.routes.lock();
        (r.router.clone(), r.http.clone(), r.ws.clone())
    };
    let n = loop_count();
    let mut loops = Vec::with_capacity(n);
    let mut listener = Some(listener);
    for i in 0..n {
        let l = LoopShared::new(i, listener.take())
            .map_err(|e| mlua::Error::runtime(format!("start_server: cannot set up epoll: {e}")))?;
        loops.push(l);
    }
    let handler_limit = match server.handler_limit {
        HandlerLimit::Default => rt.config.timeout.filter(|d| !d.is_zero()),
        HandlerLimit::None => None,
        HandlerLimit::Limit(d) => Some(d),
    };
    let shortest = server.timeouts.idle.min(server.timeouts.request);
    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
    let (wake_tx, wake_rx) = crossbeam_channel::bounded::<()>(1);
    let live = Arc::new(Live {
        name: name.clone(),
        rt: Arc::clone(&rt),
        router,
        http,
        ws: ws_defs,
        globals,
        tls: server.tls.clone(),
        max_body: server.max_body,
        timeouts: server.timeouts,
        sweep_every: (shortest / 4).clamp(Duration::from_millis(10), Duration::from_millis(250)),
        handler_limit,
        cap_per_loop: server.max_connections.div_ceil(n).max(1),
        loops,
        workers: worker::Workers::new(pool_size(&rt, &server)),
        stop: AtomicBool::new(false),
        force: AtomicBool::new(false),
        clock: Instant::now(),
        in_flight: AtomicUsize::new(0),
        control_armed: AtomicBool::new(false),
        control_wake: wake_tx,
        loops_finished: AtomicUsize::new(0),
        ws_open: AtomicUsize::new(0),
        listening: Mutex::new(true),
        listening_changed: Condvar::new(),
        stop_trigger: Mutex::new(Some(stop_tx)),
    });
    let guard = rt.start_service();
    if let Err(e) = worker::start(&live) {
        live.request_stop();
        live.workers.close();
        return Err(mlua::Error::runtime(format!(
            "start_server: cannot start a worker thread: {e}"
        )));
    }
    control::start(
        Arc::clone(&live),
        Arc::clone(&server),
        stop_rx,
        wake_rx,
        guard,
    )
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
        live.request_stop();
    }
    let deadline = Instant::now() + limit;
    for live in &stopping {
        while !live.drained() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Live {
    /// Whether the server has stopped listening and has nothing open any more.
    fn drained(&self) -> bool {
        self.all_loops_finished() && self.ws_open.load(Ordering::Acquire) == 0
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
            live.request_stop();
            // Wait (briefly) for the port to be released, so the server can be started again
            // at once; the drain goes on in the background.
            let deadline = Instant::now() + Duration::from_secs(2);
            let mut listening = live.listening.lock();
            while *listening && Instant::now() < deadline {
                live.listening_changed
                    .wait_for(&mut listening, Duration::from_millis(20));
            }
            true
        }
        None => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpStream;

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
        let mut buf = [0u8; 512];
        let n = c.read(&mut buf).unwrap();
        assert!(
            buf[..n].ends_with(b"ok"),
            "{}",
            String::from_utf8_lossy(&buf[..n])
        );
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
