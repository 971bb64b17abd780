//! A goroutine's callbacks: timers, intervals, cron jobs and file watches (SPEC §6). They live in the
//! goroutine's own Lua state and run on its thread, only at its blocking points (see
//! `goroutine::block_on`) or after its main function returns — never in the middle of other Lua code.

use super::cron::CronSchedule;
use super::goroutine::{self, Event};
use super::report::ErrorInfo;
use super::value::Value;
use super::{Ctx, ServiceGuard};
use mlua::{Function, Lua, MultiValue, RegistryKey};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What kind of callback an id names.
pub enum Kind {
    /// `set_timeout`: runs once.
    Once,
    /// `set_interval`: runs every period; missed ticks are skipped, not queued.
    Every(Duration),
    /// `cron`: runs at each fire time of the schedule.
    Cron(Box<CronSchedule>),
    /// `watch_file`: runs when the watcher reports a change (through an [`Event::Callback`]).
    Watch(Box<super::watch::FileWatch>),
    /// A family's listener (`on_signal`): runs when an [`Event::Callback`] names it. The guard
    /// ends the registration where the events come from when it is dropped (cleared, or the
    /// state closed). A listener does not keep its goroutine alive, but while one is registered
    /// a blocked goroutine is never taken for deadlocked (the event may still come).
    Listener(Box<dyn std::any::Any>),
}

struct Entry {
    kind: Kind,
    /// Next run; `None` for callbacks driven by events (watches).
    due: Option<Instant>,
    func: RegistryKey,
    /// Cron jobs and watches are services: they keep the run alive (SPEC §4).
    _service: Option<ServiceGuard>,
}

/// The callbacks registered by one goroutine (app data of its state).
#[derive(Default)]
pub struct Callbacks {
    entries: HashMap<u64, Entry>,
}

fn with<R>(lua: &Lua, f: impl FnOnce(&mut Callbacks) -> R) -> R {
    if lua
        .app_data_ref::<std::cell::RefCell<Callbacks>>()
        .is_none()
    {
        lua.set_app_data(std::cell::RefCell::new(Callbacks::default()));
    }
    let cell = lua
        .app_data_ref::<std::cell::RefCell<Callbacks>>()
        .expect("callbacks were just installed");
    let mut cb = cell.borrow_mut();
    f(&mut cb)
}

/// Registers `func` as callback `id` of this goroutine.
pub fn add(lua: &Lua, ctx: &Ctx, id: u64, mut kind: Kind, func: Function) -> mlua::Result<()> {
    let due = match &mut kind {
        Kind::Once => None,
        Kind::Every(d) => Some(Instant::now() + *d),
        Kind::Cron(s) => s.until_next().map(|d| Instant::now() + d),
        Kind::Watch(_) | Kind::Listener(_) => None,
    };
    let service = matches!(kind, Kind::Cron(_) | Kind::Watch(_)).then(|| ctx.rt.start_service());
    let func = lua.create_registry_value(func)?;
    with(lua, |cb| {
        cb.entries.insert(
            id,
            Entry {
                kind,
                due,
                func,
                _service: service,
            },
        );
    });
    Ok(())
}

/// Registers a one-shot timer due after `delay`.
pub fn add_timeout(
    lua: &Lua,
    ctx: &Ctx,
    id: u64,
    delay: Duration,
    func: Function,
) -> mlua::Result<()> {
    add(lua, ctx, id, Kind::Once, func)?;
    with(lua, |cb| {
        if let Some(e) = cb.entries.get_mut(&id) {
            e.due = Some(Instant::now() + delay);
        }
    });
    Ok(())
}

