//! Cancellation: stopping a run that times out, exits or is interrupted, wherever each goroutine is.
//!
//! Running Lua has no hook installed (a count hook costs ~2.4× in Lua 5.4). When the run is cancelled
//! the watching thread installs one with `lua_sethook` — the async-safe call `lua.c` uses on Ctrl-C — on
//! every Lua thread the goroutine is running (the main thread and each coroutine being resumed, tracked
//! by [`InterruptHandle`]). Blocking builtins instead wait on [`Cancel::signal`], which becomes ready the
//! moment the run is cancelled.

use crossbeam_channel::{Receiver, Sender};
use mlua::ffi;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// Why a run is being stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// `--timeout` fired.
    Timeout,
    /// `os.exit` was called somewhere.
    Exit,
    /// SIGINT / SIGTERM.
    Signal,
    /// `reload_script()`: the old run is being replaced.
    Reload,
}

impl Reason {
    fn code(self) -> u8 {
        match self {
            Reason::Timeout => 1,
            Reason::Exit => 2,
            Reason::Signal => 3,
            Reason::Reload => 4,
        }
    }
    fn from_code(c: u8) -> Option<Reason> {
        match c {
            1 => Some(Reason::Timeout),
            2 => Some(Reason::Exit),
            3 => Some(Reason::Signal),
            4 => Some(Reason::Reload),
            _ => None,
        }
    }

    /// The error message a cancelled Lua call raises.
    pub fn message(self) -> &'static str {
        match self {
            Reason::Timeout => "timeout: the run exceeded its time limit (--timeout)",
            Reason::Exit => "exit: the run is ending (os.exit)",
            Reason::Signal => "interrupted: the run received a stop signal",
            Reason::Reload => "reload: the script is being reloaded",
        }
    }
}

/// The run-wide cancellation token. Cheap to check; [`Cancel::signal`] is a channel receiver that
/// becomes ready (disconnected) when the run is cancelled, so any `select` can wait on it.
pub struct Cancel {
    reason: AtomicU8,
    trigger: Mutex<Option<Sender<()>>>,
    signal: Receiver<()>,
}

impl Default for Cancel {
    fn default() -> Self {
        let (tx, rx) = crossbeam_channel::bounded(0);
        Cancel {
            reason: AtomicU8::new(0),
            trigger: Mutex::new(Some(tx)),
            signal: rx,
        }
    }
}

impl Cancel {
    /// The reason the run was cancelled, if it was.
    #[inline]
    pub fn reason(&self) -> Option<Reason> {
        Reason::from_code(self.reason.load(Ordering::Acquire))
    }

    /// A receiver that is ready once the run is cancelled (it never yields a value).
    pub fn signal(&self) -> &Receiver<()> {
        &self.signal
    }

    /// Cancels the run and wakes every wait. Only the first reason sticks; returns whether this call
    /// was the first.
    pub fn cancel(&self, reason: Reason) -> bool {
        let first = self.mark(reason);
        if first {
            self.wake();
        }
        first
    }

