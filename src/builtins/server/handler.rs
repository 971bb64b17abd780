//! A worker's Lua side: its state with copies of the server's HTTP handlers and the globals as of
//! `start_server`; the `req` table a handler receives, and what it returns turned into a checked
//! response. A handler error becomes a 500 and an `on_error` report, a handler past its deadline
//! a 503 (SPEC §12).

use super::dispatch::Request;
use super::response::{self, Response};
use super::{HandlerDef, Live};
use crate::runtime::goroutine::{self, route_error, Event, GoInfo};
use crate::runtime::report::ErrorInfo;
use crate::runtime::state::GoState;
use mlua::{Function, Lua, Table, Value as LuaValue};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// How a handler call ended.
pub enum Outcome {
    /// A response to send (validated).
    Answer(Response),
    /// The handler (or what it returned) failed.
    Failed(mlua::Error),
}

/// One worker's Lua state with the server's HTTP handlers.
pub struct Worker {
    state: GoState,
    handlers: Vec<Function>,
    json_encode: Function,
}

impl Worker {
    /// Registers a worker goroutine named `name` and builds its state. The state is `None` (and
    /// the error reported) when it cannot be built.
    pub fn build(live: &Live, name: &str) -> (Option<Worker>, Arc<GoInfo>) {
        let rt = &live.rt;
        let gid = rt.next_goroutine_id();
        // Parent 0: `wait()` in the starting goroutine must not wait for a server's workers.
        let mailbox = goroutine::register(
            rt,
            gid,
            name.to_string(),
            0,
            None,
            super::worker::new_interrupt(),
        );
        let info = Arc::clone(&mailbox.info);
        let built = GoState::with_mailbox(rt, mailbox).and_then(|state| Worker::new(state, live));
        match built {
            Ok(w) => (Some(w), info),
            Err(e) => {
                super::worker::report_worker_error(live, gid, name, &e);
                goroutine::unregister(rt, gid);
                (None, info)
            }
        }
    }

    fn new(state: GoState, live: &Live) -> mlua::Result<Worker> {
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
        })
    }

    /// Closes the state and leaves the registry.
    pub fn finish(self, live: &Live) {
        let gid = self.state.ctx.gid;
        drop(self);
        goroutine::unregister(&live.rt, gid);
    }

    pub fn events(&self) -> &crossbeam_channel::Receiver<Event> {
        &self.state.ctx.events
    }

    /// Runs one event of this worker's goroutine (an `on_error` delivery, a watch callback).
    pub fn handle_event(&self, ev: Event) {
        let r = goroutine::handle_event(&self.state.lua, &self.state.ctx, ev);
        self.report(r);
    }

    /// Runs due timers and pending events (between requests).
    pub fn poll_events(&self) {
        let lua = &self.state.lua;
        let ctx = &self.state.ctx;
        let r = goroutine::drain_events(lua, ctx)
            .and_then(|_| crate::runtime::events::run_due(lua, ctx));
        self.report(r);
    }

    /// When this worker's next timer (set by a handler) is due.
    pub fn next_timer(&self) -> Option<Instant> {
        crate::runtime::events::next_due(&self.state.lua)
    }

    fn report(&self, r: mlua::Result<()>) {
        let ctx = &self.state.ctx;
        if let Err(e) = r {
            if ctx.rt.cancel.reason().is_none() {
                let info = ErrorInfo::from_lua_error_in(&self.state.lua, &e);
                let name = ctx.info.name.clone();
                route_error(&ctx.rt, info, ctx.gid, &name, None);
            }
        }
    }

    /// Runs handler `index` for `req`.
    pub fn handle(&self, live: &Live, index: usize, req: &Request, peer: &SocketAddr) -> Outcome {
        let lua = &self.state.lua;
        let Some(handler) = self.handlers.get(index) else {
            return Outcome::Failed(mlua::Error::runtime("no such handler"));
        };
        let result = request_table(lua, req, peer)
            .and_then(|t| handler.call::<LuaValue>(t))
            .and_then(|v| to_response(lua, v, &self.json_encode))
            .and_then(|r| {
                response::validate(&r).map_err(mlua::Error::runtime)?;
                Ok(r)
            });
        let _ = live;
        match result {
            Ok(r) => Outcome::Answer(r),
            Err(e) => Outcome::Failed(e),
        }
    }

    /// The response to a failed handler call, after reporting it: 503 when its deadline stopped
    /// it (or the server is stopping), else 500.
    pub fn failure(&self, live: &Live, index: usize, e: &mlua::Error, timed_out: bool) -> Response {
        let rt = &live.rt;
        if rt.cancel.reason().is_some() {
            return Response::text(503, "Service Unavailable: the server is stopping")
                .with("Connection", "close");
        }
        let lua = &self.state.lua;
        let mut info = ErrorInfo::from_lua_error_in(lua, e);
        if timed_out {
            let at = crate::runtime::state::stopped_at(lua)
                .or_else(|| info.location.as_ref().map(|(f, l)| format!("{f}:{l}")));
            info.message = format!(
                "handler exceeded its time limit of {} (handler_timeout); the client got 503{}",
                live.limit_text(),
                at.map(|a| format!("; it was stopped at {a}"))
                    .unwrap_or_default()
            );
        }
        let def: Option<&HandlerDef> = live.http.get(index);
        let name = match def {
            Some(d) => format!("http handler '{}' (server '{}')", d.pattern, live.name),
            None => format!("http handler (server '{}')", live.name),
        };
        route_error(
            rt,
            info,
            self.state.ctx.gid,
            &name,
            def.map(|d| d.at.as_str()),
        );
        if timed_out {
            Response::text(503, "Service Unavailable: the handler took too long")
        } else {
            Response::text(500, "Internal Server Error")
        }
    }

    /// After a deadline stopped a handler: the state runs normally again.
    pub fn clear_deadline(&self) {
        if self.state.ctx.rt.cancel.reason().is_some() {
            return;
        }
        self.state.ctx.interrupt.reset();
        let _ = self.state.lua.set_named_registry_value(
            crate::runtime::interrupt::STOPPED_AT_KEY
                .to_str()
                .unwrap_or(""),
            LuaValue::Nil,
        );
        // A wake-up the deadline sent and nobody took.
        while let Ok(ev) = self.state.ctx.events.try_recv() {
            if !matches!(ev, Event::Interrupted) {
                self.handle_event(ev);
            }
        }
    }
}

