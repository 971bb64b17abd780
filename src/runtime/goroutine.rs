//! Goroutines: one OS thread owning one fresh Lua state each. This module spawns them, keeps the
//! registry of live ones with what each is blocked on (for `get_goroutines`, deadlock and leak
//! detection), and provides the one blocking wait every builtin uses: it honours cancellation and runs
//! the goroutine's pending events (error reports for `on_error`) while it waits.

use super::interrupt::{InterruptHandle, Reason};
use super::report::{self, ErrorInfo, Origin};
use super::state::GoState;
use super::value::{GlobalsSnapshot, Value};
use super::{Ctx, Shared};
use crossbeam_channel::{Receiver, Select, SelectedOperation, Sender};
use mlua::{Lua, MultiValue, Value as LuaValue};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Something a goroutine must handle at its next blocking point.
pub enum Event {
    /// An uncaught error elsewhere, for this goroutine's `on_error` handler.
    Error {
        info: ErrorInfo,
        gid: u64,
        name: String,
    },
    /// A goroutine this one (transitively) started has finished: `wait` rechecks.
    ChildFinished,
    /// Run callback `id` (a file watch) with these arguments.
    Callback { id: u64, args: Vec<Value> },
    /// This goroutine's interrupt handle was fired ([`GoInfo::stop`]: a handler's deadline,
    /// Ctrl-C at the REPL): a blocked wait wakes and raises the reason, as running Lua code does
    /// through the hook. Stale once the interrupt was reset.
    Interrupted,
}

/// What a goroutine is doing, as far as lifetime and deadlock detection care.
#[derive(Clone)]
pub enum Status {
    Running,
    /// Sleeping or doing I/O: it will wake by itself.
    Busy,
    /// Blocked on channels; `stuck` tells whether nothing but another goroutine can wake it.
    Blocked(Blocked),
}

/// A goroutine blocked in a channel operation or `wait`.
#[derive(Clone)]
pub struct Blocked {
    /// `receive("numbers")`, `select(...)`, `wait()`: shown in reports.
    pub what: String,
    /// `file:line` of the Lua code that blocked.
    pub at: String,
    /// Whether the wait has a timeout (then it is never a deadlock).
    pub has_timeout: bool,
    /// The channel-level condition that must hold for the wait to be stuck.
    pub waits_on: Vec<WaitOn>,
}

/// One channel condition a blocked goroutine waits for.
#[derive(Clone)]
pub enum WaitOn {
    /// Waiting for a value: stuck while the channel is empty and open.
    Receive(Arc<dyn ChannelState>),
    /// Waiting for room: stuck while the channel is full and open and nobody is receiving from it.
    Send(Arc<dyn ChannelState>),
    /// `wait()`: stuck while some descendant is alive (they are judged on their own).
    Children,
}

/// What deadlock detection needs to know about a channel.
pub trait ChannelState: Send + Sync {
    fn id(&self) -> usize;
    fn is_closed(&self) -> bool;
    fn is_empty(&self) -> bool;
    fn is_full(&self) -> bool;
}

/// One live goroutine in the registry.
pub struct GoInfo {
    pub id: u64,
    pub name: String,
    pub parent: u64,
    pub spawned_at: Option<String>,
    pub interrupt: Arc<InterruptHandle>,
    pub events: Sender<Event>,
    pub status: Mutex<Status>,
    /// The live goroutines that started this one, directly or through others (dead ones pruned).
    pub ancestors: Vec<u64>,
    /// How many goroutines this one started, transitively, are still alive (for `wait`).
    pub live_descendants: std::sync::atomic::AtomicUsize,
}

impl GoInfo {
    /// Stops this goroutine alone wherever it is: running Lua gets the interrupt hook, a blocking
    /// wait wakes ([`Event::Interrupted`]) and raises `reason`. Undone by the owner with
    /// `interrupt.reset()`.
    pub fn stop(&self, reason: Reason) {
        self.interrupt.fire(reason);
        let _ = self.events.send(Event::Interrupted);
    }
}

/// The registry of live goroutines and the bookkeeping around it.
#[derive(Default)]
pub struct Registry {
    pub live: Mutex<std::collections::HashMap<u64, Arc<GoInfo>>>,
    /// Bumped on every status change; deadlock detection needs two identical observations.
    generation: AtomicU64,
}

