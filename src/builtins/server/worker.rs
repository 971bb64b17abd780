//! The server's threads: goroutines that each own a Lua state with copies of the server's handlers
//! and the globals as of `start_server`, serve one connection at a time, run its handlers
//! themselves and turn what a handler returns into a response. A handler error becomes a 500 and an `on_error` report; a
//! handler over `--timeout` is interrupted, answered with 503, and the worker goes on.

use super::http::{Request, Response};
use super::{HandlerDef, Live};
use crate::runtime::goroutine::{self, route_error};
use crate::runtime::interrupt::{InterruptHandle, Reason};
use crate::runtime::report::ErrorInfo;
use crate::runtime::state::GoState;
use crossbeam_channel::Sender;
use mlua::{Function, Lua, Table, Value as LuaValue};
use parking_lot::Mutex;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the control thread needs to see of one worker to enforce the handler time limit.
pub struct WorkerSlot {
    busy_since: Mutex<Option<Instant>>,
    timed_out: AtomicBool,
    interrupt: Arc<InterruptHandle>,
}

impl WorkerSlot {
    /// Interrupts the worker if its current handler call has run longer than `limit`. Fired under
    /// the `busy_since` lock, so a worker that has just finished is never interrupted afterwards.
    pub fn check_time(&self, limit: Duration) {
        let busy = self.busy_since.lock();
        if let Some(since) = *busy {
            if since.elapsed() > limit && !self.timed_out.swap(true, Ordering::AcqRel) {
                self.interrupt.fire(Reason::Timeout);
            }
        }
    }
}

/// A connection as the accept loop hands it over.
pub type Accepted = (TcpStream, SocketAddr);

/// How long a server thread beyond the kept-ready ones waits idle for a connection before it ends.
const RETIRE_AFTER: Duration = Duration::from_secs(10);

/// The server's threads. Each owns one Lua state with the handlers and serves one connection at a
/// time, running that connection's handlers itself, so a request never changes threads. `keep`
/// threads (the `workers` setting) are started with the server and stay; more start as
/// connections need them (at most `max_connections`, which the accept loop enforces) and end
/// after [`RETIRE_AFTER`] idle. Idle threads wait on their own one-slot channel and are picked
/// most recently idle first, so under light load the same few stay warm and the rest retire.
pub struct Pool {
    keep: usize,
    counts: Mutex<Counts>,
    /// Every live thread's handler clock, for the control thread.
    pub slots: Mutex<Vec<Arc<WorkerSlot>>>,
}

/// `None` tells an idle thread that the server has stopped.
type Handoff = Option<Accepted>;

#[derive(Default)]
struct Counts {
    total: usize,
    started: usize,
    /// Idle threads, most recently idle last: (thread number, its hand-off).
    idle: Vec<(usize, Sender<Handoff>)>,
    closed: bool,
}

impl Pool {
    pub fn new(keep: usize) -> Pool {
        Pool {
            keep,
            counts: Mutex::new(Counts::default()),
            slots: Mutex::new(Vec::new()),
        }
    }

    /// No more connections: idle threads end now, busy ones after their connection.
    pub fn close(&self) {
        let mut c = self.counts.lock();
        c.closed = true;
        for (_, tx) in c.idle.drain(..) {
            let _ = tx.try_send(None);
        }
    }

    /// Every live thread's handler clock, checked against `limit`.
    pub fn check_time(&self, limit: Duration) {
        for s in self.slots.lock().iter() {
            s.check_time(limit);
        }
    }
}

/// Starts the threads kept ready for `live`.
pub fn start_pool(live: &Arc<Live>) -> mlua::Result<()> {
    for _ in 0..live.pool.keep {
        live.pool.counts.lock().total += 1;
        if let Err(e) = spawn(live, None) {
            live.pool.counts.lock().total -= 1;
            return Err(mlua::Error::runtime(format!(
                "start_server: cannot start a worker thread: {e}"
            )));
        }
    }
    Ok(())
}

/// Gives an accepted connection to the most recently idle thread, or to a new one. False when no
/// thread could take it (the connection is then closed).
pub fn dispatch(live: &Arc<Live>, conn: Accepted) -> bool {
    let mut counts = live.pool.counts.lock();
    if counts.closed {
        return false;
    }
    if let Some((_, tx)) = counts.idle.pop() {
        // Under the lock, into an empty one-slot channel: never blocks, and a thread that
        // retires meanwhile finds the connection before it goes.
        return tx.try_send(Some(conn)).is_ok();
    }
    counts.total += 1;
    drop(counts);
    if spawn(live, Some(conn)).is_err() {
        live.pool.counts.lock().total -= 1;
        return false;
    }
    true
}

