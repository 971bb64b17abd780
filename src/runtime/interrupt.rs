//! Cancellation: stopping a run that times out, exits or is interrupted, wherever each goroutine is.
//!
//! Running Lua has no hook installed (a count hook costs ~2.4× in Lua 5.4). When a goroutine is
//! cancelled, [`InterruptHandle::fire`] (on any thread) records why and sends SIGURG to the
//! goroutine's OS thread; the signal handler, on that thread, installs the hook with `lua_sethook`
//! on every Lua thread the goroutine is running (its main thread and each coroutine being resumed),
//! as `lua.c` does from its SIGINT handler. No thread ever touches another's Lua state: calling
//! `lua_sethook` from the cancelling thread, as this module used to, raced with the owner (TSan
//! reported it, and `settraps` could write into a CallInfo the owner had just freed). Blocking
//! builtins instead wait on [`Cancel::signal`], which becomes ready the moment the run is cancelled;
//! a system call the signal interrupts (EINTR) counts as "nothing yet" in the I/O loops.

use crossbeam_channel::{Receiver, Sender};
use mlua::ffi;
use parking_lot::Mutex;
use std::cell::Cell;
use std::sync::atomic::{compiler_fence, AtomicBool, AtomicPtr, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Once};

/// Why a run is being stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// `--timeout` fired.
    Timeout,
    /// The run is ending on purpose (a deadlock was found).
    Exit,
    /// SIGINT / SIGTERM.
    Signal,
    /// `reload_script()`: the old run is being replaced.
    Reload,
    /// One goroutine's own time limit (a server handler's `handler_timeout`), not the run's.
    Deadline,
}

impl Reason {
    fn code(self) -> u8 {
        match self {
            Reason::Timeout => 1,
            Reason::Exit => 2,
            Reason::Signal => 3,
            Reason::Reload => 4,
            Reason::Deadline => 5,
        }
    }
    fn from_code(c: u8) -> Option<Reason> {
        match c {
            1 => Some(Reason::Timeout),
            2 => Some(Reason::Exit),
            3 => Some(Reason::Signal),
            4 => Some(Reason::Reload),
            5 => Some(Reason::Deadline),
            _ => None,
        }
    }

    /// The error message a cancelled Lua call raises.
    pub fn message(self) -> &'static str {
        match self {
            Reason::Timeout => "timeout: the run exceeded its time limit (--timeout)",
            Reason::Exit => "exit: the run is ending",
            Reason::Signal => "interrupted: the run received a stop signal",
            Reason::Reload => "reload: the script is being reloaded",
            Reason::Deadline => "deadline: the handler exceeded its time limit",
        }
    }
}

/// How to lift the whole-run time limit, for the messages that report it.
pub const LIFT_TIMEOUT: &str =
    "run with --timeout 0 for no limit, or a longer one such as --timeout 1m";

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

/// How many Lua threads of one goroutine the signal handler can reach: its main thread plus 31
/// nested coroutines. Deeper nesting is possible (Lua allows 200 C levels) but rare; those threads
/// are hooked the old way (see `Owner::overflow`). 256 slots cost 2 KB per goroutine: 20 MB of RSS
/// for 10 000 blocked goroutines.
const CAPACITY: usize = 32;

/// The signal [`InterruptHandle::fire`] sends to the goroutine's thread. SIGURG is what Go uses to
/// preempt goroutines: its default action is to ignore it, so a stray one is harmless.
const INTERRUPT_SIGNAL: libc::c_int = libc::SIGURG;

/// The Lua threads one goroutine is currently running on its OS thread: its main thread, plus every
/// coroutine being resumed (innermost last), and whether (why) the goroutine is being stopped.
///
/// Only the owning OS thread touches its Lua states. [`InterruptHandle::fire`], called from any
/// thread, records the reason and signals the owner; the handler (`on_interrupt_signal`) installs
/// the hook there. The part the handler reads is lock-free: a fixed array, a length published after
/// the slot, the reason.
pub struct InterruptHandle {
    /// [`Reason::code`] once fired, 0 while the goroutine may run.
    reason: AtomicU8,
    /// `states[..len]`: the running Lua threads, outermost first. Written by the owning thread only.
    states: [AtomicPtr<ffi::lua_State>; CAPACITY],
    len: AtomicUsize,
    /// Whether this handle is in its thread's list (`ATTACHED`). Owning thread only.
    attached: AtomicBool,
    /// The handle attached to this OS thread before this one (a WebSocket handler's state runs on a
    /// server worker's thread, inside the worker's), for the signal handler's walk.
    below: AtomicPtr<InterruptHandle>,
    owner: Mutex<Owner>,
}