impl Registry {
    /// Records a status change.
    pub fn set_status(&self, info: &GoInfo, status: Status) {
        *info.status.lock() = status;
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Whether any live goroutine descends from `gid`.
    pub fn has_descendants(&self, gid: u64) -> bool {
        self.live
            .lock()
            .get(&gid)
            .is_some_and(|g| g.live_descendants.load(Ordering::Acquire) > 0)
    }

    /// The goroutines (other than `except`) that can never wake again, if *every* live goroutine
    /// other than `except` is in that state; `None` when some of them can still make progress.
    /// With `except = None` this is Go's "all goroutines are asleep" condition.
    pub fn all_stuck(&self, except: Option<u64>) -> Option<Vec<(u64, String, Blocked)>> {
        let live = self.live.lock();
        let mut stuck = Vec::new();
        let mut receiving: Vec<usize> = Vec::new();
        let mut blocked = Vec::new();
        for info in live.values() {
            if Some(info.id) == except {
                continue;
            }
            match &*info.status.lock() {
                Status::Blocked(b) if !b.has_timeout => {
                    blocked.push((info.id, info.name.clone(), b.clone()))
                }
                _ => return None,
            }
        }
        for (_, _, b) in &blocked {
            for w in &b.waits_on {
                if let WaitOn::Receive(ch) = w {
                    receiving.push(ch.id());
                }
            }
        }
        for (id, name, b) in blocked {
            let can_wake = b.waits_on.iter().any(|w| match w {
                WaitOn::Receive(ch) => ch.is_closed() || !ch.is_empty(),
                WaitOn::Send(ch) => ch.is_closed() || !ch.is_full() || receiving.contains(&ch.id()),
                // `wait()` returns as soon as no descendant is alive.
                WaitOn::Children => live
                    .get(&id)
                    .is_none_or(|g| g.live_descendants.load(Ordering::Acquire) == 0),
            });
            if can_wake {
                return None;
            }
            stuck.push((id, name, b));
        }
        stuck.sort_by_key(|(id, _, _)| *id);
        Some(stuck)
    }

    /// Like [`Registry::all_stuck`], but only trusted when it holds twice, `settle` apart, with no
    /// status change in between (so a wake-up in flight is never mistaken for a deadlock).
    pub fn stably_stuck(
        &self,
        except: Option<u64>,
        settle: Duration,
    ) -> Option<Vec<(u64, String, Blocked)>> {
        let before = self.generation();
        self.all_stuck(except)?;
        std::thread::sleep(settle);
        let result = self.all_stuck(except)?;
        (self.generation() == before).then_some(result)
    }
}

/// The goroutine-side pieces of a [`Ctx`].
pub struct Mailbox {
    pub info: Arc<GoInfo>,
    pub events: Receiver<Event>,
}

/// Registers goroutine `gid` and returns its registry entry and event receiver.
pub fn register(
    rt: &Shared,
    gid: u64,
    name: String,
    parent: u64,
    spawned_at: Option<String>,
    interrupt: Arc<InterruptHandle>,
) -> Mailbox {
    let mut live = rt.registry.live.lock();
    insert(&mut live, gid, name, parent, spawned_at, interrupt)
}

/// Like [`register`] with the next goroutine id, but only while fewer than `max` goroutines are
/// alive; otherwise returns how many are. The count and the insertion happen under one lock, so
/// goroutines spawning at the same moment cannot together overshoot `--max-goroutines`.
pub fn register_within(
    rt: &Shared,
    max: usize,
    name: String,
    parent: u64,
    spawned_at: Option<String>,
    interrupt: Arc<InterruptHandle>,
) -> Result<Mailbox, usize> {
    let mut live = rt.registry.live.lock();
    if live.len() >= max {
        return Err(live.len());
    }
    let gid = rt.next_goroutine_id();
    Ok(insert(&mut live, gid, name, parent, spawned_at, interrupt))
}

/// Adds a goroutine to the (locked) live map and counts it for each live ancestor.
fn insert(
    live: &mut std::collections::HashMap<u64, Arc<GoInfo>>,
    gid: u64,
    name: String,
    parent: u64,
    spawned_at: Option<String>,
    interrupt: Arc<InterruptHandle>,
) -> Mailbox {
    let (tx, rx) = crossbeam_channel::unbounded();
    let ancestors: Vec<u64> = match live.get(&parent) {
        Some(p) => p
            .ancestors
            .iter()
            .copied()
            .filter(|a| live.contains_key(a))
            .chain(std::iter::once(parent))
            .collect(),
        None => Vec::new(),
    };
    for a in &ancestors {
        if let Some(g) = live.get(a) {
            g.live_descendants.fetch_add(1, Ordering::AcqRel);
        }
    }
    let info = Arc::new(GoInfo {
        id: gid,
        name,
        parent,
        spawned_at,
        interrupt,
        events: tx,
        status: Mutex::new(Status::Running),
        ancestors,
        live_descendants: std::sync::atomic::AtomicUsize::new(0),
    });
    live.insert(gid, Arc::clone(&info));
    Mailbox { info, events: rx }
}

/// Removes a finished goroutine and tells its ancestors (their `wait` rechecks).
pub fn unregister(rt: &Shared, gid: u64) {
    let mut live = rt.registry.live.lock();
    let Some(me) = live.remove(&gid) else { return };
    for a in &me.ancestors {
        if let Some(g) = live.get(a) {
            // The last descendant to finish wakes a `wait()`.
            if g.live_descendants.fetch_sub(1, Ordering::AcqRel) == 1 {
                let _ = g.events.send(Event::ChildFinished);
            }
        }
    }
    drop(live);
    rt.registry.generation.fetch_add(1, Ordering::AcqRel);
    rt.goroutine_done.notify_all();
}

/// How long a blocked goroutine spins before its thread parks, unless `SOLVM_SPIN_US` says otherwise.
/// Waking a parked thread is a futex wake-up, which on a VM whose other vCPU sits idle takes tens of
/// microseconds; most answers in a channel conversation come sooner than this (BENCHMARKS.md).
const SPIN_BUDGET: Duration = Duration::from_micros(50);

/// Process-wide: lets blocked channel operations spin for a moment before parking (the patched
/// crossbeam in vendor/). At most half the cores spin at once, none on a single core, so a busy
/// machine loses at most that much. `SOLVM_SPIN_US=0` turns spinning off.
pub fn configure_spinning() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let budget = std::env::var("SOLVM_SPIN_US")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(SPIN_BUDGET, Duration::from_micros);
    crossbeam_channel::spin::configure(budget, cores / 2);
}

