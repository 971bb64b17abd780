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

/// Stack size of goroutine threads: small, since there may be thousands (memory is only committed
/// as it is touched), yet deep enough for Lua's 200 nested C calls.
const GOROUTINE_STACK: usize = 1024 * 1024;

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

    /// `true` when `ancestor` started `gid`, directly or through others.
    fn descends_from(
        live: &std::collections::HashMap<u64, Arc<GoInfo>>,
        mut gid: u64,
        ancestor: u64,
    ) -> bool {
        for _ in 0..10_000 {
            match live.get(&gid) {
                Some(info) if info.parent == ancestor => return true,
                Some(info) if info.parent != 0 && info.parent != gid => gid = info.parent,
                _ => return false,
            }
        }
        false
    }

    /// Whether any live goroutine descends from `gid`.
    pub fn has_descendants(&self, gid: u64) -> bool {
        let live = self.live.lock();
        live.keys()
            .any(|&g| g != gid && Self::descends_from(&live, g, gid))
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
                WaitOn::Children => !live
                    .keys()
                    .any(|&g| g != id && Self::descends_from(&live, g, id)),
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
    let (tx, rx) = crossbeam_channel::unbounded();
    let info = Arc::new(GoInfo {
        id: gid,
        name,
        parent,
        spawned_at,
        interrupt,
        events: tx,
        status: Mutex::new(Status::Running),
    });
    rt.registry.live.lock().insert(gid, Arc::clone(&info));
    Mailbox { info, events: rx }
}

/// Removes a finished goroutine and tells its ancestors (their `wait` rechecks).
pub fn unregister(rt: &Shared, gid: u64) {
    let mut live = rt.registry.live.lock();
    let Some(me) = live.remove(&gid) else { return };
    let mut parent = me.parent;
    for _ in 0..10_000 {
        let Some(p) = live.get(&parent) else { break };
        let _ = p.events.send(Event::ChildFinished);
        if p.parent == 0 || p.parent == parent {
            break;
        }
        parent = p.parent;
    }
    drop(live);
    rt.registry.generation.fetch_add(1, Ordering::AcqRel);
    rt.goroutine_done.notify_all();
}

/// Blocks until one of the operations the caller added to `sel` is selected, then lets `complete`
/// finish it (crossbeam requires the selected operation to be completed). Cancellation and this
/// goroutine's events are handled meanwhile. `blocked` describes the wait for deadlock detection and
/// reports. Returns `None` when `deadline` passes first.
pub fn block_on<'a, R>(
    lua: &Lua,
    ctx: &'a Ctx,
    blocked: Blocked,
    deadline: Option<Instant>,
    add_ops: &mut dyn FnMut(&mut Select<'a>) -> usize,
    complete: &mut dyn FnMut(usize, SelectedOperation<'_>) -> R,
) -> mlua::Result<Option<R>> {
    ctx.rt.cancel.check()?;
    super::output::flush();
    ctx.rt
        .registry
        .set_status(&ctx.info, Status::Blocked(blocked));
    let result = loop {
        let mut sel = Select::new();
        let n = add_ops(&mut sel);
        let cancel_idx = sel.recv(ctx.rt.cancel.signal());
        let events_idx = sel.recv(&ctx.events);
        let op = match deadline {
            Some(d) => match sel.select_deadline(d) {
                Ok(op) => op,
                Err(_) => break Ok(None),
            },
            None => sel.select(),
        };
        let idx = op.index();
        if idx < n {
            break Ok(Some(complete(idx, op)));
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
                if let Err(e) = handle_event(lua, ctx, ev) {
                    break Err(e);
                }
            }
        }
    };
    ctx.rt.registry.set_status(&ctx.info, Status::Running);
    result
}

/// How long one slice of a blocking I/O wait lasts (sockets get this as their read timeout), so
/// cancellation and events are seen at least this often.
pub const IO_SLICE: Duration = Duration::from_millis(50);

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
    let result = loop {
        if let Err(e) = ctx.rt.cancel.check().and_then(|_| drain_events(lua, ctx)) {
            break Err(e);
        }
        match step() {
            Ok(Some(v)) => break Ok(v),
            Ok(None) => {}
            Err(e) => break Err(e),
        }
    };
    ctx.rt.registry.set_status(&ctx.info, Status::Running);
    result
}