#[derive(Default)]
struct Owner {
    /// The OS thread running the states, from the first `push` until `detach` (which runs before
    /// that thread can end), so a signal is never sent to a thread that is gone.
    thread: Option<libc::pthread_t>,
    /// Lua threads nested beyond [`CAPACITY`] (coroutines resumed more than 31 deep). `fire` hooks
    /// these from its own thread as this module used to for every state (racy: `lua_sethook` on a
    /// running state, see the module comment), rather than not at all.
    overflow: Vec<usize>,
}

impl Default for InterruptHandle {
    fn default() -> Self {
        InterruptHandle {
            reason: AtomicU8::new(0),
            states: [const { AtomicPtr::new(std::ptr::null_mut()) }; CAPACITY],
            len: AtomicUsize::new(0),
            attached: AtomicBool::new(false),
            below: AtomicPtr::new(std::ptr::null_mut()),
            owner: Mutex::new(Owner::default()),
        }
    }
}

thread_local! {
    /// The innermost handle attached to this OS thread, or null; each links to the one below. Holds
    /// a strong count of each (taken in `attach`, given back in `detach`). Const-initialised and
    /// without a destructor, so reading it is a plain thread-local load, fine in a signal handler.
    static ATTACHED: Cell<*const InterruptHandle> = const { Cell::new(std::ptr::null()) };
    /// Detaches what is still attached when the thread ends (a forgotten `detach`), so no handle
    /// keeps the id of a thread that is gone.
    static EXIT_GUARD: ExitGuard = const { ExitGuard };
}

struct ExitGuard;

impl Drop for ExitGuard {
    fn drop(&mut self) {
        loop {
            let head = ATTACHED.with(Cell::get);
            if head.is_null() {
                return;
            }
            // Safety: the list holds a strong count of every handle in it; take one of our own so
            // the handle outlives `detach_here`, which gives the list's back.
            let handle = unsafe {
                Arc::increment_strong_count(head);
                Arc::from_raw(head)
            };
            handle.detach_here();
        }
    }
}

impl InterruptHandle {
    /// Records that `state` is now running on top of the current ones, on this OS thread. On a
    /// handle already fired, installs the hook on it at once.
    ///
    /// # Safety
    /// `state` must be a live Lua thread that stays alive until the matching [`InterruptHandle::pop`]
    /// (or [`InterruptHandle::detach`]), run by this OS thread.
    pub unsafe fn push(self: &Arc<Self>, state: *mut ffi::lua_State) {
        if !self.attached.load(Ordering::Relaxed) {
            self.attach();
        }
        let n = self.len.load(Ordering::Relaxed);
        match self.states.get(n) {
            Some(slot) => slot.store(state, Ordering::Relaxed),
            None => self.owner.lock().overflow.push(state as usize),
        }
        // Release: a signal handler interrupting this thread sees the slot once it sees the length.
        self.len.store(n + 1, Ordering::Release);
        // Safety: `state` is alive (the caller is about to run it) and this thread runs it.
        match Reason::from_code(self.reason.load(Ordering::Acquire)) {
            Some(reason) => unsafe { install_hook(state, reason) },
            // Under ThreadSanitizer every state carries a polling hook (see `tsan_poll_hook`).
            #[cfg(solvm_tsan)]
            None => unsafe { remove_hook(state) },
            #[cfg(not(solvm_tsan))]
            None => {}
        }
    }

    /// Why this goroutine was stopped, if [`InterruptHandle::fire`] was called since the last
    /// [`InterruptHandle::reset`].
    pub fn fired(&self) -> Option<Reason> {
        Reason::from_code(self.reason.load(Ordering::Acquire))
    }

    /// Records that the innermost running thread has stopped running.
    pub fn pop(&self) {
        let n = self.len.load(Ordering::Relaxed);
        if n == 0 {
            return;
        }
        if n > CAPACITY {
            self.owner.lock().overflow.pop();
        }
        self.len.store(n - 1, Ordering::Release);
    }

    /// Forgets every thread and this OS thread: the Lua state is about to be closed. Runs on the
    /// owning thread.
    pub fn detach(&self) {
        if !self.attached.load(Ordering::Relaxed) {
            self.len.store(0, Ordering::Release);
            return;
        }
        {
            let mut owner = self.owner.lock();
            // Safety: both are ids of live threads (this one, and the recorded one, which has not
            // detached yet).
            let here = owner
                .thread
                .is_some_and(|t| unsafe { libc::pthread_equal(t, libc::pthread_self()) } != 0);
            debug_assert!(
                here,
                "InterruptHandle::detach on a thread that does not own it"
            );
            if !here {
                // Not this thread's list to edit: the handle stays linked (and alive) in its own
                // thread's, which detaches it when it ends, and is never signalled again.
                owner.thread = None;
                return;
            }
        }
        self.detach_here();
    }

