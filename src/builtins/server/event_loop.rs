//! The event loops (SPEC §12's connection model). A server has one loop per core; each owns an
//! epoll instance (through `mio`) and the connections it serves, so an idle connection, a slow
//! head or a TLS handshake costs no thread. Loops are driven by the server's worker threads, the
//! way Go's scheduler runs its Ps on Ms: a worker drives a loop and runs the Lua handler of each
//! request it completes itself, right there, so under load a worker that finishes a response goes
//! on with the next ready connection without sleeping or handing anything to another thread.
//!
//! While a handler runs, its worker puts the loop down ([`LoopShared::put_down`]) and picks it up
//! again afterwards: nothing is copied, the common case costs a lock. If the handler takes longer
//! than [`HANDOFF_AFTER`] (it blocks in `sleep`, `receive` or the HTTP client, or just computes),
//! the control thread hands the loop to another worker, so the loop's other connections never
//! wait behind it; the worker that lost its loop finishes its request, gives the connection back
//! through the loop's inbox, and becomes a spare.

use super::conn::Conn;
use super::Live;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use parking_lot::Mutex;
use slab::Slab;
use std::collections::VecDeque;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a loop may sit put down by a worker running a handler before another worker takes it.
pub const HANDOFF_AFTER: Duration = Duration::from_millis(1);
/// How long a response may take to drain to a slow reader.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a refused request's connection lingers, reading and dropping what the client sends.
pub const LINGER: Duration = Duration::from_secs(1);
/// How long accepting pauses when the process is out of file descriptors.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

const WAKE: Token = Token(usize::MAX);
const LISTEN: Token = Token(usize::MAX - 1);

/// What another thread hands a loop.
pub enum Inbound {
    /// A connection the accepting loop passed on (it goes to the loop with the fewest).
    Adopt(TcpStream, SocketAddr),
    /// A connection whose handler finished on a worker that lost this loop meanwhile, with its
    /// response already queued.
    Return(usize, Box<Conn>),
}

/// A loop as every thread sees it.
pub struct LoopShared {
    pub index: usize,
    /// The loop itself while no worker drives it (put down for a handler, or waiting for one).
    slot: Mutex<Option<Box<LoopState>>>,
    /// When (µs on the server clock) the loop was put down for a handler; 0 while driven.
    sitting_since: AtomicU64,
    /// The control thread has asked a worker to take this loop (once per sitting).
    handoff_asked: AtomicBool,
    inbox: Mutex<Vec<Inbound>>,
    has_inbox: AtomicBool,
    waker: Waker,
    /// Connections of this loop (those out on a handler included).
    pub conns: AtomicUsize,
    /// Set when the server stopped and this loop has no connection left.
    pub finished: AtomicBool,
}

impl LoopShared {
    /// Creates loop `index` (with the listener for loop 0), put down for a worker to pick up.
    pub fn new(index: usize, listener: Option<TcpListener>) -> std::io::Result<Arc<LoopShared>> {
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKE)?;
        if let Some(l) = &listener {
            poll.registry()
                .register(&mut SourceFd(&l.as_raw_fd()), LISTEN, Interest::READABLE)?;
        }
        let state = LoopState {
            index,
            poll,
            events: Events::with_capacity(256),
            slab: Slab::new(),
            pending: VecDeque::new(),
            listener,
            listen_ready: false,
            accept_paused_until: None,
            scratch: vec![0u8; 64 * 1024].into_boxed_slice(),
            next_sweep: Instant::now(),
            stop_seen: false,
        };
        Ok(Arc::new(LoopShared {
            index,
            slot: Mutex::new(Some(Box::new(state))),
            sitting_since: AtomicU64::new(0),
            handoff_asked: AtomicBool::new(false),
            inbox: Mutex::new(Vec::new()),
            has_inbox: AtomicBool::new(false),
            waker,
            conns: AtomicUsize::new(0),
            finished: AtomicBool::new(false),
        }))
    }

    /// Puts the loop down while this worker runs a handler (`now_us` on the server clock).
    pub fn put_down(&self, state: Box<LoopState>, now_us: u64) {
        *self.slot.lock() = Some(state);
        self.sitting_since.store(now_us, Ordering::Release);
    }

    /// Takes the loop to drive it: `None` when another worker has it.
    pub fn pick_up(&self) -> Option<Box<LoopState>> {
        let mut slot = self.slot.lock();
        let state = slot.take();
        if state.is_some() {
            self.sitting_since.store(0, Ordering::Release);
            self.handoff_asked.store(false, Ordering::Release);
        }
        state
    }

    /// Whether the loop has sat put down since before `before_us` and nobody was asked to take it
    /// yet; if so, marks that somebody now is.
    pub fn wants_handoff(&self, before_us: u64) -> bool {
        let since = self.sitting_since.load(Ordering::Acquire);
        since != 0 && since <= before_us && !self.handoff_asked.swap(true, Ordering::AcqRel)
    }

    /// Whether the loop is put down by a worker running a handler.
    pub fn is_sitting(&self) -> bool {
        self.sitting_since.load(Ordering::Acquire) != 0
    }

    /// Hands the loop a connection or message and wakes whoever drives it.
    pub fn post(&self, msg: Inbound) {
        self.inbox.lock().push(msg);
        self.has_inbox.store(true, Ordering::Release);
        self.wake();
    }

    /// Wakes the loop out of its wait (to see the inbox, or that the server stops).
    pub fn wake(&self) {
        let _ = self.waker.wake();
    }
}