/// Starts one server thread, serving `first` at once when given.
fn spawn(live: &Arc<Live>, first: Option<Accepted>) -> std::io::Result<()> {
    let index = {
        let mut c = live.pool.counts.lock();
        c.started += 1;
        c.started
    };
    let rt = &live.rt;
    let gid = rt.next_goroutine_id();
    let interrupt = Arc::new(InterruptHandle::default());
    let slot = Arc::new(WorkerSlot {
        busy_since: Mutex::new(None),
        timed_out: AtomicBool::new(false),
        interrupt: Arc::clone(&interrupt),
    });
    let name = format!("server '{}' worker {index}", live.name);
    // Parent 0: `wait()` in the starting goroutine must not wait for a server's workers.
    let mailbox = goroutine::register(rt, gid, name.clone(), 0, None, interrupt);
    let l = Arc::clone(live);
    let started = std::thread::Builder::new()
        .name(format!("server-{}-worker-{index}", live.name))
        .stack_size(super::CONNECTION_STACK)
        .spawn(move || {
            let rt = Arc::clone(&l.rt);
            l.pool.slots.lock().push(Arc::clone(&slot));
            let built = GoState::with_mailbox(&rt, mailbox)
                .and_then(|state| Worker::new(state, &l, Arc::clone(&slot)));
            match built {
                Ok(worker) => {
                    if let Some(conn) = first {
                        super::serve_accepted(&l, Some(&worker), conn);
                    }
                    if let Err(e) = idle_loop(&l, &worker, index) {
                        if rt.cancel.reason().is_none() {
                            let info = ErrorInfo::from_lua_error(&e);
                            goroutine::report_unhandled(&rt, &info, gid, &name, None);
                        }
                    }
                    drop(worker);
                }
                Err(e) => {
                    let info = ErrorInfo::from_lua_error(&e);
                    goroutine::report_unhandled(&rt, &info, gid, &name, None);
                    if let Some(conn) = first {
                        super::serve_accepted(&l, None, conn);
                    }
                    l.pool.counts.lock().total -= 1;
                }
            }
            l.pool.slots.lock().retain(|s| !Arc::ptr_eq(s, &slot));
            goroutine::unregister(&rt, gid);
        });
    if let Err(e) = started {
        goroutine::unregister(rt, gid);
        return Err(e);
    }
    Ok(())
}

/// Between connections: wait for the next one, run timer callbacks and `on_error` deliveries
/// meanwhile, and end when the server stops, the run is cancelled, or (beyond the kept-ready
/// threads) after [`RETIRE_AFTER`] idle. Takes this thread off the pool's counts when it returns.
fn idle_loop(live: &Arc<Live>, worker: &Worker, index: usize) -> mlua::Result<()> {
    let pool = &live.pool;
    let ctx = &worker.state.ctx;
    let lua = &worker.state.lua;
    let (tx, rx) = crossbeam_channel::bounded::<Handoff>(1);
    // Leaves the pool: off the idle list (unless a dispatcher already took this thread off it, in
    // which case the connection it sent is closed and its slot freed) and out of the count.
    let leave = || {
        let mut c = pool.counts.lock();
        c.idle.retain(|(i, _)| *i != index);
        c.total -= 1;
        if let Ok(Some(_conn)) = rx.try_recv() {
            live.connection_ended();
        }
    };
    loop {
        {
            let mut c = pool.counts.lock();
            if c.closed {
                c.total -= 1;
                return Ok(());
            }
            c.idle.push((index, tx.clone()));
        }
        let next = loop {
            crossbeam_channel::select! {
                recv(rx) -> conn => break conn.ok().flatten(),
                recv(ctx.rt.cancel.signal()) -> _ => break None,
                recv(ctx.events) -> ev => {
                    if let Ok(ev) = ev {
                        if let Err(e) = goroutine::handle_event(lua, ctx, ev) {
                            leave();
                            return Err(e);
                        }
                    }
                }
                default(RETIRE_AFTER) => {
                    let mut c = pool.counts.lock();
                    if let Ok(conn) = rx.try_recv() {
                        break conn;
                    }
                    if c.total > pool.keep {
                        c.idle.retain(|(i, _)| *i != index);
                        c.total -= 1;
                        return Ok(());
                    }
                }
            }
        };
        match next {
            // The dispatcher took this thread off the idle list when it sent.
            Some(conn) => super::serve_accepted(live, Some(worker), conn),
            None => {
                leave();
                return Ok(());
            }
        }
    }
}

/// One server thread's Lua state, with copies of the server's HTTP handlers and the globals as of
/// `start_server`.
pub struct Worker {
    state: GoState,
    handlers: Vec<Function>,
    json_encode: Function,
    slot: Arc<WorkerSlot>,
}