    /// `detach` on the owning thread: forgets the thread, leaves this thread's list and gives back
    /// the list's strong count.
    fn detach_here(&self) {
        {
            let mut owner = self.owner.lock();
            owner.thread = None;
            owner.overflow.clear();
        }
        self.len.store(0, Ordering::Release);
        self.unlink();
        self.attached.store(false, Ordering::Relaxed);
        // Safety: `attach` gave the list one strong count; the caller holds another (`detach` is
        // reached through an `Arc`), so this never frees `self`.
        unsafe { Arc::decrement_strong_count(self as *const Self) };
    }

    /// Removes the interrupt hook again, so the state can run Lua normally. For per-call limits (a
    /// server handler over `--timeout`, Ctrl-C at the prompt): fire, let the call fail, then reset.
    /// Runs on the owning thread. Do not reset while the whole run is cancelled.
    pub fn reset(&self) {
        let _owner = self.owner.lock();
        // The reason goes first: a signal of the earlier `fire` that arrives from here on finds
        // nothing to do instead of hooking the state again.
        if self.reason.swap(0, Ordering::AcqRel) == 0 {
            return;
        }
        compiler_fence(Ordering::SeqCst);
        let n = self.len.load(Ordering::Relaxed).min(CAPACITY);
        for slot in &self.states[..n] {
            // Safety: a recorded state is alive and run by this thread.
            unsafe { remove_hook(slot.load(Ordering::Relaxed)) };
        }
        for &state in &_owner.overflow {
            // Safety: as above.
            unsafe { remove_hook(state as *mut ffi::lua_State) };
        }
    }

    /// Stops the goroutine: records `reason` and signals its OS thread, whose handler installs the
    /// interrupt hook on every Lua thread the goroutine is running. Any thread may call this.
    pub fn fire(&self, reason: Reason) {
        let owner = self.owner.lock();
        if self
            .reason
            .compare_exchange(0, reason.code(), Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        if let Some(thread) = owner.thread {
            signal_thread(thread);
        }
        for &state in &owner.overflow {
            // Safety: an overflow state stays recorded only while alive and running (the resumer
            // holds it; `detach` runs before the state is closed), and we hold the lock. This is
            // the one cross-thread `lua_sethook` left; see `Owner::overflow`.
            unsafe { install_hook(state as *mut ffi::lua_State, reason) };
        }
    }

    /// Puts this handle on this OS thread's list and records the thread, so `fire` can signal it.
    fn attach(self: &Arc<Self>) {
        install_signal_handler();
        // Registers the destructor that detaches at thread exit.
        EXIT_GUARD.with(|_| {});
        let me = Arc::into_raw(Arc::clone(self));
        ATTACHED.with(|head| {
            self.below.store(head.get() as *mut _, Ordering::Relaxed);
            // The link is in place before the handler can find this handle through the head.
            compiler_fence(Ordering::SeqCst);
            head.set(me);
        });
        self.attached.store(true, Ordering::Relaxed);
        // Safety: pthread_self has no preconditions.
        self.owner.lock().thread = Some(unsafe { libc::pthread_self() });
    }

    /// Takes this handle out of this OS thread's list (usually its head; a single store either way,
    /// so a signal handler walking the list meanwhile sees it with or without this handle).
    fn unlink(&self) {
        let me = self as *const Self;
        let below = self.below.load(Ordering::Relaxed);
        ATTACHED.with(|head| {
            if std::ptr::eq(head.get(), me) {
                head.set(below);
                return;
            }
            let mut p = head.get();
            while !p.is_null() {
                // Safety: handles in the list are alive (it holds a strong count of each).
                let above = unsafe { &*p };
                let next = above.below.load(Ordering::Relaxed);
                if std::ptr::eq(next, me) {
                    above.below.store(below, Ordering::Relaxed);
                    return;
                }
                p = next;
            }
        });
    }

    /// The OS thread `fire` would signal (for tests).
    #[cfg(test)]
    fn signal_target(&self) -> Option<libc::pthread_t> {
        self.owner.lock().thread
    }
}

/// Sends [`INTERRUPT_SIGNAL`] to `thread`; the caller holds the handle's lock, under which `thread`
/// is still attached, so it has not ended.
fn signal_thread(thread: libc::pthread_t) {
    // Safety: `thread` is a live thread (see above).
    unsafe { libc::pthread_kill(thread, INTERRUPT_SIGNAL) };
}

/// Installs `on_interrupt_signal` for [`INTERRUPT_SIGNAL`], once per process (a signal disposition
/// is process-wide by nature; the handler itself only looks at its own thread's handles, so several
/// runtimes in one process stay apart). SA_RESTART: most interrupted system calls just go on;
/// SA_ONSTACK: the handler does not need room on a goroutine's own stack.
fn install_signal_handler() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        // Safety: a zeroed `sigaction` is a valid value to fill in; the handler has the
        // SA_SIGINFO signature and is async-signal-safe (see there).
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                on_interrupt_signal;
            action.sa_sigaction = handler as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            let rc = libc::sigaction(INTERRUPT_SIGNAL, &action, std::ptr::null_mut());
            debug_assert_eq!(rc, 0, "sigaction(SIGURG) failed");
        }
    });
}