/// What a connection slot holds.
pub enum Slot {
    Conn(Box<Conn>),
    /// The connection is out with a worker running its handler; events that came meanwhile.
    Busy {
        readable: bool,
        writable: bool,
        closed: bool,
    },
}

/// A connection that has something to do.
#[derive(Clone, Copy, Debug)]
pub struct Ready {
    pub token: usize,
    pub readable: bool,
    pub writable: bool,
    /// The client closed its side or reset the connection (EPOLLRDHUP/EPOLLERR): reads go on to
    /// the end of stream, since no later edge will announce it.
    pub closed: bool,
}

/// The loop proper: owned by the worker driving it.
pub struct LoopState {
    index: usize,
    pub(super) poll: Poll,
    events: Events,
    pub(super) slab: Slab<Slot>,
    /// Connections with something to do, in order (events not yet served survive a hand-off).
    pub(super) pending: VecDeque<Ready>,
    listener: Option<TcpListener>,
    listen_ready: bool,
    accept_paused_until: Option<Instant>,
    pub(super) scratch: Box<[u8]>,
    next_sweep: Instant,
    stop_seen: bool,
}

/// What serving a connection asks of the driving worker.
pub enum Step {
    Done,
    /// Run HTTP handler `index` for `req` on connection `token` (taken out of its slot).
    Handler {
        token: usize,
        conn: Box<Conn>,
        index: usize,
        req: Box<super::dispatch::Request>,
    },
}

/// What a worker runs a handler with (the worker's own Lua state).
pub trait Runner {
    /// Runs HTTP handler `index` and returns its (validated) response.
    fn run(
        &mut self,
        live: &Arc<Live>,
        index: usize,
        req: &super::dispatch::Request,
        peer: &SocketAddr,
    ) -> super::response::Response;
    /// Runs this worker's due timers and pending events (between requests).
    fn between_requests(&mut self);
    /// When this worker's next timer is due.
    fn next_timer(&self) -> Option<Instant>;
}

/// Why a worker stopped driving a loop.
pub enum Driven {
    /// Another worker took it while this one ran a handler.
    Lost,
    /// The server stopped and the loop has no connection left.
    Finished,
}

/// Drives loop `shared` until it is lost or finished.
pub fn drive(
    shared: &Arc<LoopShared>,
    mut p: Box<LoopState>,
    live: &Arc<Live>,
    runner: &mut dyn Runner,
) -> Driven {
    loop {
        if shared.has_inbox.swap(false, Ordering::AcqRel) {
            let msgs = std::mem::take(&mut *shared.inbox.lock());
            for msg in msgs {
                p.receive(msg, shared, live);
            }
        }
        if live.stop.load(Ordering::Acquire) && !p.stop_seen {
            p.begin_stop(shared, live);
        }
        if live.force.load(Ordering::Acquire) {
            p.close_all(shared, live);
        }
        if p.pending.is_empty() {
            if p.stop_seen && p.slab.is_empty() && !shared.has_inbox.load(Ordering::Acquire) {
                shared.finished.store(true, Ordering::Release);
                live.loop_finished();
                return Driven::Finished;
            }
            let timeout = p.wait_limit(live, runner.next_timer());
            let LoopState {
                poll,
                events,
                pending,
                listen_ready,
                ..
            } = &mut *p;
            if poll.poll(events, timeout).is_err() {
                // EINTR (a signal for this thread); anything else would repeat: go round.
                continue;
            }
            for ev in events.iter() {
                match ev.token() {
                    WAKE => {}
                    LISTEN => *listen_ready = true,
                    Token(token) => pending.push_back(Ready {
                        token,
                        readable: ev.is_readable() || ev.is_read_closed() || ev.is_error(),
                        writable: ev.is_writable() || ev.is_write_closed(),
                        closed: ev.is_read_closed() || ev.is_error(),
                    }),
                }
            }
            runner.between_requests();
        }
        let now = Instant::now();
        if p.listen_ready || p.accept_paused_until.is_some_and(|t| t <= now) {
            p.accept(shared, live);
        }
        if now >= p.next_sweep {
            p.sweep(shared, live, now);
        }
        while let Some(ready) = p.pending.pop_front() {
            match p.serve(ready, shared, live) {
                Step::Done => {}
                Step::Handler {
                    token,
                    conn,
                    index,
                    req,
                } => {
                    shared.put_down(p, live.now_us());
                    let resp = runner.run(live, index, &req, &conn.peer);
                    match shared.pick_up() {
                        Some(back) => {
                            p = back;
                            p.answer(token, conn, &req, resp, shared, live);
                        }
                        None => {
                            let mut conn = conn;
                            super::dispatch::respond(&mut conn, &req.head, &resp, live);
                            let _ = conn.flush();
                            shared.post(Inbound::Return(token, conn));
                            return Driven::Lost;
                        }
                    }
                }
            }
        }
    }
}

