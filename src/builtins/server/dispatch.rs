//! Serving one connection inside its event loop: send what is pending, read what arrived, parse
//! requests (`request.rs`), route them. Everything that needs no Lua (refusals, redirects to clean
//! paths, 404/405, `OPTIONS *`, WebSocket upgrades handed to their goroutine) is answered here;
//! a request for an HTTP handler goes back to the driving worker (`Step::Handler`).

use super::conn::{BodyState, Closing, Conn, Phase};
use super::event_loop::{LoopShared, LoopState, Ready, Slot, Step};
use super::path::{self, Checked};
use super::request::{self, Framing, Head, Reject, TargetForm};
use super::response::{self, Response};
use super::router::{Params, Route};
use super::{Live, Target};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// A complete request for a handler.
pub struct Request {
    pub head: Head,
    pub body: Vec<u8>,
    /// The clean, decoded path's segments (`path::check`).
    pub segments: Vec<Vec<u8>>,
    pub params: Params,
}

/// Pipelined requests of one connection served before the loop turns to the others.
const TURN: usize = 16;

/// What parsing found on a connection.
enum Next {
    /// Nothing more until the next event.
    Wait,
    /// Progress: look again.
    Again,
    /// A request for HTTP handler `index`.
    Handler(usize, Box<Request>),
}

impl LoopState {
    /// Serves connection `r.token` as far as it can go without a handler.
    pub(super) fn serve(&mut self, r: Ready, shared: &Arc<LoopShared>, live: &Arc<Live>) -> Step {
        let token = r.token;
        let conn = match self.slab.get_mut(token) {
            None => return Step::Done,
            Some(Slot::Busy {
                readable,
                writable,
                closed,
            }) => {
                *readable |= r.readable;
                *writable |= r.writable;
                *closed |= r.closed;
                return Step::Done;
            }
            Some(Slot::Conn(c)) => c,
        };
        if r.readable {
            // Remembered even when output blocks reading for now (epoll is edge-triggered).
            conn.more = true;
        }
        if r.closed {
            conn.peer_closed = true;
        }
        if !self.send_pending(token, shared, live) {
            return Step::Done;
        }
        let Some(Slot::Conn(conn)) = self.slab.get_mut(token) else {
            return Step::Done;
        };
        if conn.more {
            if conn.read(&mut self.scratch).is_err() {
                self.close(token, shared, live);
                return Step::Done;
            }
            if conn.has_output() && !self.send_pending(token, shared, live) {
                return Step::Done;
            }
        }
        for _ in 0..TURN {
            match self.next_request(token, shared, live) {
                Next::Wait => {
                    // A read that stopped at its limit left bytes in the socket, and no new edge
                    // will announce them: read on while this turn lasts (a body larger than one
                    // read, a closing client's end of stream).
                    let Some(Slot::Conn(conn)) = self.slab.get_mut(token) else {
                        return Step::Done;
                    };
                    if !conn.more || conn.has_output() {
                        return Step::Done;
                    }
                    if conn.read(&mut self.scratch).is_err() {
                        self.close(token, shared, live);
                        return Step::Done;
                    }
                }
                Next::Again => {}
                Next::Handler(index, req) => {
                    let busy = Slot::Busy {
                        readable: false,
                        writable: false,
                        closed: false,
                    };
                    let Some(Slot::Conn(conn)) =
                        self.slab.get_mut(token).map(|s| std::mem::replace(s, busy))
                    else {
                        return Step::Done;
                    };
                    return Step::Handler {
                        token,
                        conn,
                        index,
                        req,
                    };
                }
            }
        }
        // Its turn is over: the others go first.
        self.pending.push_back(Ready {
            token,
            readable: false,
            writable: false,
            closed: false,
        });
        Step::Done
    }

    /// Sends pending output; false when the connection cannot go on now (output still blocked, or
    /// closed).
    fn send_pending(&mut self, token: usize, shared: &LoopShared, live: &Live) -> bool {
        let Some(Slot::Conn(conn)) = self.slab.get_mut(token) else {
            return false;
        };
        if conn.has_output() {
            match conn.flush() {
                Err(_) => {
                    self.close(token, shared, live);
                    return false;
                }
                Ok(false) => return false,
                Ok(true) => conn.since = Instant::now(),
            }
        }
        match conn.closing {
            Some(Closing::AfterWrite) => {
                self.close(token, shared, live);
                false
            }
            Some(Closing::Linger) => {
                if !conn.write_shut {
                    conn.shutdown_write();
                    conn.write_shut = true;
                    conn.since = Instant::now();
                }
                true
            }
            None => true,
        }
    }