/// The signal handler: on the thread that runs the states, hooks every state of every fired handle
/// attached to this thread, as `lua.c`'s SIGINT handler does (`lua_sethook` is safe there: the
/// thread is stopped at some instruction, and `settraps` only walks CallInfo nodes from `L->ci`
/// back, which stay allocated). Async-signal-safe: no locks, no allocation, nothing that panics;
/// errno is preserved.
extern "C" fn on_interrupt_signal(
    _signal: libc::c_int,
    _info: *mut libc::siginfo_t,
    _context: *mut libc::c_void,
) {
    // Safety: errno is this thread's; restored before returning.
    let saved_errno = unsafe { *libc::__errno_location() };
    let mut p = ATTACHED.with(Cell::get);
    while !p.is_null() {
        // Safety: handles in this thread's list are alive (it holds a strong count of each), and
        // only this thread edits the list, with single stores.
        let handle = unsafe { &*p };
        if let Some(reason) = Reason::from_code(handle.reason.load(Ordering::Acquire)) {
            let n = handle.len.load(Ordering::Acquire).min(CAPACITY);
            for slot in &handle.states[..n] {
                // Safety: a state in `states[..len]` is alive and run by this thread.
                unsafe { install_hook(slot.load(Ordering::Relaxed), reason) };
            }
        }
        p = handle.below.load(Ordering::Relaxed);
    }
    // Safety: as above.
    unsafe { *libc::__errno_location() = saved_errno };
}

/// Sets a count hook (every instruction) that raises the cancellation error. Called on the thread
/// that runs `state` (from the signal handler, or from `push`), as `lua.c` calls `lua_sethook` from
/// its SIGINT handler; the running code picks the hook up at its next instruction.
///
/// # Safety
/// `state` must point to a live Lua thread.
unsafe fn install_hook(state: *mut ffi::lua_State, reason: Reason) {
    let hook: Option<ffi::lua_Hook> = match reason {
        Reason::Timeout => Some(timeout_hook),
        Reason::Exit => Some(exit_hook),
        Reason::Signal => Some(signal_hook),
        Reason::Reload => Some(reload_hook),
        Reason::Deadline => Some(deadline_hook),
    };
    ffi::lua_sethook(
        state,
        hook,
        ffi::LUA_MASKCOUNT | ffi::LUA_MASKCALL | ffi::LUA_MASKRET,
        1,
    );
}

/// Takes the interrupt hook off `state` (a state runs without one). Under ThreadSanitizer it leaves
/// [`tsan_poll_hook`] in its place.
///
/// # Safety
/// `state` must point to a live Lua thread run by this OS thread.
unsafe fn remove_hook(state: *mut ffi::lua_State) {
    #[cfg(not(solvm_tsan))]
    ffi::lua_sethook(state, None, 0, 0);
    #[cfg(solvm_tsan)]
    ffi::lua_sethook(state, Some(tsan_poll_hook), ffi::LUA_MASKCOUNT, 1000);
}