impl LoopState {
    /// How long the next wait may last: until the next sweep, the worker's next timer, or a
    /// paused accept.
    fn wait_limit(&self, live: &Live, timer: Option<Instant>) -> Option<Duration> {
        let now = Instant::now();
        let mut until = [Some(self.next_sweep), timer, self.accept_paused_until]
            .into_iter()
            .flatten()
            .min();
        if self.slab.is_empty() && self.accept_paused_until.is_none() {
            // Nothing to time out: sleep until an event (or the worker's own timer).
            until = timer.or(live.stop.load(Ordering::Acquire).then_some(self.next_sweep));
        }
        until.map(|t| t.saturating_duration_since(now))
    }

    fn receive(&mut self, msg: Inbound, shared: &LoopShared, live: &Live) {
        match msg {
            Inbound::Adopt(sock, peer) => self.adopt(sock, peer, shared, live),
            Inbound::Return(token, conn) => self.put_back(token, conn),
        }
    }

    /// Puts a connection back in its slot after its handler, with the events that came meanwhile
    /// queued for it.
    pub(super) fn put_back(&mut self, token: usize, conn: Box<Conn>) {
        let (readable, writable, closed) = match self.slab.get(token) {
            Some(Slot::Busy {
                readable,
                writable,
                closed,
            }) => (*readable, *writable, *closed),
            _ => (false, false, false),
        };
        if let Some(slot) = self.slab.get_mut(token) {
            *slot = Slot::Conn(conn);
            // First in line: pipelined requests and the rest of the response go on at once.
            self.pending.push_front(Ready {
                token,
                readable,
                writable,
                closed,
            });
        }
    }

    /// Accepts every pending connection (loop 0) and gives each to the loop with the fewest.
    fn accept(&mut self, shared: &LoopShared, live: &Live) {
        self.listen_ready = false;
        self.accept_paused_until = None;
        let Some(listener) = self.listener.take() else {
            return;
        };
        self.accept_from(&listener, shared, live);
        self.listener = Some(listener);
    }