/// How long a wait runs before it is published for deadlock detection and reports. Detection only
/// trusts pictures that stay the same for 100 ms, so shorter waits (a ping-pong) need no bookkeeping.
const QUIET_WAIT: Duration = Duration::from_millis(1);

/// Blocks until one of the operations the caller added to `sel` is selected, then lets `complete`
/// finish it (crossbeam requires the selected operation to be completed). Cancellation and this
/// goroutine's events are handled meanwhile. `blocked` describes the wait for deadlock detection and
/// reports; it is only called if the wait lasts longer than [`QUIET_WAIT`]. Returns `None` when
/// `deadline` passes first.
pub fn block_on<'a, R>(
    lua: &Lua,
    ctx: &'a Ctx,
    blocked: &dyn Fn() -> Blocked,
    deadline: Option<Instant>,
    add_ops: &mut dyn FnMut(&mut Select<'a>) -> usize,
    complete: &mut dyn FnMut(usize, SelectedOperation<'_>) -> R,
) -> mlua::Result<Option<R>> {
    ctx.check()?;
    // While it waits, a goroutine queued for a thread may take its place on the CPU.
    let waited = super::pool::blocked(&ctx.rt, || {
        wait_for_operation(lua, ctx, blocked, deadline, add_ops, complete, false)
    })?;
    Ok(match waited {
        Waited::Selected(r) => Some(r),
        Waited::Deadline | Waited::ChildrenDone => None,
    })
}

/// How a wait ended.
enum Waited<R> {
    /// One of the caller's operations was selected and completed.
    Selected(R),
    /// The deadline passed.
    Deadline,
    /// The last live goroutine this one started finished.
    ChildrenDone,
}

/// Like [`block_on`] with no operation of its own, but also returns (with `false`) as soon as a
/// goroutine this one started finishes as the last of them: for `wait()` and the end of the run,
/// which then look again. `true` when `deadline` passed.
pub fn block_until_children_done(
    lua: &Lua,
    ctx: &Ctx,
    blocked: &dyn Fn() -> Blocked,
    deadline: Instant,
) -> mlua::Result<bool> {
    ctx.check()?;
    let waited = super::pool::blocked(&ctx.rt, || {
        wait_for_operation(
            lua,
            ctx,
            blocked,
            Some(deadline),
            &mut |_| 0,
            &mut |_, _| (),
            true,
        )
    })?;
    Ok(matches!(waited, Waited::Deadline))
}

/// [`block_on`]'s wait. Never inlined: its frame is then not on the stack yet when
/// `pool::blocked` starts a thread for the queue (`pthread_create` and the standard library's
/// spawn need ~1.5 KB of stack below the caller), which kept a goroutine blocked in `receive` one
/// page deeper than its wait goes (4 KB per blocked goroutine).
#[inline(never)]
fn wait_for_operation<'a, R>(
    lua: &Lua,
    ctx: &'a Ctx,
    blocked: &dyn Fn() -> Blocked,
    deadline: Option<Instant>,
    add_ops: &mut dyn FnMut(&mut Select<'a>) -> usize,
    complete: &mut dyn FnMut(usize, SelectedOperation<'_>) -> R,
    on_children_done: bool,
) -> mlua::Result<Waited<R>> {
    let quiet_until = Instant::now() + QUIET_WAIT;
    let mut published = false;
    let result = loop {
        let mut sel = Select::new();
        let n = add_ops(&mut sel);
        let cancel_idx = sel.recv(ctx.rt.cancel.signal());
        let events_idx = sel.recv(&ctx.events);
        let timer = super::events::next_due(lua);
        let until = [deadline, timer, (!published).then_some(quiet_until)]
            .into_iter()
            .flatten()
            .min();
        // Waits on channels spin a moment before parking: the answer often comes within
        // microseconds. Sleeps and waits for events alone park at once.
        let wait = |sel: &mut Select<'a>, d: Option<Instant>| {
            let mut run = || match d {
                Some(d) => sel.select_deadline(d).map_err(|_| ()),
                None => Ok(sel.select()),
            };
            if n > 0 {
                crossbeam_channel::spin::spinning(run)
            } else {
                run()
            }
        };
        let op = match until {
            Some(d) => match wait(&mut sel, Some(d)) {
                Ok(op) => op,
                Err(_) => {
                    if timer.is_some_and(|t| t <= Instant::now()) {
                        // This goroutine's own timers run while it waits (SPEC §6).
                        if let Err(e) = super::events::run_due(lua, ctx) {
                            break Err(e);
                        }
                    }
                    if deadline.is_some_and(|d| d <= Instant::now()) {
                        break Ok(Waited::Deadline);
                    }
                    if !published && Instant::now() >= quiet_until {
                        // Still waiting: flush output, hand back cached memory and tell the
                        // registry what we wait for.
                        super::output::flush();
                        super::alloc::settle_thread();
                        let mut b = blocked();
                        // Pending callbacks will wake it: never part of a deadlock.
                        b.has_timeout |= super::events::may_wake(lua);
                        ctx.rt.registry.set_status(&ctx.info, Status::Blocked(b));
                        published = true;
                        if ctx.rt.config.leak_check {
                            leak_sample(lua, ctx);
                        }
                        // Last: what ran above (and a thread started for the queue as this wait
                        // began) went deeper than the wait itself goes.
                        super::pool::release_unused_stack();
                    }
                    continue;
                }
            },
            None => match wait(&mut sel, None) {
                Ok(op) => op,
                Err(()) => continue,
            },
        };
        let idx = op.index();
        if idx < n {
            break Ok(Waited::Selected(complete(idx, op)));
        }
        if idx == cancel_idx {
            let _ = op.recv(ctx.rt.cancel.signal());
            if let Err(e) = ctx.rt.cancel.check() {
                break Err(e);
            }
            continue;
        }
        if idx == events_idx {
            if let Ok(ev) = op.recv(&ctx.events) {
                if on_children_done && matches!(ev, Event::ChildFinished) {
                    break Ok(Waited::ChildrenDone);
                }
                if let Err(e) = handle_event(lua, ctx, ev).and_then(|_| ctx.check()) {
                    break Err(e);
                }
            }
        }
    };
    if published {
        ctx.rt.registry.set_status(&ctx.info, Status::Running);
    }
    result
}

/// How long one slice of a blocking I/O wait lasts (sockets get this as their read timeout), so
/// cancellation and events are seen at least this often.
pub const IO_SLICE: Duration = Duration::from_millis(50);

/// Whether a socket error of one slice only means "nothing yet": the slice timeout expired, or a
/// signal interrupted the call (EINTR: cancellation signals a goroutine's thread, and a read with a
/// timeout is not restarted after a handler), so the loop goes round and looks again.
pub fn is_slice_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock
            | std::io::ErrorKind::TimedOut
            | std::io::ErrorKind::Interrupted
    )
}