/// Only in `scripts/tsan` builds (`--cfg solvm_tsan`): ThreadSanitizer holds an asynchronous signal
/// back until the thread makes an intercepted call or an atomic operation, which a tight Lua loop
/// never does, so the interrupt signal would wait forever. This sparse hook makes one now and then,
/// where TSan then runs the handler, which replaces the hook with the interrupt hook.
#[cfg(solvm_tsan)]
unsafe extern "C-unwind" fn tsan_poll_hook(_state: *mut ffi::lua_State, _ar: *mut ffi::lua_Debug) {
    static POLL: AtomicU8 = AtomicU8::new(0);
    std::hint::black_box(POLL.load(Ordering::SeqCst));
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
cancel_hook!(deadline_hook, Reason::Deadline);

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

    /// A loop of a thousand steps runs to its end (no interrupt hook stops it).
    fn assert_runs_lua_normally(lua: &mlua::Lua) {
        let n: i64 = lua
            .load("local s = 0 for i = 1, 1000 do s = s + i end return s")
            .eval()
            .unwrap();
        assert_eq!(n, 500500);
    }

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
        assert_runs_lua_normally(&lua);
        handle.detach();
    }

    /// Blocks (`true`) or unblocks the interrupt signal on this thread. Unblocking delivers a
    /// pending one before this returns.
    fn hold_interrupt_signal(hold: bool) {
        // Safety: plain signal-mask calls on a local, valid sigset.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, INTERRUPT_SIGNAL);
            let how = if hold {
                libc::SIG_BLOCK
            } else {
                libc::SIG_UNBLOCK
            };
            assert_eq!(libc::pthread_sigmask(how, &set, std::ptr::null_mut()), 0);
        }
    }

    /// Whether the interrupt signal is pending (sent, held back) on this thread.
    fn interrupt_signal_pending() -> bool {
        // Safety: as above.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            assert_eq!(libc::sigpending(&mut set), 0);
            libc::sigismember(&set, INTERRUPT_SIGNAL) == 1
        }
    }

    #[test]
    fn a_signal_arriving_after_reset_does_nothing() {
        let lua = mlua::Lua::new();
        let handle = Arc::new(InterruptHandle::default());
        // Safety: the main thread lives as long as `lua`, which outlives the handle's use here.
        unsafe { handle.push(lua.current_thread().state()) };
        // Held back, the signal of this `fire` arrives only after the reset, as a late one would.
        hold_interrupt_signal(true);
        let h2 = Arc::clone(&handle);
        std::thread::spawn(move || h2.fire(Reason::Timeout))
            .join()
            .unwrap();
        assert!(interrupt_signal_pending(), "fire signals the owning thread");
        handle.reset();
        hold_interrupt_signal(false);
        assert!(!interrupt_signal_pending());
        assert_runs_lua_normally(&lua);
        handle.detach();
    }

    #[test]
    fn firing_a_handle_whose_thread_has_ended_signals_nothing() {
        // Detached as a state's `Drop` does it, and not detached at all (the thread-exit guard).
        for detach in [true, false] {
            let handle = Arc::new(InterruptHandle::default());
            let h2 = Arc::clone(&handle);
            std::thread::spawn(move || {
                let lua = mlua::Lua::new();
                // Safety: the state is not run after `lua` is dropped, and nothing fires meanwhile.
                unsafe { h2.push(lua.current_thread().state()) };
                assert!(h2.signal_target().is_some());
                if detach {
                    h2.detach();
                }
            })
            .join()
            .unwrap();
            assert!(handle.signal_target().is_none(), "detach={detach}");
            handle.fire(Reason::Timeout);
            // The thread's list gave back its strong count.
            assert_eq!(Arc::strong_count(&handle), 1, "detach={detach}");
        }
    }

    #[test]
    fn states_nested_beyond_capacity_are_hooked_too() {
        let lua = mlua::Lua::new();
        let handle = Arc::new(InterruptHandle::default());
        let f = lua.create_function(|_, ()| Ok(())).unwrap();
        let threads: Vec<mlua::Thread> = (0..CAPACITY + 4)
            .map(|_| lua.create_thread(f.clone()).unwrap())
            .collect();
        for t in &threads {
            // Safety: each coroutine lives as long as `threads`, beyond the handle's use.
            unsafe { handle.push(t.state()) };
        }
        let h2 = Arc::clone(&handle);
        std::thread::spawn(move || h2.fire(Reason::Exit))
            .join()
            .unwrap();
        // The interrupt hook is the one with the call mask. Safety: the states are alive; this
        // thread owns them.
        let hooked = || {
            threads
                .iter()
                .filter(|t| unsafe { ffi::lua_gethookmask(t.state()) } & ffi::LUA_MASKCALL != 0)
                .count()
        };
        // The signal reaches this thread at its next return from the kernel.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while hooked() < threads.len() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(hooked(), threads.len());
        handle.reset();
        assert_eq!(hooked(), 0);
        for _ in &threads {
            handle.pop();
        }
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
