//! The server's worker threads: goroutines that each own a Lua state with copies of the server's
//! handlers and the globals as of `start_server`. A worker drives an event loop
//! (`event_loop::drive`) and runs the handlers of the requests it completes; a worker whose loop
//! was handed on while its handler ran becomes a spare, waiting for a loop to drive. `workers`
//! threads are kept; more start when handlers block with every kept one busy, and retire after
//! [`retire_after`] idle. So threads follow the handlers in flight, never the open connections.

use super::dispatch::Request;
use super::event_loop::{self, LoopShared, Runner};
use super::handler::Worker;
use super::response::Response;
use super::Live;
use crate::runtime::goroutine::{self, GoInfo};
use crate::runtime::interrupt::{InterruptHandle, Reason};
use crate::runtime::report::ErrorInfo;
use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a worker beyond the kept ones waits idle before it ends (`SOLVM_SERVER_RETIRE_MS`
/// overrides it, so a test can cover what happens after it without waiting).
fn retire_after() -> Duration {
    std::env::var("SOLVM_SERVER_RETIRE_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(Duration::from_secs(10), Duration::from_millis)
}

/// What the control thread sees of one worker, to enforce the handler time limit.
pub struct WorkerSlot {
    busy_since: Mutex<Option<Instant>>,
    timed_out: AtomicBool,
    /// The worker's goroutine (replaced when its state is rebuilt).
    info: Mutex<Arc<GoInfo>>,
}

impl WorkerSlot {
    /// Stops the worker's handler if it has run longer than `limit`: under the `busy_since` lock,
    /// so a worker that has just finished is never stopped afterwards.
    pub fn check_time(&self, limit: Duration) {
        let busy = self.busy_since.lock();
        if let Some(since) = *busy {
            if since.elapsed() > limit && !self.timed_out.swap(true, Ordering::AcqRel) {
                self.info.lock().stop(Reason::Deadline);
            }
        }
    }

    pub fn begin(&self) {
        *self.busy_since.lock() = Some(Instant::now());
    }

    /// Ends a handler call; whether the time limit stopped it.
    pub fn end(&self) -> bool {
        *self.busy_since.lock() = None;
        self.timed_out.swap(false, Ordering::AcqRel)
    }

    pub fn set_info(&self, info: Arc<GoInfo>) {
        *self.info.lock() = info;
    }
}

/// The worker threads of one running server.
pub struct Workers {
    keep: usize,
    total: AtomicUsize,
    idle: AtomicUsize,
    started: AtomicUsize,
    /// Loops for spare workers to drive; `None` tells a spare the server is done.
    tx: Sender<Option<Arc<LoopShared>>>,
    rx: Receiver<Option<Arc<LoopShared>>>,
    /// Every live worker's handler clock.
    pub slots: Mutex<Vec<Arc<WorkerSlot>>>,
}

impl Workers {
    pub fn new(keep: usize) -> Workers {
        let (tx, rx) = crossbeam_channel::unbounded();
        Workers {
            keep,
            total: AtomicUsize::new(0),
            idle: AtomicUsize::new(0),
            started: AtomicUsize::new(0),
            tx,
            rx,
            slots: Mutex::new(Vec::new()),
        }
    }

    /// Every live worker's handler clock, checked against `limit`.
    pub fn check_time(&self, limit: Duration) {
        for s in self.slots.lock().iter() {
            s.check_time(limit);
        }
    }

    /// How many worker threads are alive.
    pub fn count(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }

    /// Ends the spare workers (the server is done).
    pub fn close(&self) {
        for _ in 0..self.total.load(Ordering::Acquire) + 1 {
            let _ = self.tx.send(None);
        }
    }
}

/// Starts the kept workers; the first ones each take a loop.
pub fn start(live: &Arc<Live>) -> std::io::Result<()> {
    let keep = live.workers.keep.max(live.loops.len());
    for i in 0..keep {
        spawn(live, live.loops.get(i).cloned())?;
    }
    Ok(())
}

/// Gives loop `shared` (put down for longer than the hand-off time) to a spare worker, or to a
/// new one when none is spare.
pub fn hand_off(live: &Arc<Live>, shared: Arc<LoopShared>) {
    if live.workers.idle.load(Ordering::Acquire) > 0 {
        let _ = live.workers.tx.send(Some(shared));
        return;
    }
    if let Err(e) = spawn(live, Some(shared)) {
        crate::runtime::report::emit(&format!(
            "server '{}': cannot start a worker thread: {e}\n",
            live.name
        ));
    }
}

/// Starts one worker thread, driving `first` when given.
fn spawn(live: &Arc<Live>, first: Option<Arc<LoopShared>>) -> std::io::Result<()> {
    let workers = &live.workers;
    workers.total.fetch_add(1, Ordering::AcqRel);
    let index = workers.started.fetch_add(1, Ordering::AcqRel) + 1;
    let l = Arc::clone(live);
    let started = std::thread::Builder::new()
        .name(format!("server-{}-worker-{index}", live.name))
        .stack_size(super::CONNECTION_STACK)
        .spawn(move || run_worker(l, index, first));
    if let Err(e) = started {
        workers.total.fetch_sub(1, Ordering::AcqRel);
        return Err(e);
    }
    Ok(())
}

/// A worker thread: builds its state, then drives loops until the server is done.
fn run_worker(live: Arc<Live>, index: usize, first: Option<Arc<LoopShared>>) {
    let name = format!("server '{}' worker {index}", live.name);
    let (worker, info) = Worker::build(&live, &name);
    let slot = Arc::new(WorkerSlot {
        busy_since: Mutex::new(None),
        timed_out: AtomicBool::new(false),
        info: Mutex::new(info),
    });
    live.workers.slots.lock().push(Arc::clone(&slot));
    let mut runner = LuaRunner {
        worker,
        slot: Arc::clone(&slot),
        name,
    };
    let mut next = first;
    loop {
        let shared = match next.take() {
            Some(s) => s,
            None => match wait_for_loop(&live, &mut runner) {
                Some(s) => s,
                None => break,
            },
        };
        if let Some(p) = shared.pick_up() {
            let _ = event_loop::drive(&shared, p, &live, &mut runner);
        }
        if live.all_loops_finished() {
            break;
        }
    }
    live.workers.slots.lock().retain(|s| !Arc::ptr_eq(s, &slot));
    live.workers.total.fetch_sub(1, Ordering::AcqRel);
    if let Some(w) = runner.worker.take() {
        w.finish(&live);
    }
}

/// A spare worker waits for a loop to drive, running its own timers and events meanwhile. `None`
/// when it should end: the server is done, or it is beyond the kept ones and idle too long.
fn wait_for_loop(live: &Arc<Live>, runner: &mut LuaRunner) -> Option<Arc<LoopShared>> {
    let workers = &live.workers;
    workers.idle.fetch_add(1, Ordering::AcqRel);
    let retire_after = retire_after();
    let mut retire_at = Instant::now() + retire_after;
    let got = loop {
        let events = runner.worker.as_ref().map(|w| w.events().clone());
        let never = crossbeam_channel::never();
        let events = events.as_ref().unwrap_or(&never);
        let until = runner.next_timer().map_or(retire_at, |t| t.min(retire_at));
        crossbeam_channel::select! {
            recv(workers.rx) -> m => break m.ok().flatten(),
            recv(events) -> ev => {
                if let (Ok(ev), Some(w)) = (ev, runner.worker.as_ref()) {
                    w.handle_event(ev);
                }
            }
            default(until.saturating_duration_since(Instant::now())) => {
                runner.between_requests();
                if Instant::now() >= retire_at {
                    if workers.total.load(Ordering::Acquire) > workers.keep.max(live.loops.len()) {
                        // A loop sent at this very moment is still served.
                        break workers.rx.try_recv().ok().flatten();
                    }
                    if live.all_loops_finished() {
                        break None;
                    }
                    // A kept worker stays: look again after another idle period (without this the
                    // wait above would time out at once, and the idle worker spin).
                    retire_at = Instant::now() + retire_after;
                }
            }
        }
    };
    workers.idle.fetch_sub(1, Ordering::AcqRel);
    got
}

/// A worker's Lua state as the loop sees it.
struct LuaRunner {
    /// `None` when the state could not be built: handler routes then get 500.
    worker: Option<Worker>,
    slot: Arc<WorkerSlot>,
    name: String,
}

impl Runner for LuaRunner {
    fn run(
        &mut self,
        live: &Arc<Live>,
        index: usize,
        req: &Request,
        peer: &SocketAddr,
    ) -> Response {
        live.handler_started();
        self.slot.begin();
        let outcome = match &self.worker {
            Some(w) => w.handle(live, index, req, peer),
            None => super::handler::Outcome::Answer(Response::text(
                500,
                "Internal Server Error: the handler's Lua state could not be built",
            )),
        };
        let timed_out = self.slot.end();
        live.handler_ended();
        let resp = match outcome {
            super::handler::Outcome::Answer(r) => r,
            super::handler::Outcome::Failed(e) => {
                let Some(w) = self.worker.as_ref() else {
                    return Response::text(500, "Internal Server Error");
                };
                let resp = w.failure(live, index, &e, timed_out);
                if timed_out {
                    w.clear_deadline();
                }
                if is_out_of_memory(&e) {
                    self.rebuild(live);
                }
                resp
            }
        };
        // A handler's prints must show up while the server runs, not at exit.
        crate::runtime::output::flush();
        resp
    }

    fn between_requests(&mut self) {
        if let Some(w) = &self.worker {
            w.poll_events();
        }
    }

    fn next_timer(&self) -> Option<Instant> {
        self.worker.as_ref().and_then(|w| w.next_timer())
    }
}

impl LuaRunner {
    /// After a handler ran out of memory (`--memory-limit`): a fresh state, and the old one's
    /// memory given back to the OS (SPEC §12).
    fn rebuild(&mut self, live: &Arc<Live>) {
        if let Some(old) = self.worker.take() {
            old.finish(live);
        }
        crate::runtime::alloc::settle_thread();
        // Safety: malloc_trim only walks glibc's own arenas.
        unsafe {
            libc::malloc_trim(0);
        }
        let (worker, info) = Worker::build(live, &self.name);
        self.slot.set_info(info);
        self.worker = worker;
    }
}

/// Whether `e` (or what caused it) is Lua running out of memory.
fn is_out_of_memory(e: &mlua::Error) -> bool {
    match e {
        mlua::Error::MemoryError(_) => true,
        mlua::Error::CallbackError { cause, .. } => is_out_of_memory(cause),
        mlua::Error::WithContext { cause, .. } => is_out_of_memory(cause),
        other => other.to_string().contains("not enough memory"),
    }
}

/// Reports an error of a worker that is not a handler's (its state could not be built).
pub fn report_worker_error(live: &Live, gid: u64, name: &str, e: &mlua::Error) {
    if live.rt.cancel.reason().is_none() {
        let info = ErrorInfo::from_lua_error(e);
        goroutine::report_unhandled(&live.rt, &info, gid, name, None);
    }
}

/// A fresh interrupt handle for a worker goroutine.
pub fn new_interrupt() -> Arc<InterruptHandle> {
    Arc::new(InterruptHandle::default())
}