/// Blocking I/O done in slices: `step` does one bounded attempt (a socket read with an
/// [`IO_SLICE`] timeout, say) and returns `Ok(Some(v))` when finished, `Ok(None)` to go on. Between
/// slices the run's cancellation is checked and this goroutine's events run. While waiting the
/// goroutine counts as busy (never part of a deadlock).
pub fn io_wait<T>(
    lua: &Lua,
    ctx: &Ctx,
    step: &mut dyn FnMut() -> mlua::Result<Option<T>>,
) -> mlua::Result<T> {
    super::output::flush();
    ctx.rt.registry.set_status(&ctx.info, Status::Busy);
    let result = super::pool::blocked(&ctx.rt, || loop {
        if let Err(e) = ctx
            .check()
            .and_then(|_| drain_events(lua, ctx))
            .and_then(|_| super::events::run_due(lua, ctx))
        {
            break Err(e);
        }
        match step() {
            Ok(Some(v)) => break Ok(v),
            Ok(None) => {}
            Err(e) => break Err(e),
        }
    });
    ctx.rt.registry.set_status(&ctx.info, Status::Running);
    result
}

/// `sleep`: waits `dur` while running this goroutine's callbacks and events.
pub fn sleep(lua: &Lua, ctx: &Ctx, dur: Duration) -> mlua::Result<()> {
    let blocked = || Blocked {
        what: "sleep".into(),
        at: caller_location(lua),
        has_timeout: true,
        waits_on: Vec::new(),
    };
    // `args::NO_LIMIT` (a century or more) sleeps in hour-long steps until cancelled.
    let end = super::args::deadline_after(dur);
    loop {
        let step = end.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        block_on(lua, ctx, &blocked, Some(step), &mut |_| 0, &mut |_, _| ())?;
        if end.is_some_and(|e| Instant::now() >= e) {
            return Ok(());
        }
    }
}