    fn accept_from(&mut self, listener: &TcpListener, shared: &LoopShared, live: &Live) {
        loop {
            match listener.accept() {
                Ok((sock, peer)) => {
                    let target = live.least_loaded_loop();
                    if target == self.index {
                        self.adopt(sock, peer, shared, live);
                    } else {
                        live.loops[target].post(Inbound::Adopt(sock, peer));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if out_of_resources(&e) => {
                    // Out of file descriptors: pause, as nginx does (the connection waits in the
                    // kernel's backlog). Open connections are not closed for it: the cap, not the
                    // descriptor limit, is where idle ones make room.
                    self.accept_paused_until = Some(Instant::now() + ACCEPT_PAUSE);
                    return;
                }
                // The client gave up before we took it (ECONNABORTED) and the like.
                Err(_) => {}
            }
        }
    }

    /// Starts serving an accepted connection. At the loop's share of `max_connections`, the
    /// longest-idle keep-alive connection is closed to make room, as nginx does; with none idle,
    /// the new client gets 503 at once.
    fn adopt(&mut self, sock: TcpStream, peer: SocketAddr, shared: &LoopShared, live: &Live) {
        if sock.set_nonblocking(true).is_err() {
            return;
        }
        let _ = sock.set_nodelay(true);
        if shared.conns.load(Ordering::Acquire) >= live.cap_per_loop
            && !self.evict_idle(shared, live)
        {
            let mut s = &sock;
            let _ = std::io::Write::write_all(
                &mut s,
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 33\r\nConnection: close\r\n\r\nService Unavailable: server full\n",
            );
            return;
        }
        let tls = match &live.tls {
            None => None,
            Some(cfg) => match rustls::ServerConnection::new(Arc::clone(cfg)) {
                Ok(c) => Some(Box::new(c)),
                Err(_) => return,
            },
        };
        let entry = self.slab.vacant_entry();
        let token = entry.key();
        if self
            .poll
            .registry()
            .register(
                &mut SourceFd(&sock.as_raw_fd()),
                Token(token),
                Interest::READABLE | Interest::WRITABLE,
            )
            .is_err()
        {
            return;
        }
        entry.insert(Slot::Conn(Box::new(Conn::new(sock, peer, tls))));
        shared.conns.fetch_add(1, Ordering::AcqRel);
        if self.stop_seen {
            self.close(token, shared, live);
        }
    }

    /// Closes the connection that has waited longest for its next request. False when none is
    /// idle.
    fn evict_idle(&mut self, shared: &LoopShared, live: &Live) -> bool {
        let oldest = self
            .slab
            .iter()
            .filter_map(|(t, s)| match s {
                Slot::Conn(c) if c.is_idle() => Some((c.since, t)),
                _ => None,
            })
            .min();
        match oldest {
            Some((_, token)) => {
                self.close(token, shared, live);
                true
            }
            None => false,
        }
    }

    /// Drops connection `token` (its socket closes, and leaves epoll with it).
    pub(super) fn close(&mut self, token: usize, shared: &LoopShared, _live: &Live) {
        if let Some(Slot::Conn(_)) = self.slab.get(token) {
            if let Slot::Conn(conn) = self.slab.remove(token) {
                let _ = self
                    .poll
                    .registry()
                    .deregister(&mut SourceFd(&conn.sock.as_raw_fd()));
                conn.close();
                shared.conns.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }

    /// Takes connection `token` out for good (a WebSocket upgrade): out of epoll and the count.
    pub(super) fn detach(&mut self, token: usize, shared: &LoopShared) -> Option<Box<Conn>> {
        match self.slab.get(token) {
            Some(Slot::Conn(_)) => {}
            _ => return None,
        }
        let Slot::Conn(conn) = self.slab.remove(token) else {
            return None;
        };
        let _ = self
            .poll
            .registry()
            .deregister(&mut SourceFd(&conn.sock.as_raw_fd()));
        shared.conns.fetch_sub(1, Ordering::AcqRel);
        Some(conn)
    }

    /// Times out what waited too long: a head or body past `request_timeout` gets 408, an idle
    /// connection past `idle_timeout` is closed, as are stalled writes and finished lingers.
    fn sweep(&mut self, shared: &LoopShared, live: &Live, now: Instant) {
        self.next_sweep = now + live.sweep_every;
        let mut expired = Vec::new();
        for (token, slot) in self.slab.iter() {
            if let Slot::Conn(c) = slot {
                if let Some(action) = c.expired(now, &live.timeouts) {
                    expired.push((token, action));
                }
            }
        }
        for (token, action) in expired {
            match action {
                super::conn::Expired::Close => self.close(token, shared, live),
                super::conn::Expired::RequestTimeout => {
                    super::dispatch::refuse_token(self, token, 408, "request timeout", shared, live)
                }
            }
        }
    }

    /// The server is stopping: stop listening, close idle connections; the others close after
    /// their current request.
    fn begin_stop(&mut self, shared: &LoopShared, live: &Live) {
        self.stop_seen = true;
        if let Some(l) = self.listener.take() {
            let _ = self
                .poll
                .registry()
                .deregister(&mut SourceFd(&l.as_raw_fd()));
            drop(l);
            live.listener_closed();
        }
        let idle: Vec<usize> = self
            .slab
            .iter()
            .filter_map(|(t, s)| match s {
                Slot::Conn(c) if c.is_idle() => Some(t),
                _ => None,
            })
            .collect();
        for t in idle {
            self.close(t, shared, live);
        }
        self.next_sweep = Instant::now();
    }

    /// After the drain time: close everything still open (connections out on a handler close
    /// when it returns).
    fn close_all(&mut self, shared: &LoopShared, live: &Live) {
        let all: Vec<usize> = self
            .slab
            .iter()
            .filter_map(|(t, s)| matches!(s, Slot::Conn(_)).then_some(t))
            .collect();
        for t in all {
            self.close(t, shared, live);
        }
        self.pending.clear();
    }
}

/// Accept errors that mean "no resources right now" rather than a problem with one connection.
fn out_of_resources(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}
