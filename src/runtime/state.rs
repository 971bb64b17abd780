//! Creating a goroutine's Lua state (stock Lua 5.4 libraries plus every builtin) and running the main
//! script in one.

use super::interrupt::{InterruptHandle, Reason};
use super::report::{self, ErrorInfo};
use super::{goroutine, lazy, value, Ctx, Outcome, Program, Shared};
use mlua::{ffi, Function, Lua, LuaOptions, MultiValue, StdLib, Value as LuaValue};
use std::ffi::c_int;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// A goroutine's Lua state, registered with the run so cancellation can reach it. Dropping it
/// unregisters it before the state is closed.
pub struct GoState {
    pub lua: Lua,
    pub ctx: Ctx,
}

impl GoState {
    /// A fresh state for goroutine `gid` (used for main): registers it, then builds the state.
    pub fn new(rt: &Arc<Shared>, gid: u64) -> mlua::Result<GoState> {
        let interrupt = Arc::new(InterruptHandle::default());
        let mailbox = goroutine::register(rt, gid, "main".into(), 0, None, interrupt);
        GoState::with_mailbox(rt, mailbox)
    }

    /// A fresh state for an already registered goroutine: all of stock Lua's libraries (with the
    /// coroutine functions that let cancellation reach a running coroutine) and every builtin, each
    /// library and builtin family installed on first use (see `lazy`).
    pub fn with_mailbox(rt: &Arc<Shared>, mailbox: goroutine::Mailbox) -> mlua::Result<GoState> {
        // Safety: mlua calls loading `debug` (and C modules through `package`) unsafe; SPEC §1 gives
        // scripts every standard library of stock Lua, so we opt in here and only here.
        let lua = unsafe { Lua::unsafe_new_with(StdLib::NONE, LuaOptions::default()) };
        // Everything built here lives as long as the state: collecting meanwhile is wasted work
        // (`lua.c` stops the collector while opening the libraries too).
        lua.gc_stop();
        lua.load_std_libs(lazy::eager_libs())?;
        crate::builtins::stock::install_warnings(&lua);
        let interrupt = Arc::clone(&mailbox.info.interrupt);
        // Safety: the main thread lives as long as `lua`; `Drop` detaches before `lua` is closed.
        unsafe { interrupt.push(lua.current_thread().state()) };
        let gid = mailbox.info.id;
        let ctx = Ctx {
            rt: Arc::clone(rt),
            gid,
            interrupt: Arc::clone(&interrupt),
            info: mailbox.info,
            events: mailbox.events,
        };
        lua.set_app_data(ctx.clone());
        if let Some(reason) = rt.cancel.reason() {
            interrupt.fire(reason);
        }
        let state = GoState { lua, ctx };
        let lua = &state.lua;
        // Builtins: every family's globals in the first state of the run, which learns what each
        // family adds; in later states each family on first use (`lazy`).
        let names = rt.builtins.get().map(|l| Arc::clone(&l.global_names));
        value::install(lua, names.clone().unwrap_or_default())?;
        crate::builtins::prepare(lua)?;
        let layout = lazy::install(lua, rt)?;
        if names.is_none() {
            value::set_builtin_names(lua, Arc::clone(&layout.global_names))?;
        }
        finish(&state, rt)?;
        Ok(state)
    }
}

fn finish(state: &GoState, rt: &Shared) -> mlua::Result<()> {
    restart_collector(&state.lua)?;
    if let Some(limit) = rt.config.memory_limit {
        state.lua.set_memory_limit(limit)?;
    }
    Ok(())
}

/// Restarts the collector stopped while the state was built, as if a collection had just ended.
/// A plain restart leaves the collector owing work, so it would start a cycle over the whole new
/// state at the goroutine's first allocation: 4% of the CPU time of a `go()` burst. Lua's own pace
/// after a cycle is to start the next when memory has doubled, so that is the allowance given.
fn restart_collector(lua: &Lua) -> mlua::Result<()> {
    let kbytes = c_int::try_from(lua.used_memory() / 1024)
        .unwrap_or(c_int::MAX)
        .max(16);
    // Safety: `LUA_GCSTEP` with a negative size only lowers the collector's debt (no step runs, so
    // nothing can raise); the stack is untouched.
    unsafe {
        lua.exec_raw::<()>((), |state| {
            ffi::lua_gc(state, ffi::LUA_GCRESTART);
            ffi::lua_gc(state, ffi::LUA_GCSTEP, -kbytes);
        })
    }
}