/// Runs one event on this goroutine.
pub fn handle_event(lua: &Lua, ctx: &Ctx, ev: Event) -> mlua::Result<()> {
    match ev {
        Event::ChildFinished => Ok(()),
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
    let gid = {
        let live = rt.registry.live.lock();
        if live.len() >= max {
            return Err(mlua::Error::runtime(format!(
                "go: too many goroutines ({} alive, the limit is {max}; raise it with --max-goroutines)",
                live.len()
            )));
        }
        rt.next_goroutine_id()
    };
    let interrupt = Arc::new(InterruptHandle::default());
    let mailbox = register(
        rt,
        gid,
        spawn.name.clone(),
        parent,
        Some(spawn.spawned_at.clone()),
        Arc::clone(&interrupt),
    );
    let rt2 = Arc::clone(rt);
    let started = std::thread::Builder::new()
        .name(format!("goroutine-{gid}"))
        .stack_size(GOROUTINE_STACK)
        .spawn(move || run_goroutine(rt2, mailbox, spawn));
    if let Err(e) = started {
        unregister(rt, gid);
        return Err(mlua::Error::runtime(format!(
            "go: cannot start a thread: {e}"
        )));
    }
    Ok(gid)
}

fn run_goroutine(rt: Arc<Shared>, mailbox: Mailbox, spawn: Spawn) {
    let gid = mailbox.info.id;
    let info = Arc::clone(&mailbox.info);
    let outcome = (|| -> mlua::Result<GoState> {
        let state = GoState::with_mailbox(&rt, mailbox)?;
        let lua = &state.lua;
        spawn.globals.install(lua)?;
        let func = match spawn.func.to_lua(lua)? {
            LuaValue::Function(f) => f,
            _ => {
                return Err(mlua::Error::runtime(
                    "go: the goroutine's function did not arrive as a function",
                ))
            }
        };
        let args = spawn
            .args
            .iter()
            .map(|a| a.to_lua(lua))
            .collect::<mlua::Result<MultiValue>>()?;
        if let Err(e) = func.call::<MultiValue>(args) {
            on_goroutine_error(&rt, &state, &e, &spawn);
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
                report_unhandled(&rt, &info, gid, &spawn.name, Some(&spawn.spawned_at));
            }
        }
    }
    drop(info);
    unregister(&rt, gid);
}

fn on_goroutine_error(rt: &Arc<Shared>, state: &GoState, err: &mlua::Error, spawn: &Spawn) {
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
                spawn.name,
                at.unwrap_or_else(|| "?".into())
            ));
        }
        Some(_) => {}
        None => {
            let info = ErrorInfo::from_lua_error_in(&state.lua, err);
            route_error(
                rt,
                info,
                state.ctx.gid,
                &spawn.name,
                Some(&spawn.spawned_at),
            );
        }
    }
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
pub fn wait_for_others(lua: &Lua, ctx: &Ctx) {
    let rt = &ctx.rt;
    loop {
        let _ = drain_events(lua, ctx);
        let others = rt.registry.live.lock().len().saturating_sub(1);
        if others == 0 && rt.services() == 0 || rt.cancel.reason().is_some() {
            return;
        }
        if rt.services() > 0 {
            // A running service can wake anyone; wait for it to stop.
        } else if let Some(stuck) = rt
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
                return;
            }
        }
        // Output of a long-running service (a server started by main) must not sit in a buffer.
        super::output::flush();
        let mut guard = rt.goroutine_wait.lock();
        rt.goroutine_done
            .wait_for(&mut guard, Duration::from_millis(100));
    }
}

/// Watches for Go's fatal deadlock: every goroutine, main included, blocked with nothing that could
/// wake it. Runs on its own thread until `stop` is dropped.
pub fn start_deadlock_watch(rt: &Arc<Shared>) -> (Sender<()>, std::thread::JoinHandle<()>) {
    let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
    let rt = Arc::clone(rt);
    let thread = std::thread::Builder::new()
        .name("solvm-deadlock".into())
        .stack_size(128 * 1024)
        .spawn(move || loop {
            if !matches!(
                stopped.recv_timeout(Duration::from_millis(200)),
                Err(crossbeam_channel::RecvTimeoutError::Timeout)
            ) {
                return;
            }
            if rt.cancel.reason().is_some() {
                return;
            }
            let main_blocked = rt
                .registry
                .live
                .lock()
                .get(&1)
                .is_some_and(|m| matches!(&*m.status.lock(), Status::Blocked(_)));
            if !main_blocked || rt.services() > 0 {
                continue;
            }
            if let Some(stuck) = rt.registry.stably_stuck(None, Duration::from_millis(100)) {
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
                rt.cancel(Reason::Exit);
                rt.exit_code.store(1, Ordering::Relaxed);
                return;
            }
        })
        .expect("cannot start the deadlock watcher");
    (stop, thread)
}
