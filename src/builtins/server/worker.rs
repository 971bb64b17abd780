//! The worker pool: goroutines that each own a Lua state with copies of the server's handlers and
//! the globals as of `start_server`, take requests off the server's job channel, and turn what the
//! handler returns into a response. A handler error becomes a 500 and an `on_error` report; a
//! handler over `--timeout` is interrupted, answered with 503, and the worker goes on.

use super::http::{Request, Response};
use super::{HandlerDef, Job, Live};
use crate::runtime::goroutine::{self, route_error};
use crate::runtime::interrupt::{InterruptHandle, Reason};
use crate::runtime::report::ErrorInfo;
use crate::runtime::state::GoState;
use crossbeam_channel::Receiver;
use mlua::{Function, Lua, Table, Value as LuaValue};
use parking_lot::Mutex;
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

/// Starts `n` workers for `live`, all receiving from `jobs`.
pub fn start_pool(
    live: &Arc<Live>,
    n: usize,
    jobs: Receiver<Job>,
) -> mlua::Result<Vec<Arc<WorkerSlot>>> {
    let mut slots = Vec::with_capacity(n);
    for i in 1..=n {
        let rt = &live.rt;
        let gid = rt.next_goroutine_id();
        let interrupt = Arc::new(InterruptHandle::default());
        let slot = Arc::new(WorkerSlot {
            busy_since: Mutex::new(None),
            timed_out: AtomicBool::new(false),
            interrupt: Arc::clone(&interrupt),
        });
        let name = format!("server '{}' worker {i}", live.name);
        // Parent 0: `wait()` in the starting goroutine must not wait for a server's workers.
        let mailbox = goroutine::register(rt, gid, name.clone(), 0, None, interrupt);
        let (l, s, j) = (Arc::clone(live), Arc::clone(&slot), jobs.clone());
        let started = std::thread::Builder::new()
            .name(format!("server-{}-worker-{i}", live.name))
            .stack_size(1024 * 1024)
            .spawn(move || {
                let rt = Arc::clone(&l.rt);
                match GoState::with_mailbox(&rt, mailbox) {
                    Ok(state) => {
                        if let Err(e) = run(&state, &l, &s, &j) {
                            if rt.cancel.reason().is_none() {
                                let info = ErrorInfo::from_lua_error(&e);
                                goroutine::report_unhandled(&rt, &info, gid, &name, None);
                            }
                        }
                        drop(state);
                    }
                    Err(e) => {
                        let info = ErrorInfo::from_lua_error(&e);
                        goroutine::report_unhandled(&rt, &info, gid, &name, None);
                    }
                }
                goroutine::unregister(&rt, gid);
            });
        if let Err(e) = started {
            goroutine::unregister(rt, gid);
            return Err(mlua::Error::runtime(format!(
                "start_server: cannot start a worker thread: {e}"
            )));
        }
        slots.push(slot);
    }
    Ok(slots)
}

/// The worker's life: set up the state, then serve jobs until the channel closes or the run ends.
fn run(state: &GoState, live: &Live, slot: &WorkerSlot, jobs: &Receiver<Job>) -> mlua::Result<()> {
    let lua = &state.lua;
    let ctx = &state.ctx;
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
    loop {
        crossbeam_channel::select! {
            recv(jobs) -> job => match job {
                Ok(job) => serve(lua, live, slot, &handlers, &json_encode, job),
                Err(_) => return Ok(()),
            },
            recv(ctx.rt.cancel.signal()) -> _ => return Ok(()),
            recv(ctx.events) -> ev => {
                if let Ok(ev) = ev {
                    goroutine::handle_event(lua, ctx, ev)?;
                }
            }
        }
    }
}

fn serve(
    lua: &Lua,
    live: &Live,
    slot: &WorkerSlot,
    handlers: &[Function],
    json_encode: &Function,
    job: Job,
) {
    let def: &HandlerDef = &live.http[job.handler];
    *slot.busy_since.lock() = Some(Instant::now());
    let result = request_table(lua, &job)
        .and_then(|req| handlers[job.handler].call::<LuaValue>(req))
        .and_then(|v| to_response(lua, v, json_encode));
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
        Err(_) if cancelled => Response::text(503, "Service Unavailable: the server is stopping"),
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
            let ctx = crate::runtime::ctx(lua);
            let name = format!("http handler '{}' (server '{}')", def.pattern, live.name);
            route_error(rt, info, ctx.gid, &name, Some(&def.at));
            if status == 503 {
                Response::text(503, "Service Unavailable: the handler took too long")
            } else {
                Response::text(500, "Internal Server Error")
            }
        }
    };
    // A handler's prints must show up while the server runs, not at exit.
    crate::runtime::output::flush();
    let _ = job.reply.send(resp);
}

fn lstr(lua: &Lua, b: impl AsRef<[u8]>) -> mlua::Result<mlua::LuaString> {
    lua.create_string(b)
}

/// The `req` table a handler receives.
fn request_table(lua: &Lua, job: &Job) -> mlua::Result<Table> {
    let req: &Request = &job.req;
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
    let params = lua.create_table()?;
    for (k, v) in &job.params {
        params.raw_set(k.as_str(), v.as_str())?;
    }
    t.raw_set("params", params)?;
    t.raw_set("remote_addr", job.remote_addr.as_str())?;
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