impl GoState {
    /// A state built ahead of time by an idle pooled thread, not yet any goroutine's.
    pub fn prepare(rt: &Arc<Shared>) -> mlua::Result<GoState> {
        let interrupt = Arc::new(InterruptHandle::default());
        let (tx, rx) = crossbeam_channel::unbounded();
        let info = Arc::new(goroutine::GoInfo {
            id: 0,
            name: String::new(),
            parent: 0,
            spawned_at: None,
            interrupt,
            events: tx,
            status: parking_lot::Mutex::new(goroutine::Status::Running),
            ancestors: Vec::new(),
            live_descendants: std::sync::atomic::AtomicUsize::new(0),
        });
        GoState::with_mailbox(rt, goroutine::Mailbox { info, events: rx })
    }

    /// Makes a prepared state goroutine `mailbox`'s own.
    pub fn assign(mut self, mailbox: goroutine::Mailbox) -> GoState {
        self.ctx.interrupt.detach();
        let interrupt = Arc::clone(&mailbox.info.interrupt);
        // Safety: the main thread lives as long as `self.lua`; `Drop` detaches before it is closed.
        unsafe { interrupt.push(self.lua.current_thread().state()) };
        self.ctx = Ctx {
            rt: Arc::clone(&self.ctx.rt),
            gid: mailbox.info.id,
            interrupt: Arc::clone(&interrupt),
            info: mailbox.info,
            events: mailbox.events,
        };
        self.lua.set_app_data(self.ctx.clone());
        if let Some(reason) = self.ctx.rt.cancel.reason() {
            interrupt.fire(reason);
        }
        self
    }
}

impl Drop for GoState {
    fn drop(&mut self) {
        self.ctx.interrupt.detach();
    }
}

/// Removes a leading `#!` line, keeping the newline so line numbers stay right.
pub fn strip_shebang(source: &[u8]) -> &[u8] {
    if source.starts_with(b"#") {
        let end = source
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(source.len());
        &source[end..]
    } else {
        source
    }
}

/// The state of the run's main goroutine (id 1), registered with the run; a failure is reported.
pub fn main_state(rt: &Arc<Shared>) -> Option<GoState> {
    let gid = rt.next_goroutine_id();
    match GoState::new(rt, gid) {
        Ok(s) => Some(s),
        Err(e) => {
            report::emit(&format!("solvm: cannot create the Lua state: {e}\n"));
            None
        }
    }
}

/// Runs the main script as goroutine 1 and turns how it ended into an [`Outcome`].
pub fn run_main(rt: &Arc<Shared>, program: Program) -> Outcome {
    let Some(state) = main_state(rt) else {
        return Outcome::Failed;
    };
    // Main counts as a running goroutine (see `pool`) until the run ends.
    super::pool::enter_running(rt);
    let outcome = run_main_in(rt, state, program);
    super::pool::leave_running(rt);
    outcome
}

fn run_main_in(rt: &Arc<Shared>, state: GoState, program: Program) -> Outcome {
    if program.path.is_none() {
        rt.sources.lock().insert(
            program.chunk_name.clone(),
            Arc::from(program.source.as_slice()),
        );
    }
    let lua = &state.lua;
    if let Err(e) = set_arg_table(lua, &program) {
        report::emit(&format!("solvm: cannot set up `arg`: {e}\n"));
        return Outcome::Failed;
    }
    let chunk = lua
        .load(strip_shebang(&program.source))
        .set_name(format!("@{}", program.chunk_name))
        .into_function();
    let main = match chunk {
        Ok(f) => f,
        Err(e) => {
            report::emit(&report::render_syntax(rt, &e));
            return Outcome::Failed;
        }
    };
    let args: MultiValue = program
        .args
        .iter()
        .filter_map(|a| lua.create_string(a).ok().map(LuaValue::String))
        .collect();
    match main.call::<MultiValue>(args) {
        Ok(_) => {
            if let Err(e) = goroutine::wait_for_others(lua, &state.ctx) {
                // A timer callback's cancellation (timeout, exit) or a failing on_error.
                report_main_error(rt, lua, &e);
            }
        }
        Err(e) => {
            if rt.cancel.reason().is_none() {
                deliver_on_error(lua, 1, "main", &ErrorInfo::from_lua_error_in(lua, &e));
            }
            report_main_error(rt, lua, &e);
        }
    }
    if rt.cancel.reason() == Some(Reason::Timeout) {
        // Give interrupted goroutines a moment to record where they were stopped.
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
        while rt.registry.live.lock().len() > 1 && std::time::Instant::now() < deadline {
            let mut guard = rt.goroutine_wait.lock();
            rt.goroutine_done
                .wait_for(&mut guard, std::time::Duration::from_millis(20));
        }
        let stopped = rt.stopped.lock().clone();
        if !stopped.is_empty() {
            report::emit(&(stopped.join("\n") + "\n"));
        }
    }
    drop(main);
    goroutine::unregister(rt, state.ctx.gid);
    drop(state);
    outcome_of(rt)
}