/// After a goroutine's function returns: runs its callbacks (timers, cron, watches) until none is
/// left (SPEC §6: a goroutine with pending callbacks stays alive).
pub fn run_callbacks_until_idle(lua: &Lua, ctx: &Ctx) -> mlua::Result<()> {
    drain_events(lua, ctx)?;
    while super::events::pending(lua) {
        let until =
            super::events::next_due(lua).unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
        let blocked = || Blocked {
            what: "callbacks".into(),
            at: "after its function returned".into(),
            has_timeout: true,
            waits_on: Vec::new(),
        };
        block_on(lua, ctx, &blocked, Some(until), &mut |_| 0, &mut |_, _| ())?;
    }
    Ok(())
}

/// Samples a goroutine's Lua memory for `--leak-check`.
#[derive(Default)]
struct LeakSamples {
    last: Option<Instant>,
    rising: Vec<usize>,
    reported: bool,
}

/// Rises in a row after which `--leak-check` reports a goroutine.
const LEAK_SAMPLES: usize = 5;
/// At most one sample (a full collection) per goroutine this often.
const LEAK_INTERVAL: Duration = Duration::from_secs(1);

/// `--leak-check`: at a blocking point, at most once per [`LEAK_INTERVAL`], collects garbage fully
/// and samples the state's memory; [`LEAK_SAMPLES`] rises in a row are reported once (SPEC §7).
fn leak_sample(lua: &Lua, ctx: &Ctx) {
    let due = lua
        .app_data_ref::<std::cell::RefCell<LeakSamples>>()
        .map(|s| s.borrow().last.is_none_or(|t| t.elapsed() >= LEAK_INTERVAL))
        .unwrap_or(true);
    if !due {
        return;
    }
    if lua.gc_collect().is_err() {
        return;
    }
    let bytes = lua.used_memory();
    if lua
        .app_data_ref::<std::cell::RefCell<LeakSamples>>()
        .is_none()
    {
        lua.set_app_data(std::cell::RefCell::new(LeakSamples::default()));
    }
    let Some(cell) = lua.app_data_ref::<std::cell::RefCell<LeakSamples>>() else {
        return;
    };
    let mut s = cell.borrow_mut();
    s.last = Some(Instant::now());
    if s.rising.last().is_some_and(|&prev| bytes <= prev) {
        s.rising.clear();
    }
    s.rising.push(bytes);
    if s.rising.len() > LEAK_SAMPLES && !s.reported {
        s.reported = true;
        let first = s.rising[0];
        report::emit(&format!(
            "leak-check: goroutine {} ({}) Lua memory grew {} samples in a row after full collections: {} -> {} bytes (at {})\n",
            ctx.gid,
            ctx.info.name,
            LEAK_SAMPLES,
            first,
            bytes,
            caller_location(lua)
        ));
    }
}

