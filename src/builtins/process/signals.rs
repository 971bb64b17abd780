//! `on_signal(name, fn)` / `clear_signal(id)` (SPEC §14): Unix signals delivered to a script. A
//! signal-hook iterator thread per run (started by the first `on_signal`) hands each signal to
//! the goroutines that registered handlers; each runs its handler at its next blocking point, like
//! a timer (`runtime::events`, a listener: it does not keep the run alive). While a handler for
//! SIGINT/SIGTERM exists, the runtime's graceful shutdown leaves that signal to it
//! (`FamilyState::takes_signal`). A SIGHUP/SIGUSR1/SIGUSR2 that arrives with no handler left stops
//! the run as a stop signal does (exit 128 + its number) instead of being lost.

use crate::builtins::catalog::{self, f};
use crate::builtins::support::multi;
use crate::runtime::args::{arg_error, bad_argument, check_string};
use crate::runtime::events::{self, Kind};
use crate::runtime::goroutine::Event;
use crate::runtime::interrupt::Reason;
use crate::runtime::value::Value;
use crate::runtime::{ctx, FamilyState, Shared};
use mlua::{Lua, MultiValue, Value as LuaValue};
use parking_lot::Mutex;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

/// The signals family's catalog rows.
pub const CATALOG: &[catalog::Builtin] = &[
    f("on_signal", &["name: \"SIGINT\"|\"SIGTERM\"|\"SIGHUP\"|\"SIGUSR1\"|\"SIGUSR2\"", "fn: fun(name: string)"], &["integer"], "Runs `fn(name)` on this goroutine when the process gets the signal; a SIGINT/SIGTERM handler replaces the default shutdown."),
    f("clear_signal", &["id: integer"], &["boolean"], "Removes a signal handler."),
];

/// The signals a script may handle.
const HANDLED: &[&str] = &["SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2"];

struct Handler {
    id: u64,
    signal: i32,
    to: crossbeam_channel::Sender<Event>,
}

/// The run's signal handlers and the thread that receives the signals.
#[derive(Default)]
struct SignalState {
    handlers: Mutex<Vec<Handler>>,
    /// The iterator's handle and the signals it listens to.
    listening: Mutex<Option<(signal_hook::iterator::Handle, Vec<i32>)>>,
}

impl FamilyState for SignalState {
    fn run_ended(&self) {
        // The thread ends and its registrations are removed with the iterator.
        if let Some((handle, _)) = self.listening.lock().take() {
            handle.close();
        }
        self.handlers.lock().clear();
    }
    fn takes_signal(&self, signal: i32) -> bool {
        self.handlers.lock().iter().any(|h| h.signal == signal)
    }
}

/// Removes handler `id` when its callback entry goes (`clear_signal`, or the goroutine's end).
struct Registration {
    state: Weak<SignalState>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(state) = self.state.upgrade() {
            state.handlers.lock().retain(|h| h.id != self.id);
        }
    }
}

/// Installs `on_signal` and `clear_signal`.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    let g = lua.globals();
    g.set("on_signal", lua.create_function(on_signal)?)?;
    g.set(
        "clear_signal",
        lua.create_function(|lua, args: MultiValue| match args.front() {
            Some(LuaValue::Integer(i)) if *i > 0 => events::clear(lua, *i as u64),
            other => Err(bad_argument(1, "clear_signal", "id", other)),
        })?,
    )?;
    Ok(())
}

fn on_signal(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let name = check_string(lua, &args, 1, "on_signal")?.to_string_lossy();
    let signal = super::signal_number(&name)
        .filter(|s| HANDLED.contains(&super::signal_name(*s).as_str()))
        .ok_or_else(|| {
            arg_error(
                1,
                "on_signal",
                &format!("'{name}' is not one of {}", HANDLED.join(", ")),
            )
        })?;
    let func = match args.get(1) {
        Some(LuaValue::Function(f)) => f.clone(),
        other => return Err(bad_argument(2, "on_signal", "function", other)),
    };
    let c = ctx(lua);
    let state = c.rt.family_state::<SignalState>();
    listen(&c.rt, &state, signal)?;
    let id = c.rt.next_callback_id.fetch_add(1, Ordering::Relaxed);
    let guard = Registration {
        state: Arc::downgrade(&state),
        id,
    };
    events::add(lua, &c, id, Kind::Listener(Box::new(guard)), func)?;
    state.handlers.lock().push(Handler {
        id,
        signal,
        to: events::callback_sender(&c),
    });
    Ok(multi([LuaValue::Integer(id as i64)]))
}

/// Makes sure the run's signal thread listens to `signal`.
fn listen(rt: &Arc<Shared>, state: &Arc<SignalState>, signal: i32) -> mlua::Result<()> {
    let fail = |e: std::io::Error| mlua::Error::runtime(format!("on_signal: {e}"));
    let mut listening = state.listening.lock();
    if let Some((handle, signals)) = listening.as_mut() {
        if !signals.contains(&signal) {
            handle.add_signal(signal).map_err(fail)?;
            signals.push(signal);
        }
        return Ok(());
    }
    let mut iter = signal_hook::iterator::Signals::new([signal]).map_err(fail)?;
    let handle = iter.handle();
    let rt = Arc::clone(rt);
    let weak = Arc::downgrade(state);
    std::thread::Builder::new()
        .name("solvm-signals".into())
        .stack_size(128 * 1024)
        .spawn(move || {
            for sig in iter.forever() {
                let Some(state) = weak.upgrade() else { break };
                deliver(&rt, &state, sig);
            }
        })
        .map_err(fail)?;
    *listening = Some((handle, vec![signal]));
    Ok(())
}

/// Hands `sig` to every handler for it; with none, a stop signal is the runtime's business and the
/// others stop the run.
fn deliver(rt: &Shared, state: &SignalState, sig: i32) {
    let name = super::signal_name(sig);
    let mut delivered = false;
    let handlers = state.handlers.lock();
    if handlers.iter().any(|h| h.signal == sig) {
        rt.stop_signal_taken();
    }
    for h in handlers.iter().filter(|h| h.signal == sig) {
        delivered |=
            h.to.send(Event::Callback {
                id: h.id,
                args: vec![Value::Str(name.as_bytes().into())],
            })
            .is_ok();
    }
    drop(handlers);
    if !delivered && sig != libc::SIGINT && sig != libc::SIGTERM && rt.cancel.reason().is_none() {
        rt.exit_code.store(128 + sig, Ordering::Relaxed);
        rt.cancel(Reason::Signal);
    }
}