/// Removes callback `id`; `true` if it existed.
pub fn clear(lua: &Lua, id: u64) -> mlua::Result<bool> {
    let removed = with(lua, |cb| cb.entries.remove(&id));
    match removed {
        Some(e) => {
            lua.remove_registry_value(e.func)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Whether this goroutine has callbacks that may still run and keep it alive (all but listeners).
pub fn pending(lua: &Lua) -> bool {
    lua.app_data_ref::<std::cell::RefCell<Callbacks>>()
        .is_some_and(|c| {
            c.borrow()
                .entries
                .values()
                .any(|e| !matches!(e.kind, Kind::Listener(_)))
        })
}

/// Whether any callback, listeners included, could still wake this goroutine.
pub fn may_wake(lua: &Lua) -> bool {
    lua.app_data_ref::<std::cell::RefCell<Callbacks>>()
        .is_some_and(|c| !c.borrow().entries.is_empty())
}

/// When the earliest timer is due.
pub fn next_due(lua: &Lua) -> Option<Instant> {
    let cell = lua.app_data_ref::<std::cell::RefCell<Callbacks>>()?;
    let cb = cell.borrow();
    cb.entries.values().filter_map(|e| e.due).min()
}

/// Runs every timer that is due (each at most once per call), rescheduling intervals and cron jobs.
pub fn run_due(lua: &Lua, ctx: &Ctx) -> mlua::Result<()> {
    let now = Instant::now();
    let mut due: Vec<(Instant, u64)> = match lua.app_data_ref::<std::cell::RefCell<Callbacks>>() {
        Some(cell) => cell
            .borrow()
            .entries
            .iter()
            .filter_map(|(id, e)| e.due.filter(|d| *d <= now).map(|d| (d, *id)))
            .collect(),
        None => return Ok(()),
    };
    due.sort();
    for (_, id) in due {
        // Reschedule (or retire) before running, so the callback may clear or re-add itself.
        let func = with(lua, |cb| {
            let e = cb.entries.get_mut(&id)?;
            let f = lua.registry_value::<Function>(&e.func).ok();
            match &mut e.kind {
                Kind::Once => e.due = None,
                Kind::Every(period) => {
                    let was = e.due.unwrap_or(now);
                    let missed =
                        now.saturating_duration_since(was).as_nanos() / period.as_nanos().max(1);
                    e.due = Some(was + *period * (missed as u32).saturating_add(1));
                }
                Kind::Cron(s) => e.due = s.until_next().map(|d| Instant::now() + d),
                Kind::Watch(_) | Kind::Listener(_) => {}
            }
            f
        });
        let retire = with(lua, |cb| {
            cb.entries
                .get(&id)
                .is_some_and(|e| matches!(e.kind, Kind::Once))
        });
        if retire {
            clear(lua, id)?;
        }
        if let Some(f) = func {
            call(lua, ctx, &f, MultiValue::new())?;
        }
    }
    Ok(())
}

/// Runs callback `id` with `args` (a file watch reporting a change).
pub fn run_callback(lua: &Lua, ctx: &Ctx, id: u64, args: &[Value]) -> mlua::Result<()> {
    let func = with(lua, |cb| {
        cb.entries
            .get(&id)
            .and_then(|e| lua.registry_value::<Function>(&e.func).ok())
    });
    let Some(func) = func else { return Ok(()) };
    let args = args
        .iter()
        .map(|a| a.to_lua(lua))
        .collect::<mlua::Result<MultiValue>>()?;
    call(lua, ctx, &func, args)
}

/// Calls a callback; an uncaught error is reported (or goes to `on_error`) and the goroutine goes
/// on, unless the run is being cancelled.
fn call(lua: &Lua, ctx: &Ctx, f: &Function, args: MultiValue) -> mlua::Result<()> {
    if let Err(e) = f.call::<MultiValue>(args) {
        ctx.rt.cancel.check()?;
        let info = ErrorInfo::from_lua_error_in(lua, &e);
        goroutine::route_error_here(lua, ctx, info);
    }
    Ok(())
}

/// The sender a watcher thread uses to reach this goroutine.
pub fn callback_sender(ctx: &Ctx) -> crossbeam_channel::Sender<Event> {
    ctx.info.events.clone()
}