/// Runs one event on this goroutine.
pub fn handle_event(lua: &Lua, ctx: &Ctx, ev: Event) -> mlua::Result<()> {
    match ev {
        Event::ChildFinished => Ok(()),
        Event::Interrupted => match ctx.interrupt.fired() {
            Some(reason) => Err(mlua::Error::runtime(reason.message())),
            None => Ok(()),
        },
        Event::Callback { id, args } => super::events::run_callback(lua, ctx, id, &args),
        Event::Error { info, gid, name } => {
            if !super::state::deliver_on_error(lua, gid, &name, &info) {
                report_unhandled(&ctx.rt, &info, gid, &name, None);
            }
            Ok(())
        }
    }
}

/// Runs every pending event without blocking.
pub fn drain_events(lua: &Lua, ctx: &Ctx) -> mlua::Result<()> {
    while let Ok(ev) = ctx.events.try_recv() {
        handle_event(lua, ctx, ev)?;
    }
    Ok(())
}

/// Prints the report of an error nobody handled and marks the run as failed.
pub fn report_unhandled(
    rt: &Shared,
    info: &ErrorInfo,
    gid: u64,
    name: &str,
    spawned_at: Option<&str>,
) {
    rt.failed.store(true, Ordering::Relaxed);
    let origin = Origin {
        id: gid,
        name,
        spawned_at,
    };
    report::emit(&report::render(rt, "error", info, Some(&origin)));
}

/// The `file:line` of the Lua code that called the current builtin.
pub fn caller_location(lua: &Lua) -> String {
    for level in 1..4 {
        let found = lua.inspect_stack(level, |d| {
            let line = d.current_line()?;
            let src = d.source().short_src.map(|s| s.into_owned())?;
            Some(format!("{src}:{line}"))
        });
        if let Some(Some(at)) = found {
            return at;
        }
    }
    "?".into()
}

/// What `go()` hands to the new thread.
pub struct Spawn {
    pub func: Value,
    pub args: Vec<Value>,
    pub globals: GlobalsSnapshot,
    pub name: String,
    pub spawned_at: String,
}