    /// Parses what connection `token` has buffered, one step.
    fn next_request(&mut self, token: usize, shared: &LoopShared, live: &Arc<Live>) -> Next {
        let Some(Slot::Conn(conn)) = self.slab.get_mut(token) else {
            return Next::Wait;
        };
        if conn.has_output() {
            return Next::Wait;
        }
        match &mut conn.phase {
            Phase::Linger => {
                conn.inbuf.clear();
                if conn.eof {
                    self.close(token, shared, live);
                }
                Next::Wait
            }
            Phase::Handshake => {
                if conn.tls.as_ref().is_some_and(|t| t.is_handshaking()) {
                    if conn.eof {
                        self.close(token, shared, live);
                    }
                    return Next::Wait;
                }
                conn.phase = Phase::Idle;
                conn.since = Instant::now();
                Next::Again
            }
            Phase::Idle | Phase::Head => {
                let blank = request::leading_blank_lines(&conn.inbuf);
                if blank > 0 {
                    conn.consume(blank);
                }
                if conn.inbuf.is_empty() {
                    if conn.eof
                        || live.stop.load(Ordering::Acquire) && matches!(conn.phase, Phase::Idle)
                    {
                        self.close(token, shared, live);
                    }
                    return Next::Wait;
                }
                if matches!(conn.phase, Phase::Idle) {
                    // The request timeout counts from a request's first byte.
                    conn.phase = Phase::Head;
                    conn.since = Instant::now();
                }
                let Some(end) = request::find_head_end(&conn.inbuf, conn.scanned) else {
                    conn.scanned = conn.inbuf.len();
                    if let Err(rej) = request::check_incomplete(&conn.inbuf) {
                        refuse(conn, rej);
                        self.send_pending(token, shared, live);
                    } else if conn.eof {
                        self.close(token, shared, live);
                    }
                    return Next::Wait;
                };
                let parsed = request::parse_head(&conn.inbuf[..end], live.max_body);
                conn.consume(end);
                let head = match parsed {
                    Ok(h) => h,
                    Err(rej) => {
                        refuse(conn, rej);
                        self.send_pending(token, shared, live);
                        return Next::Wait;
                    }
                };
                let (chunked, remaining) = match head.framing {
                    Framing::None => return self.route(token, head, Vec::new(), shared, live),
                    Framing::Length(n) => (None, n),
                    Framing::Chunked => (Some(request::Chunked::default()), 0),
                };
                if head.expect_continue && (chunked.is_some() || conn.inbuf.len() < remaining) {
                    conn.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                }
                conn.phase = Phase::Body(Box::new(BodyState {
                    head,
                    body: Vec::with_capacity(remaining.min(64 * 1024)),
                    chunked,
                    remaining,
                }));
                if conn.has_output() && !self.send_pending(token, shared, live) {
                    return Next::Wait;
                }
                Next::Again
            }
            Phase::Body(state) => {
                let done = match state.chunked.as_mut() {
                    Some(c) => match c.feed(&conn.inbuf, &mut state.body, live.max_body) {
                        Ok((used, done)) => {
                            conn.consume(used);
                            done
                        }
                        Err(rej) => {
                            refuse(conn, rej);
                            self.send_pending(token, shared, live);
                            return Next::Wait;
                        }
                    },
                    None => {
                        let n = state.remaining.min(conn.inbuf.len());
                        state.body.extend_from_slice(&conn.inbuf[..n]);
                        state.remaining -= n;
                        let done = state.remaining == 0;
                        conn.consume(n);
                        done
                    }
                };
                if !done {
                    if conn.eof {
                        self.close(token, shared, live);
                    }
                    return Next::Wait;
                }
                let Phase::Body(state) = std::mem::replace(&mut conn.phase, Phase::Head) else {
                    return Next::Wait;
                };
                let BodyState { head, body, .. } = *state;
                self.route(token, head, body, shared, live)
            }
        }
    }