    /// Records the reason without waking waits yet (see `Shared::cancel`: the hooks go in first,
    /// so a woken wait cannot return into Lua code that runs on unhooked).
    pub fn mark(&self, reason: Reason) -> bool {
        self.reason
            .compare_exchange(0, reason.code(), Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Wakes every wait on [`Cancel::signal`].
    pub fn wake(&self) {
        self.trigger.lock().take();
    }

    /// `Err` with the cancellation message if the run has been cancelled.
    #[inline]
    pub fn check(&self) -> mlua::Result<()> {
        match self.reason() {
            None => Ok(()),
            Some(r) => Err(mlua::Error::runtime(r.message())),
        }
    }

    /// Sleeps for `dur` unless the run is cancelled first.
    pub fn sleep(&self, dur: std::time::Duration) -> mlua::Result<()> {
        self.check()?;
        crossbeam_channel::select! {
            recv(self.signal) -> _ => self.check(),
            default(dur) => Ok(()),
        }
    }
}

/// The Lua threads one goroutine is currently running: its main thread, plus every coroutine being
/// resumed (innermost last). Used to install the interrupt hook where the code really runs.
#[derive(Default)]
pub struct InterruptHandle {
    inner: Mutex<Threads>,
}

#[derive(Default)]
struct Threads {
    /// Raw `lua_State` pointers, stored as integers so the handle is `Send`.
    stack: Vec<usize>,
    fired: Option<Reason>,
}

impl InterruptHandle {
    /// Records that `state` is now running on top of the current ones.
    ///
    /// # Safety
    /// `state` must be a live Lua thread that stays alive until the matching [`InterruptHandle::pop`]
    /// (or [`InterruptHandle::detach`]).
    pub unsafe fn push(&self, state: *mut ffi::lua_State) {
        let mut t = self.inner.lock();
        if let Some(reason) = t.fired {
            // Safety: `state` is alive: the caller is about to run it.
            unsafe { install_hook(state, reason) };
        }
        t.stack.push(state as usize);
    }

    /// Records that the innermost running thread has stopped running.
    pub fn pop(&self) {
        self.inner.lock().stack.pop();
    }

    /// Forgets every thread: the Lua state is about to be closed.
    pub fn detach(&self) {
        self.inner.lock().stack.clear();
    }

    /// Removes the interrupt hook again, so the state can run Lua normally. For per-call limits (a
    /// server handler over `--timeout`): fire, let the call fail, then reset. Do not reset while the
    /// whole run is cancelled.
    pub fn reset(&self) {
        let mut t = self.inner.lock();
        if t.fired.take().is_some() {
            for &state in &t.stack {
                // Safety: as in `fire`.
                unsafe { ffi::lua_sethook(state as *mut ffi::lua_State, None, 0, 0) };
            }
        }
    }

    /// Installs the interrupt hook on every thread this goroutine is running.
    pub fn fire(&self, reason: Reason) {
        let mut t = self.inner.lock();
        if t.fired.is_some() {
            return;
        }
        t.fired = Some(reason);
        for &state in &t.stack {
            // Safety: a pointer stays in the stack only while its thread is alive and being run (the
            // resumer holds a reference to the coroutine; `detach` runs before the state is closed), and
            // we hold the lock, so neither can change under us.
            unsafe { install_hook(state as *mut ffi::lua_State, reason) };
        }
    }
}

/// Sets a count hook (every instruction) that raises the cancellation error. Called from another
/// thread, exactly as `lua.c` calls `lua_sethook` from its SIGINT handler: the hook fields are plain
/// stores that the running thread picks up at its next instruction.
///
/// # Safety
/// `state` must point to a live Lua thread.
unsafe fn install_hook(state: *mut ffi::lua_State, reason: Reason) {
    let hook: Option<ffi::lua_Hook> = match reason {
        Reason::Timeout => Some(timeout_hook),
        Reason::Exit => Some(exit_hook),
        Reason::Signal => Some(signal_hook),
        Reason::Reload => Some(reload_hook),
    };
    ffi::lua_sethook(
        state,
        hook,
        ffi::LUA_MASKCOUNT | ffi::LUA_MASKCALL | ffi::LUA_MASKRET,
        1,
    );
}

macro_rules! cancel_hook {
    ($name:ident, $reason:expr) => {
        unsafe extern "C-unwind" fn $name(state: *mut ffi::lua_State, _ar: *mut ffi::lua_Debug) {
            // The hook stays installed, so a `pcall` that catches this error is interrupted again at
            // its very next instruction: cancellation cannot be swallowed.
            raise_cancel(state, $reason)
        }
    };
}
cancel_hook!(timeout_hook, Reason::Timeout);
cancel_hook!(exit_hook, Reason::Exit);
cancel_hook!(signal_hook, Reason::Signal);
cancel_hook!(reload_hook, Reason::Reload);

/// Registry key holding `"file:line: "` of the first place cancellation stopped this state.
pub const STOPPED_AT_KEY: &std::ffi::CStr = c"solvm.stopped_at";

/// Raises `"<file>:<line>: <reason message>"` from inside a hook, remembering the first such place in
/// the registry (the innermost coroutine is interrupted first; later frames re-raise on the way out).
/// Lua errors unwind with longjmp, so nothing with a destructor may be alive in this frame.
unsafe fn raise_cancel(state: *mut ffi::lua_State, reason: Reason) -> ! {
    ffi::luaL_where(state, 0);
    if ffi::lua_getfield(state, ffi::LUA_REGISTRYINDEX, STOPPED_AT_KEY.as_ptr()) == ffi::LUA_TNIL {
        ffi::lua_pushvalue(state, -2);
        ffi::lua_setfield(state, ffi::LUA_REGISTRYINDEX, STOPPED_AT_KEY.as_ptr());
    }
    ffi::lua_settop(state, -2);
    let msg = reason.message();
    ffi::lua_pushlstring(state, msg.as_ptr() as *const _, msg.len());
    ffi::lua_concat(state, 2);
    ffi::lua_error(state);
}

/// Shared ownership of a goroutine's interrupt handle.
pub type InterruptRef = Arc<InterruptHandle>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fired_state_stops_a_tight_loop_and_runs_again_after_reset() {
        let lua = mlua::Lua::new();
        let handle = Arc::new(InterruptHandle::default());
        // Safety: the main thread lives as long as `lua`, which outlives the handle's use here.
        unsafe { handle.push(lua.current_thread().state()) };
        let h2 = Arc::clone(&handle);
        let firer = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            h2.fire(Reason::Timeout);
        });
        let err = lua
            .load("while true do end")
            .exec()
            .unwrap_err()
            .to_string();
        firer.join().unwrap();
        assert!(err.contains("timeout"), "{err}");
        // Still fired: any Lua code is stopped at once, even under pcall.
        assert!(lua
            .load("local ok = pcall(function() end) return 1")
            .exec()
            .is_err());
        handle.reset();
        let n: i64 = lua
            .load("local s = 0 for i = 1, 1000 do s = s + i end return s")
            .eval()
            .unwrap();
        assert_eq!(n, 500500);
        handle.detach();
    }

    #[test]
    fn cancel_wakes_sleepers_at_once() {
        let cancel = Arc::new(Cancel::default());
        let c2 = Arc::clone(&cancel);
        let t = std::time::Instant::now();
        let sleeper = std::thread::spawn(move || c2.sleep(std::time::Duration::from_secs(30)));
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(cancel.cancel(Reason::Signal));
        assert!(
            !cancel.cancel(Reason::Timeout),
            "only the first reason sticks"
        );
        assert!(sleeper.join().unwrap().is_err());
        assert!(t.elapsed() < std::time::Duration::from_secs(10));
        assert_eq!(cancel.reason(), Some(Reason::Signal));
    }
}