/// Starts goroutine for `spawn` as a child of `parent`; returns its id.
pub fn spawn(rt: &Arc<Shared>, parent: u64, spawn: Spawn) -> mlua::Result<u64> {
    let max = rt.config.max_goroutines;
    let interrupt = Arc::new(InterruptHandle::default());
    let mailbox = register_within(
        rt,
        max,
        spawn.name.clone(),
        parent,
        Some(spawn.spawned_at.clone()),
        Arc::clone(&interrupt),
    )
    .map_err(|alive| {
        mlua::Error::runtime(format!(
            "go: too many goroutines ({alive} alive, the limit is {max}; raise it with --max-goroutines)"
        ))
    })?;
    let gid = mailbox.info.id;
    if rt.cancel.reason().is_some() {
        // The run is ending: nothing would run it.
        unregister(rt, gid);
        return Err(rt
            .cancel
            .check()
            .err()
            .unwrap_or_else(|| mlua::Error::runtime("go: the run is ending")));
    }
    // Boxed: it is moved from thread to thread, and a goroutine thread's stack should stay small.
    let job = Box::new(Job {
        mailbox,
        spawn,
        counted: false,
    });
    super::pool::submit(rt, job).map_err(mlua::Error::runtime)?;
    Ok(gid)
}

/// A goroutine waiting for (or handed to) a thread.
pub struct Job {
    mailbox: Mailbox,
    spawn: Spawn,
    /// Whether it already counts as running (see `pool`).
    pub counted: bool,
}

impl Job {
    /// The goroutine's id.
    pub fn gid(&self) -> u64 {
        self.mailbox.info.id
    }
}

/// Runs goroutine `job` on the calling thread, in `prepared` (a state built ahead) or a new state.
pub fn run_goroutine(rt: &Arc<Shared>, job: Job, prepared: Option<GoState>) {
    let Job { mailbox, spawn, .. } = job;
    let gid = mailbox.info.id;
    let info = Arc::clone(&mailbox.info);
    let Spawn {
        func: func_value,
        args: arg_values,
        globals,
        name,
        spawned_at,
    } = spawn;
    let outcome = (|| -> mlua::Result<GoState> {
        let state = match prepared {
            Some(p) => p.assign(mailbox),
            None => GoState::with_mailbox(rt, mailbox)?,
        };
        let lua = &state.lua;
        globals.install(lua)?;
        let func = match func_value.to_lua(lua)? {
            LuaValue::Function(f) => f,
            _ => {
                return Err(mlua::Error::runtime(
                    "go: the goroutine's function did not arrive as a function",
                ))
            }
        };
        let args = arg_values
            .iter()
            .map(|a| a.to_lua(lua))
            .collect::<mlua::Result<MultiValue>>()?;
        // The copies are in the state now; a goroutine may live long.
        drop((globals, func_value, arg_values));
        if let Err(e) = func.call::<MultiValue>(args) {
            on_goroutine_error(rt, &state, &e, &name);
        } else if let Err(e) = run_callbacks_until_idle(lua, &state.ctx) {
            on_goroutine_error(rt, &state, &e, &name);
        }
        // Events that arrived for this goroutine still run (an on_error handler registered here).
        let _ = drain_events(lua, &state.ctx);
        Ok(state)
    })();
    match outcome {
        Ok(state) => drop(state),
        Err(e) => {
            if rt.cancel.reason().is_none() {
                let info = ErrorInfo::from_lua_error(&e);
                report_unhandled(rt, &info, gid, &name, Some(&spawned_at));
            }
        }
    }
    drop(info);
    unregister(rt, gid);
}

fn on_goroutine_error(rt: &Arc<Shared>, state: &GoState, err: &mlua::Error, name: &str) {
    match rt.cancel.reason() {
        Some(Reason::Timeout) => {
            let at = super::state::stopped_at(&state.lua).or_else(|| {
                ErrorInfo::from_lua_error(err)
                    .location
                    .map(|(f, l)| format!("{f}:{l}"))
            });
            rt.stopped.lock().push(format!(
                "  goroutine {} ({}) was stopped at {}",
                state.ctx.gid,
                name,
                at.unwrap_or_else(|| "?".into())
            ));
        }
        Some(_) => {}
        None => {
            let info = ErrorInfo::from_lua_error_in(&state.lua, err);
            route_error_here(&state.lua, &state.ctx, info);
        }
    }
}