/// Reports an error that ended the main chunk, in the form its cause calls for.
fn report_main_error(rt: &Shared, lua: &Lua, err: &mlua::Error) {
    let info = ErrorInfo::from_lua_error_in(lua, err);
    match rt.cancel.reason() {
        Some(Reason::Timeout) => {
            let limit = rt
                .config
                .timeout
                .map(|d| format!("{d:?}"))
                .unwrap_or_default();
            let mut text = format!(
                "timeout: the run exceeded its time limit of {limit} (--timeout); {}\n",
                super::interrupt::LIFT_TIMEOUT
            );
            match stopped_at(lua)
                .or_else(|| info.location.as_ref().map(|(f, l)| format!("{f}:{l}")))
            {
                Some(at) => text.push_str(&format!("  goroutine 1 (main) was stopped at {at}\n")),
                None => text.push_str("  goroutine 1 (main) was stopped\n"),
            }
            report::emit(&text);
        }
        Some(Reason::Exit | Reason::Reload | Reason::Deadline) => {}
        Some(Reason::Signal) => report::emit("interrupted: the run received a stop signal\n"),
        None => {
            rt.failed.store(true, Ordering::Relaxed);
            report::emit(&report::render(rt, "error", &info, None));
        }
    }
}

/// How a finished run ended.
pub fn outcome_of(rt: &Shared) -> Outcome {
    match rt.cancel.reason() {
        Some(Reason::Timeout) => Outcome::Timeout,
        Some(Reason::Signal) => match rt.exit_code.load(Ordering::Relaxed) {
            0 => Outcome::Interrupted,
            code => Outcome::Exit(code),
        },
        Some(Reason::Exit) => Outcome::Exit(rt.exit_code.load(Ordering::Relaxed)),
        // The servers drained after a stop signal and the run ended before it was cancelled.
        _ if rt.signalled.load(Ordering::Acquire) != 0 => {
            Outcome::Exit(rt.signalled.load(Ordering::Acquire))
        }
        _ if rt.failed.load(Ordering::Relaxed) => Outcome::Failed,
        _ => Outcome::Success,
    }
}

/// The global `arg`, as `lua.c` builds it: `arg[0]` the script, `arg[1..]` its arguments,
/// `arg[-1]` the interpreter as it was invoked (`argv[0]`), so a script can start it again.
fn set_arg_table(lua: &Lua, program: &Program) -> mlua::Result<()> {
    let arg = lua.create_table()?;
    let argv0 = std::env::args_os().next().unwrap_or_else(|| "solvm".into());
    arg.raw_set(-1, lua.create_string(argv0.as_encoded_bytes())?)?;
    arg.raw_set(0, program.chunk_name.as_str())?;
    for (i, a) in program.args.iter().enumerate() {
        arg.raw_set(i as i64 + 1, a.as_str())?;
    }
    lua.globals().set("arg", arg)
}

/// Calls the state's `on_error` handler, if one is set, with `(message, info)`. Returns whether a
/// handler saw the error. A failing handler is reported and does not count as handling it.
pub fn deliver_on_error(lua: &Lua, gid: u64, name: &str, info: &ErrorInfo) -> bool {
    let Ok(handler) = lua.named_registry_value::<Function>(crate::builtins::core::ON_ERROR_KEY)
    else {
        return false;
    };
    let details = (|| -> mlua::Result<mlua::Table> {
        let t = lua.create_table()?;
        t.set("goroutine", gid)?;
        t.set("name", name)?;
        t.set("message", info.message.as_str())?;
        if let Some((file, line)) = &info.location {
            t.set("file", file.as_str())?;
            t.set("line", *line)?;
        }
        if let Some(tb) = &info.traceback {
            t.set("traceback", tb.as_str())?;
        }
        Ok(t)
    })();
    let result = details.and_then(|d| handler.call::<()>((info.one_line(), d)));
    match result {
        Ok(()) => true,
        Err(e) => {
            let ctx = super::ctx(lua);
            let inner = ErrorInfo::from_lua_error(&e);
            report::emit(&report::render(
                &ctx.rt,
                "error in on_error handler",
                &inner,
                None,
            ));
            false
        }
    }
}

/// Where the interrupt hook first stopped this state (`file:line`), if it did.
pub fn stopped_at(lua: &Lua) -> Option<String> {
    let key = super::interrupt::STOPPED_AT_KEY.to_str().ok()?;
    let at: String = lua.named_registry_value(key).ok()?;
    let at = at.trim_end().trim_end_matches(':').to_string();
    (!at.is_empty()).then_some(at)
}