impl Worker {
    fn new(state: GoState, live: &Live, slot: Arc<WorkerSlot>) -> mlua::Result<Worker> {
        let lua = &state.lua;
        live.globals.install(lua)?;
        let handlers = live
            .http
            .iter()
            .map(|d| match d.func.to_lua(lua)? {
                LuaValue::Function(f) => Ok(f),
                _ => Err(mlua::Error::runtime(
                    "a handler did not arrive as a function",
                )),
            })
            .collect::<mlua::Result<Vec<Function>>>()?;
        let json_encode: Function = lua.globals().get("json_encode")?;
        Ok(Worker {
            state,
            handlers,
            json_encode,
            slot,
        })
    }

    /// Runs pending timer callbacks and `on_error` deliveries (between requests).
    pub fn poll_events(&self) {
        let ctx = &self.state.ctx;
        if let Err(e) = goroutine::drain_events(&self.state.lua, ctx) {
            if ctx.rt.cancel.reason().is_none() {
                let info = ErrorInfo::from_lua_error_in(&self.state.lua, &e);
                let name = ctx.info.name.clone();
                route_error(&ctx.rt, info, ctx.gid, &name, None);
            }
        }
    }

    /// Runs handler `index` for `req` and turns what it returns (or how it failed) into the
    /// response.
    pub fn handle(
        &self,
        live: &Live,
        index: usize,
        req: &Request,
        params: &[(String, String)],
        remote: &str,
    ) -> Response {
        let lua = &self.state.lua;
        let slot = &self.slot;
        let def: &HandlerDef = &live.http[index];
        *slot.busy_since.lock() = Some(Instant::now());
        let result = request_table(lua, req, params, remote)
            .and_then(|t| self.handlers[index].call::<LuaValue>(t))
            .and_then(|v| to_response(lua, v, &self.json_encode));
        *slot.busy_since.lock() = None;
        let timed_out = slot.timed_out.swap(false, Ordering::AcqRel);
        let rt = &live.rt;
        let cancelled = rt.cancel.reason().is_some();
        if timed_out && !cancelled {
            slot.interrupt.reset();
            let _ = lua.set_named_registry_value(
                crate::runtime::interrupt::STOPPED_AT_KEY
                    .to_str()
                    .unwrap_or(""),
                LuaValue::Nil,
            );
        }
        let resp = match result {
            Ok(r) => r,
            Err(_) if cancelled => {
                Response::text(503, "Service Unavailable: the server is stopping")
            }
            Err(e) => {
                let mut info = ErrorInfo::from_lua_error_in(lua, &e);
                let status = if timed_out {
                    let limit = rt.config.timeout.unwrap_or_default();
                    info.message = format!(
                        "handler exceeded its time limit of {limit:?} (--timeout); the client got 503"
                    );
                    503
                } else {
                    500
                };
                let name = format!("http handler '{}' (server '{}')", def.pattern, live.name);
                route_error(rt, info, self.state.ctx.gid, &name, Some(&def.at));
                if status == 503 {
                    Response::text(503, "Service Unavailable: the handler took too long")
                } else {
                    Response::text(500, "Internal Server Error")
                }
            }
        };
        // A handler's prints must show up while the server runs, not at exit.
        crate::runtime::output::flush();
        resp
    }
}

fn lstr(lua: &Lua, b: impl AsRef<[u8]>) -> mlua::Result<mlua::LuaString> {
    lua.create_string(b)
}

/// The `req` table a handler receives.
fn request_table(
    lua: &Lua,
    req: &Request,
    params: &[(String, String)],
    remote: &str,
) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(0, 9)?;
    t.raw_set("method", lstr(lua, &req.method)?)?;
    t.raw_set("path", lstr(lua, &req.path)?)?;
    t.raw_set("query", lstr(lua, &req.query)?)?;
    let qp = lua.create_table()?;
    for (k, v) in super::router::parse_query(&req.query) {
        // The first value wins, as Go's `Query().Get`.
        if qp.raw_get::<LuaValue>(k.as_str())?.is_nil() {
            qp.raw_set(k, v)?;
        }
    }
    t.raw_set("query_params", qp)?;
    let headers = lua.create_table_with_capacity(0, req.headers.len())?;
    for (name, value) in &req.headers {
        let joined = match headers.raw_get::<Option<mlua::LuaString>>(name.as_str())? {
            Some(prev) => {
                let mut v = prev.as_bytes().to_vec();
                v.extend_from_slice(b", ");
                v.extend_from_slice(value);
                v
            }
            None => value.clone(),
        };
        headers.raw_set(name.as_str(), lstr(lua, joined)?)?;
    }
    t.raw_set("headers", headers)?;
    t.raw_set("body", lstr(lua, &req.body)?)?;
    let ptable = lua.create_table_with_capacity(0, params.len())?;
    for (k, v) in params {
        ptable.raw_set(k.as_str(), v.as_str())?;
    }
    t.raw_set("params", ptable)?;
    t.raw_set("remote_addr", remote)?;
    Ok(t)
}