/// Routes an uncaught error raised on goroutine `ctx` (whose state is `lua`, at a safe point): to
/// its own `on_error` handler directly when it registered it, otherwise as [`route_error`] does.
pub fn route_error_here(lua: &Lua, ctx: &Ctx, info: ErrorInfo) {
    let owner = *ctx.rt.on_error_owner.lock();
    if owner == Some(ctx.gid) {
        if !super::state::deliver_on_error(lua, ctx.gid, &ctx.info.name, &info) {
            report_unhandled(
                &ctx.rt,
                &info,
                ctx.gid,
                &ctx.info.name,
                ctx.info.spawned_at.as_deref(),
            );
        }
        return;
    }
    route_error(
        &ctx.rt,
        info,
        ctx.gid,
        &ctx.info.name,
        ctx.info.spawned_at.as_deref(),
    );
}

/// Sends an uncaught error to the goroutine that registered `on_error`, or reports it.
pub fn route_error(rt: &Shared, info: ErrorInfo, gid: u64, name: &str, spawned_at: Option<&str>) {
    let owner = *rt.on_error_owner.lock();
    if let Some(owner) = owner {
        let target = rt.registry.live.lock().get(&owner).cloned();
        if let Some(t) = target {
            if t.id != gid {
                let _ = t.events.send(Event::Error {
                    info,
                    gid,
                    name: name.to_string(),
                });
                return;
            }
        }
    }
    report_unhandled(rt, &info, gid, name, spawned_at);
}

/// After the main chunk returns: keeps main's events running until every other goroutine has
/// finished, or every one left can never wake (they are reported as leaked).
pub fn wait_for_others(lua: &Lua, ctx: &Ctx) -> mlua::Result<()> {
    let rt = &ctx.rt;
    loop {
        drain_events(lua, ctx)?;
        let others = rt.registry.live.lock().len().saturating_sub(1);
        let own = super::events::pending(lua);
        if others == 0 && rt.services() == 0 && !own {
            return Ok(());
        }
        if rt.services() == 0 && !own {
            if let Some(stuck) = rt
                .registry
                .stably_stuck(Some(ctx.gid), Duration::from_millis(50))
            {
                if !stuck.is_empty() {
                    let mut text = format!(
                        "{} goroutine{} leaked:\n",
                        stuck.len(),
                        if stuck.len() == 1 { "" } else { "s" }
                    );
                    for (id, name, b) in &stuck {
                        text.push_str(&format!(
                            "  goroutine {id} ({name}): blocked in {} at {}\n",
                            b.what, b.at
                        ));
                    }
                    report::emit(&text);
                    return Ok(());
                }
            }
        }
        // Output of a long-running service (a server started by main) must not sit in a buffer.
        super::output::flush();
        // Main's own timers and events run while it waits; a finishing goroutine wakes it.
        let blocked = || Blocked {
            what: "the end of the run".into(),
            at: "after the main chunk returned".into(),
            has_timeout: true,
            waits_on: Vec::new(),
        };
        let until = Instant::now() + Duration::from_millis(100);
        block_until_children_done(lua, ctx, &blocked, until)?;
    }
}

/// Go's fatal deadlock: main and every goroutine blocked with nothing that could wake them. Checked
/// by the run's supervisor; on a deadlock, reports it, ends the run with exit 1 and returns `true`.
pub fn check_deadlock(rt: &Shared) -> bool {
    let main_blocked = rt
        .registry
        .live
        .lock()
        .get(&1)
        .is_some_and(|m| matches!(&*m.status.lock(), Status::Blocked(_)));
    if !main_blocked || rt.services() > 0 || rt.cancel.reason().is_some() {
        return false;
    }
    let Some(stuck) = rt.registry.stably_stuck(None, Duration::from_millis(100)) else {
        return false;
    };
    let mut text = String::from("fatal: all goroutines are asleep - deadlock!\n");
    for (id, name, b) in &stuck {
        text.push_str(&format!(
            "  goroutine {id} ({name}): blocked in {} at {}\n",
            b.what, b.at
        ));
    }
    report::emit(&text);
    rt.failed.store(true, Ordering::Relaxed);
    rt.deadlocked.store(true, Ordering::Relaxed);
    // The code first: cancelling wakes everyone, and the run may end at once.
    rt.exit_code.store(1, Ordering::Relaxed);
    rt.cancel(Reason::Exit);
    true
}