fn lstr(lua: &Lua, b: impl AsRef<[u8]>) -> mlua::Result<mlua::LuaString> {
    lua.create_string(b)
}

/// The `req` table a handler receives: `path` is the clean decoded path, `raw_path` the path as
/// the client sent it.
fn request_table(lua: &Lua, req: &Request, peer: &SocketAddr) -> mlua::Result<Table> {
    let head = &req.head;
    let t = lua.create_table_with_capacity(0, 10)?;
    t.raw_set("method", lstr(lua, &head.method)?)?;
    t.raw_set("path", lstr(lua, super::path::joined(&req.segments))?)?;
    t.raw_set("raw_path", lstr(lua, &head.raw_path)?)?;
    t.raw_set("query", lstr(lua, &head.query)?)?;
    let qp = lua.create_table()?;
    if !head.query.is_empty() {
        for (k, v) in super::router::parse_query(&String::from_utf8_lossy(&head.query)) {
            // The first value wins, as Go's `Query().Get`.
            if qp.raw_get::<LuaValue>(k.as_str())?.is_nil() {
                qp.raw_set(k, v)?;
            }
        }
    }
    t.raw_set("query_params", qp)?;
    let headers = lua.create_table_with_capacity(0, head.headers.len())?;
    for (name, value) in &head.headers {
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
    let ptable = lua.create_table_with_capacity(0, req.params.len())?;
    for (k, v) in &req.params {
        ptable.raw_set(k.as_str(), lstr(lua, v)?)?;
    }
    t.raw_set("params", ptable)?;
    t.raw_set("remote_addr", peer.to_string())?;
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
                LuaValue::Integer(i) => u16::try_from(i).map_err(|_| {
                    mlua::Error::runtime(format!(
                        "handler returned status {i}; a response status must be from 200 to 599"
                    ))
                })?,
                LuaValue::Number(n) if n.fract() == 0.0 && (0.0..=65535.0).contains(&n) => n as u16,
                other => {
                    return Err(mlua::Error::runtime(format!(
                    "handler returned an invalid status ({}); expected a number from 200 to 599",
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