    /// Routes a complete request: answered here, or handed to a handler or a WebSocket goroutine.
    fn route(
        &mut self,
        token: usize,
        head: Head,
        body: Vec<u8>,
        shared: &LoopShared,
        live: &Arc<Live>,
    ) -> Next {
        let resp = match head.form {
            TargetForm::Asterisk => options_star(live),
            TargetForm::Origin | TargetForm::Absolute => match path::check(&head.raw_path) {
                Checked::Bad(why) => {
                    if let Some(Slot::Conn(conn)) = self.slab.get_mut(token) {
                        refuse(conn, Reject { status: 400, why });
                    }
                    self.send_pending(token, shared, live);
                    return Next::Wait;
                }
                Checked::Redirect(to) => redirect(to, &head),
                Checked::Clean(segments) => match live.router.route(&head.method, &segments) {
                    Route::Found {
                        target: Target::Http(i),
                        params,
                        ..
                    } => {
                        let req = Request {
                            head,
                            body,
                            segments,
                            params,
                        };
                        return Next::Handler(*i, Box::new(req));
                    }
                    Route::Found {
                        target: Target::Ws(i),
                        params,
                        ..
                    } => {
                        if is_ws_upgrade(&head) {
                            let req = Request {
                                head,
                                body,
                                segments,
                                params,
                            };
                            if let Some(conn) = self.detach(token, shared) {
                                super::ws::start(live, conn, req, *i);
                            }
                            return Next::Wait;
                        }
                        Response::text(426, "Upgrade Required: this path speaks WebSocket")
                            .with("Upgrade", "websocket")
                            .with("Connection", "Upgrade")
                    }
                    Route::NotFound => Response::text(404, "404 page not found"),
                    Route::MethodNotAllowed(methods) => {
                        Response::text(405, "Method Not Allowed").with("Allow", methods.join(", "))
                    }
                    Route::Redirect(to) => redirect(to, &head),
                },
            },
        };
        let Some(Slot::Conn(conn)) = self.slab.get_mut(token) else {
            return Next::Wait;
        };
        respond(conn, &head, &resp, live);
        if self.send_pending(token, shared, live) {
            Next::Again
        } else {
            Next::Wait
        }
    }

    /// Queues `resp` on the connection that handler request `req` came from, and puts the
    /// connection back in its slot.
    pub(super) fn answer(
        &mut self,
        token: usize,
        mut conn: Box<Conn>,
        req: &Request,
        resp: Response,
        _shared: &LoopShared,
        live: &Live,
    ) {
        respond(&mut conn, &req.head, &resp, live);
        self.put_back(token, conn);
    }
}

/// Queues the response to `head` on `conn`; the connection then waits for its next request, or
/// closes once the response is out.
pub fn respond(conn: &mut Conn, head: &Head, resp: &Response, live: &Live) {
    let keep = head.keep_alive && !live.stop.load(Ordering::Acquire) && !resp.asks_close();
    let how = response::Framing {
        keep_alive: keep,
        head: head.method == "HEAD",
        http10: head.minor == 0,
    };
    response::encode(&mut conn.out, resp, how);
    conn.phase = Phase::Idle;
    conn.since = Instant::now();
    if !keep {
        conn.closing = Some(Closing::AfterWrite);
    }
}

/// Answers a refused request with its status and lingers before closing (RFC 9112 §9.6).
fn refuse(conn: &mut Conn, rej: Reject) {
    let resp = Response::text(
        rej.status,
        &format!("{}: {}", response::reason(rej.status), rej.why),
    );
    conn.out.clear();
    conn.out_pos = 0;
    response::encode(
        &mut conn.out,
        &resp,
        response::Framing {
            keep_alive: false,
            head: false,
            http10: false,
        },
    );
    conn.phase = Phase::Linger;
    conn.closing = Some(Closing::Linger);
    conn.since = Instant::now();
}

/// [`refuse`] for connection `token` of `state` (a request that timed out).
pub(super) fn refuse_token(
    state: &mut LoopState,
    token: usize,
    status: u16,
    why: &'static str,
    shared: &LoopShared,
    live: &Live,
) {
    if let Some(Slot::Conn(conn)) = state.slab.get_mut(token) {
        refuse(conn, Reject { status, why });
        let _ = state.send_pending(token, shared, live);
    }
}

/// 301 to `to`, the query kept.
fn redirect(mut to: String, head: &Head) -> Response {
    if !head.query.is_empty() {
        to.push('?');
        to.push_str(&String::from_utf8_lossy(&head.query));
    }
    Response::text(301, "Moved Permanently").with("Location", to)
}

/// `OPTIONS *`: the server's methods, never a handler (SPEC §12).
fn options_star(live: &Live) -> Response {
    let allow = live
        .router
        .methods()
        .map(|m| m.join(", "))
        .unwrap_or_else(|| "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS".into());
    Response {
        status: 200,
        headers: vec![("Allow".into(), allow.into_bytes())],
        body: Vec::new(),
    }
}

/// Whether `head` asks for a WebSocket upgrade.
pub fn is_ws_upgrade(head: &Head) -> bool {
    head.method == "GET"
        && head.minor >= 1
        && head.has_token("upgrade", "websocket")
        && head.has_token("connection", "upgrade")
}