/// Bytes of a string or number body.
fn body_bytes(lua: &Lua, v: &LuaValue) -> Option<Vec<u8>> {
    match v {
        LuaValue::String(s) => Some(s.as_bytes().to_vec()),
        LuaValue::Integer(_) | LuaValue::Number(_) => lua
            .coerce_string(v.clone())
            .ok()
            .flatten()
            .map(|s| s.as_bytes().to_vec()),
        _ => None,
    }
}

/// Go's default for a body without a declared type, reduced to what handlers send: HTML or text.
fn sniff(body: &[u8]) -> &'static [u8] {
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    let head =
        String::from_utf8_lossy(&body[start..body.len().min(start + 16)]).to_ascii_lowercase();
    if head.starts_with("<!doctype html") || head.starts_with("<html") {
        b"text/html; charset=utf-8"
    } else {
        b"text/plain; charset=utf-8"
    }
}

/// What a handler returned, as a response: `{status=, headers=, body=}`, a string (200, text), a
/// table without those fields (JSON), or nothing (200, empty).
fn to_response(lua: &Lua, v: LuaValue, json_encode: &Function) -> mlua::Result<Response> {
    let json = |v: LuaValue| -> mlua::Result<Vec<u8>> {
        let s: mlua::LuaString = json_encode.call(v)?;
        Ok(s.as_bytes().to_vec())
    };
    let mut resp = Response {
        status: 200,
        headers: Vec::new(),
        body: Vec::new(),
    };
    match v {
        LuaValue::Nil => {}
        LuaValue::String(_) | LuaValue::Integer(_) | LuaValue::Number(_) => {
            resp.body = body_bytes(lua, &v).unwrap_or_default();
            resp.headers
                .push(("Content-Type".into(), sniff(&resp.body).to_vec()));
        }
        LuaValue::Table(t) => {
            let status: LuaValue = t.raw_get("status")?;
            let headers: LuaValue = t.raw_get("headers")?;
            let body: LuaValue = t.raw_get("body")?;
            if status.is_nil() && headers.is_nil() && body.is_nil() {
                resp.body = json(LuaValue::Table(t))?;
                resp.headers
                    .push(("Content-Type".into(), b"application/json".to_vec()));
                return Ok(resp);
            }
            resp.status = match status {
                LuaValue::Nil => 200,
                LuaValue::Integer(i) if (100..=999).contains(&i) => i as u16,
                LuaValue::Number(n) if n.fract() == 0.0 && (100.0..=999.0).contains(&n) => n as u16,
                other => {
                    return Err(mlua::Error::runtime(format!(
                    "handler returned an invalid status ({}); expected a number from 100 to 999",
                    lua.coerce_string(other)
                        .ok()
                        .flatten()
                        .map(|s| s.to_string_lossy())
                        .unwrap_or_else(|| "not a number".into())
                )))
                }
            };
            match headers {
                LuaValue::Nil => {}
                LuaValue::Table(h) => {
                    for pair in h.pairs::<mlua::LuaString, LuaValue>() {
                        let (name, value) = pair?;
                        let name = name.to_str()?.to_string();
                        match &value {
                            LuaValue::Table(list) => {
                                for item in list.sequence_values::<LuaValue>() {
                                    if let Some(b) = body_bytes(lua, &item?) {
                                        resp.headers.push((name.clone(), b));
                                    }
                                }
                            }
                            v => match body_bytes(lua, v) {
                                Some(b) => resp.headers.push((name, b)),
                                None => {
                                    return Err(mlua::Error::runtime(format!(
                                    "handler returned header '{name}' as a {}; expected a string",
                                    crate::runtime::args::type_name(v)
                                )))
                                }
                            },
                        }
                    }
                }
                other => {
                    return Err(mlua::Error::runtime(format!(
                        "handler returned headers as a {}; expected a table",
                        crate::runtime::args::type_name(&other)
                    )))
                }
            }
            let has_type = resp
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
            match body {
                LuaValue::Nil => {}
                LuaValue::Table(_) => {
                    resp.body = json(body)?;
                    if !has_type {
                        resp.headers
                            .push(("Content-Type".into(), b"application/json".to_vec()));
                    }
                }
                other => match body_bytes(lua, &other) {
                    Some(b) => {
                        if !has_type && !b.is_empty() {
                            resp.headers
                                .push(("Content-Type".into(), sniff(&b).to_vec()));
                        }
                        resp.body = b;
                    }
                    None => {
                        return Err(mlua::Error::runtime(format!(
                            "handler returned a body of type {}; expected a string or a table",
                            crate::runtime::args::type_name(&other)
                        )))
                    }
                },
            }
        }
        other => {
            return Err(mlua::Error::runtime(format!(
                "handler returned a {}; expected a response table, a string or nil",
                crate::runtime::args::type_name(&other)
            )))
        }
    }
    Ok(resp)
}
