//! The engine room: Lua states, value transfer between them, cancellation and error reports.
//!
//! A [`Shared`] value owns everything that belongs to one run (configuration, cancellation, the
//! goroutine registry, error accounting); each Lua state carries a [`Ctx`] pointing back to it. There is
//! no global mutable state: tests can run several runtimes side by side.

pub mod alloc;
pub mod args;
pub mod coroutines;
pub mod cron;
pub mod events;
pub mod goroutine;
pub mod interrupt;
pub mod lazy;
pub mod output;
pub mod pool;
pub mod repl;
pub mod report;
pub mod state;
pub mod value;
pub mod watch;

use crate::config::Config;
use interrupt::{Cancel, InterruptRef, Reason};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The program a run starts with.
pub struct Program {
    /// The script's text (a shebang line is allowed).
    pub source: Vec<u8>,
    /// Name used in messages: the path as given, `(command line)` for `-e`, `stdin`.
    pub chunk_name: String,
    /// The script file, when there is one (modules are searched beside it).
    pub path: Option<PathBuf>,
    /// Arguments after the script, for the global `arg` and the chunk's `...`.
    pub args: Vec<String>,
}

/// One run's shared state.
pub struct Shared {
    pub config: Config,
    pub cancel: Cancel,
    /// Folder of the main script (or the working directory): modules are searched from here.
    pub script_dir: PathBuf,
    /// Sources that are not files on disk (`-e`, stdin), by chunk name, for error snippets.
    pub sources: Mutex<HashMap<String, Arc<[u8]>>>,
    /// Live goroutines and what each is doing.
    pub registry: goroutine::Registry,
    /// Notified whenever a goroutine finishes (with `goroutine_wait` as its mutex).
    pub goroutine_done: parking_lot::Condvar,
    pub goroutine_wait: Mutex<()>,
    /// The goroutine whose `on_error` handler receives uncaught errors.
    pub on_error_owner: Mutex<Option<u64>>,
    /// Where goroutines were stopped by the timeout, for the report.
    pub stopped: Mutex<Vec<String>>,
    /// Set when the deadlock watcher ended the run.
    pub deadlocked: AtomicBool,
    /// Named channels, shared by every goroutine.
    pub channels: Mutex<HashMap<String, Arc<dyn std::any::Any + Send + Sync>>>,
    /// Servers made by `create_server`, by name (the server family owns the type behind `Any`).
    pub servers: Mutex<HashMap<String, Arc<dyn std::any::Any + Send + Sync>>>,
    /// The shared key/value store.
    pub store: Mutex<HashMap<String, (value::Value, Option<std::time::Instant>)>>,
    /// Which builtin family adds which globals, and the globals a fresh state has (everything
    /// else is user-defined); learned by the first state.
    pub builtins: std::sync::OnceLock<Arc<lazy::Layout>>,
    /// Services running now (servers, listeners, cron jobs, file watches): they keep the run alive.
    services: std::sync::atomic::AtomicUsize,
    /// Set once any service has started: from then on the whole-run timeout no longer applies.
    service_started: AtomicBool,
    /// Ids of timers, intervals, cron jobs and watches.
    pub next_callback_id: AtomicU64,
    /// The script file (for `reload_script` and `--watch`) and its chunk name.
    pub script_path: Option<PathBuf>,
    /// The new source `reload_script` checked, for the next run.
    reload_source: Mutex<Option<Vec<u8>>>,
    /// `--watch`: watches on the script and the modules it imported.
    reload_watches: Mutex<Vec<(PathBuf, watch::FileWatch)>>,
    /// Idle goroutine threads with prepared states.
    pub pool: pool::Pool,
    /// Sources of modules imported from URLs, fetched once per process (SPEC §9).
    pub url_modules: Mutex<HashMap<String, Arc<[u8]>>>,
    /// The previous `check_memory` sample, for its diffs.
    pub memory_sample: Mutex<Option<[i64; 3]>>,
    /// Run-wide state a builtin family keeps for itself (the cluster's Redis connections), by
    /// type: see [`Shared::extension`].
    extensions: Mutex<HashMap<std::any::TypeId, Arc<dyn std::any::Any + Send + Sync>>>,
    next_goroutine: AtomicU64,
    /// Colour in error reports.
    pub color: bool,
    /// Set when an error went unhandled somewhere: the run then exits with 1.
    pub failed: AtomicBool,
    /// The code passed to `os.exit`.
    pub exit_code: AtomicI32,
    /// 128 + the stop signal once SIGINT/SIGTERM started a graceful stop (0 before): the exit code
    /// even when the drained servers let the run end on its own before it is cancelled.
    pub signalled: AtomicI32,
    /// Per-run state of builtin families (see [`Shared::family_state`]), by type.
    family_states: Mutex<Vec<(std::any::TypeId, Arc<dyn FamilyState>)>>,
    /// Set once [`Shared::end_run`] has told the family states.
    ended: AtomicBool,
    /// The "a stop signal is being handled" flag of the process's signal handlers (see
    /// [`Shared::stop_signal_taken`]).
    stop_signal_pending: Option<Arc<AtomicBool>>,
}

/// State a builtin family keeps for one run (its children, its signal handlers), created on first
/// use by [`Shared::family_state`]. The runtime tells it when the run ends and asks it before a stop
/// signal shuts the run down; it knows nothing else about it.
pub trait FamilyState: std::any::Any + Send + Sync {
    /// The run is over (it returned, timed out, was interrupted, called `os.exit` or is being
    /// reloaded): release what must not outlive it. Called once, from the thread ending the run.
    fn run_ended(&self) {}
    /// Whether the family takes SIGINT/SIGTERM `signal` itself, instead of the default graceful
    /// shutdown (a script's `on_signal` handler).
    fn takes_signal(&self, _signal: i32) -> bool {
        false
    }
}

impl Shared {
    /// A new run's shared state.
    pub fn new(config: Config, script_dir: PathBuf) -> Arc<Shared> {
        Arc::new(Shared::new_inner(config, script_dir))
    }

    fn new_inner(config: Config, script_dir: PathBuf) -> Shared {
        Shared {
            config,
            cancel: Cancel::default(),
            script_dir,
            sources: Mutex::new(HashMap::new()),
            registry: goroutine::Registry::default(),
            goroutine_done: parking_lot::Condvar::new(),
            goroutine_wait: Mutex::new(()),
            on_error_owner: Mutex::new(None),
            stopped: Mutex::new(Vec::new()),
            deadlocked: AtomicBool::new(false),
            channels: Mutex::new(HashMap::new()),
            servers: Mutex::new(HashMap::new()),
            store: Mutex::new(HashMap::new()),
            builtins: std::sync::OnceLock::new(),
            pool: pool::Pool::default(),
            next_callback_id: AtomicU64::new(1),
            script_path: None,
            reload_source: Mutex::new(None),
            reload_watches: Mutex::new(Vec::new()),
            url_modules: Mutex::new(HashMap::new()),
            memory_sample: Mutex::new(None),
            extensions: Mutex::new(HashMap::new()),
            services: std::sync::atomic::AtomicUsize::new(0),
            service_started: AtomicBool::new(false),
            next_goroutine: AtomicU64::new(1),
            color: report::use_color(),
            failed: AtomicBool::new(false),
            exit_code: AtomicI32::new(0),
            signalled: AtomicI32::new(0),
            family_states: Mutex::new(Vec::new()),
            ended: AtomicBool::new(false),
            stop_signal_pending: None,
        }
    }

    /// This run's state of type `T`, created on first use.
    pub fn family_state<T: FamilyState + Default>(&self) -> Arc<T> {
        let id = std::any::TypeId::of::<T>();
        let mut states = self.family_states.lock();
        let found = states.iter().find(|(t, _)| *t == id).map(|(_, s)| {
            let any: Arc<dyn std::any::Any + Send + Sync> = Arc::clone(s) as _;
            any.downcast::<T>()
        });
        match found {
            Some(Ok(state)) => state,
            _ => {
                let state = Arc::new(T::default());
                states.push((id, Arc::clone(&state) as Arc<dyn FamilyState>));
                state
            }
        }
    }

    /// Tells every family state that the run is over (once).
    pub fn end_run(&self) {
        if self.ended.swap(true, Ordering::AcqRel) {
            return;
        }
        let states: Vec<Arc<dyn FamilyState>> = self
            .family_states
            .lock()
            .iter()
            .map(|(_, s)| Arc::clone(s))
            .collect();
        for s in states {
            s.run_ended();
        }
    }

    /// A family took the SIGINT/SIGTERM just received: a next one is not "the second signal" that
    /// ends the process at once. Called as soon as the family has it, before the supervisor looks.
    pub fn stop_signal_taken(&self) {
        if let Some(p) = &self.stop_signal_pending {
            p.store(false, Ordering::Release);
        }
    }

    /// Whether a family takes stop signal `signal` itself (see [`FamilyState::takes_signal`]).
    fn signal_taken(&self, signal: i32) -> bool {
        let states: Vec<Arc<dyn FamilyState>> = self
            .family_states
            .lock()
            .iter()
            .map(|(_, s)| Arc::clone(s))
            .collect();
        states.iter().any(|s| s.takes_signal(signal))
    }

    /// `reload_script()` / `--watch`: reads the script again and checks that it compiles. A syntax
    /// error is reported and the current run goes on (`false`); otherwise the run is cancelled with
    /// [`Reason::Reload`] and the next one runs the new source (`true`).
    pub fn request_reload(&self) -> Result<bool, String> {
        let Some(path) = &self.script_path else {
            return Err("the script was not loaded from a file".into());
        };
        let source = std::fs::read(path).map_err(|e| {
            format!(
                "cannot read {}: {}",
                path.display(),
                args::io_error_text(&e)
            )
        })?;
        let chunk_name = path.to_string_lossy().into_owned();
        let check = mlua::Lua::new();
        if let Err(e) = check
            .load(state::strip_shebang(&source))
            .set_name(format!("@{chunk_name}"))
            .into_function()
        {
            report::emit(&report::render_syntax(self, &e));
            report::emit("reload: the new version does not compile; the current run goes on\n");
            return Ok(false);
        }
        *self.reload_source.lock() = Some(source);
        self.cancel(Reason::Reload);
        Ok(true)
    }

    /// With `--watch`, reruns the script when `path` changes (once per file).
    pub fn watch_for_reload(self: &Arc<Self>, path: &std::path::Path) {
        if !self.config.watch {
            return;
        }
        let mut watches = self.reload_watches.lock();
        if watches.iter().any(|(p, _)| p == path) {
            return;
        }
        let rt = Arc::downgrade(self);
        let watched = watch::watch(
            path,
            Box::new(move |changed, _| {
                if let Some(rt) = rt.upgrade() {
                    if rt.cancel.reason().is_none() {
                        report::emit(&format!(
                            "watch: {} changed, reloading\n",
                            changed.display()
                        ));
                        if let Err(e) = rt.request_reload() {
                            report::emit(&format!("watch: {e}\n"));
                        }
                    }
                }
            }),
        );
        match watched {
            Ok(w) => watches.push((path.to_path_buf(), w)),
            Err(e) => report::emit(&format!("watch: {e}\n")),
        }
    }

    /// The run's one `T`, made by `make` on first use: lets a family keep run-wide state without
    /// a field here (and without global state, so several runtimes stay apart).
    pub fn extension<T: std::any::Any + Send + Sync>(&self, make: impl FnOnce() -> T) -> Arc<T> {
        let mut map = self.extensions.lock();
        let entry = map
            .entry(std::any::TypeId::of::<T>())
            .or_insert_with(|| Arc::new(make()));
        match Arc::clone(entry).downcast::<T>() {
            Ok(t) => t,
            // Keyed by its own type id: the entry is always a `T`.
            Err(_) => unreachable!("extension stored under another type's id"),
        }
    }

    /// Reserves the next goroutine id (the main script gets 1).
    pub fn next_goroutine_id(&self) -> u64 {
        self.next_goroutine.fetch_add(1, Ordering::Relaxed)
    }

    /// Marks a service (server, listener, cron job, file watch) as running until the guard is
    /// dropped. While any runs, the run stays alive, and once one has started the whole-run timeout
    /// no longer applies (SPEC §4).
    pub fn start_service(self: &Arc<Self>) -> ServiceGuard {
        self.services.fetch_add(1, Ordering::AcqRel);
        self.service_started.store(true, Ordering::Release);
        ServiceGuard {
            rt: Arc::clone(self),
        }
    }

    /// How many services are running.
    pub fn services(&self) -> usize {
        self.services.load(Ordering::Acquire)
    }

    /// Whether a service has ever started in this run.
    pub fn is_service(&self) -> bool {
        self.service_started.load(Ordering::Acquire)
    }

    /// Cancels the run and interrupts every goroutine wherever it is.
    pub fn cancel(&self, reason: Reason) {
        if self.cancel.mark(reason) {
            for info in self.registry.live.lock().values() {
                info.interrupt.fire(reason);
            }
            self.cancel.wake();
            self.goroutine_done.notify_all();
        }
    }
}

/// Keeps a service counted as running; see [`Shared::start_service`].
pub struct ServiceGuard {
    rt: Arc<Shared>,
}

impl Drop for ServiceGuard {
    fn drop(&mut self) {
        self.rt.services.fetch_sub(1, Ordering::AcqRel);
        self.rt.goroutine_done.notify_all();
    }
}

/// What a Lua state knows about itself: its run and its goroutine. Stored as mlua app data.
#[derive(Clone)]
pub struct Ctx {
    pub rt: Arc<Shared>,
    pub gid: u64,
    pub interrupt: InterruptRef,
    /// This goroutine's registry entry.
    pub info: Arc<goroutine::GoInfo>,
    /// This goroutine's pending events (run at blocking points).
    pub events: crossbeam_channel::Receiver<goroutine::Event>,
}

impl Ctx {
    /// `Err` with the reason when the run is cancelled or this goroutine alone was stopped (a
    /// server handler past its deadline): what every blocking wait checks.
    #[inline]
    pub fn check(&self) -> mlua::Result<()> {
        self.rt.cancel.check()?;
        match self.interrupt.fired() {
            None => Ok(()),
            Some(r) => Err(mlua::Error::runtime(r.message())),
        }
    }
}

/// The [`Ctx`] of a state created by [`state::new_state`].
pub fn ctx(lua: &mlua::Lua) -> Ctx {
    // Every state the runtime creates carries a Ctx; a missing one is a bug in the runtime, not input.
    lua.app_data_ref::<Ctx>()
        .map(|c| c.clone())
        .expect("Lua state without a SolVM context")
}

/// How a run ended; [`Outcome::exit_code`] maps it to the process exit code (SPEC §2).
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failed,
    Timeout,
    Interrupted,
    Exit(i32),
}

impl Outcome {
    pub fn exit_code(&self) -> i32 {
        match self {
            Outcome::Success => 0,
            Outcome::Failed => 1,
            Outcome::Timeout => 124,
            Outcome::Interrupted => 130,
            Outcome::Exit(c) => *c,
        }
    }
}

/// Ends the process with `code` at once (`os.exit`): flushes every output stream and puts the
/// terminal back if the REPL had it in raw mode, then `_exit`, so no destructor or exit handler of
/// a thread still running (another goroutine, a server) runs meanwhile.
pub fn exit_now(rt: Option<&Shared>, code: i32) -> ! {
    use std::io::Write;
    // Families' end-of-run work first (the script's child processes are killed).
    if let Some(rt) = rt {
        rt.end_run();
    }
    output::flush();
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    repl::restore_terminal();
    // Safety: fflush(NULL) flushes every C stream (files a script wrote with `io`); `_exit` ends
    // the process without running anything else.
    unsafe {
        libc::fflush(std::ptr::null_mut());
        libc::_exit(code)
    }
}

/// Runs `program` to the end under `config`: again with the new source after `reload_script()`,
/// and, with `--watch`, again whenever the script or a module it imported changes.
pub fn run(config: Config, program: Program) -> Outcome {
    let script_dir = program
        .path
        .as_ref()
        .and_then(|p| p.parent().map(|d| d.to_path_buf()))
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    let signals = register_signals();
    let mut program = program;
    loop {
        let mut shared = Shared::new_inner(config.clone(), script_dir.clone());
        shared.script_path = program.path.clone();
        shared.stop_signal_pending = Some(Arc::clone(&signals.pending));
        let rt = Arc::new(shared);
        if let Some(path) = &program.path {
            rt.watch_for_reload(path);
        }
        let supervisor = start_supervisor(&rt, Arc::clone(&signals));
        let next = Program {
            source: Vec::new(),
            chunk_name: program.chunk_name.clone(),
            path: program.path.clone(),
            args: program.args.clone(),
        };
        let mut outcome = state::run_main(&rt, program);
        rt.end_run();
        output::flush();
        if rt.config.watch && rt.cancel.reason().is_none() {
            report::emit("watch: the run ended; waiting for changes (Ctrl-C to stop)\n");
            let _ = rt.cancel.signal().recv();
            outcome = state::outcome_of(&rt);
        }
        // Not joined: waiting for the thread to be scheduled would only delay the exit.
        drop(supervisor);
        if rt.cancel.reason() != Some(Reason::Reload) {
            return outcome;
        }
        wind_down(&rt);
        let source = rt.reload_source.lock().take().unwrap_or_default();
        program = Program { source, ..next };
    }
}

/// The interactive REPL on a terminal (see [`repl`]): the main goroutine's state, fed line by line.
pub fn run_repl(config: Config) -> Outcome {
    let rt = Shared::new(config, PathBuf::from("."));
    let Some(state) = state::main_state(&rt) else {
        return Outcome::Failed;
    };
    repl::interact(&state);
    rt.end_run();
    output::flush();
    goroutine::unregister(&rt, state.ctx.gid);
    drop(state);
    match state::outcome_of(&rt) {
        // Errors shown at the prompt do not make the session a failure.
        Outcome::Failed => Outcome::Success,
        other => other,
    }
}

/// Waits (bounded) for an old run's goroutines and services to end before the next run starts, so
/// that, say, a server's port is free again.
fn wind_down(rt: &Shared) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while (!rt.registry.live.lock().is_empty() || rt.services() > 0)
        && std::time::Instant::now() < deadline
    {
        let mut guard = rt.goroutine_wait.lock();
        rt.goroutine_done
            .wait_for(&mut guard, Duration::from_millis(20));
    }
    rt.reload_watches.lock().clear();
}

/// How long a signalled run lets servers finish in-flight requests.
const SIGNAL_DRAIN: Duration = Duration::from_secs(5);

/// How long a cancelled run may take to wind down before the process is ended regardless.
const HARD_STOP_GRACE: Duration = Duration::from_secs(2);

/// How often the supervisor looks at signals and deadlocks.
const SUPERVISOR_TICK: Duration = Duration::from_millis(100);

/// What SIGINT/SIGTERM set for the supervisor to poll.
struct StopSignals {
    /// The last stop signal received, 0 once seen.
    received: Arc<std::sync::atomic::AtomicUsize>,
    /// Set by a stop signal: a second one while it is set ends the process at once, so a stuck run
    /// can still be killed with Ctrl-C twice. Cleared when a script's handler took the signal.
    pending: Arc<AtomicBool>,
}

/// SIGINT/SIGTERM set [`StopSignals`], which the supervisor polls.
fn register_signals() -> Arc<StopSignals> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let flag = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let pending = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        let _ =
            signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, Arc::clone(&pending));
        let _ = signal_hook::flag::register(sig, Arc::clone(&pending));
        let _ = signal_hook::flag::register_usize(sig, Arc::clone(&flag), sig as usize);
    }
    Arc::new(StopSignals {
        received: flag,
        pending,
    })
}

/// Keeps the supervisor running; dropping it lets the thread end (it is never joined).
struct Supervisor {
    _done: crossbeam_channel::Sender<()>,
}

/// One thread per run that enforces `--timeout` (and the hard stop after it), turns signals into a
/// graceful stop, and watches for deadlocks.
fn start_supervisor(rt: &Arc<Shared>, signals: Arc<StopSignals>) -> Option<Supervisor> {
    let (done, done_rx) = crossbeam_channel::bounded::<()>(0);
    let rt = Arc::clone(rt);
    let limit = rt
        .config
        .timeout
        .filter(|d| !d.is_zero() && !rt.config.watch);
    let started = std::time::Instant::now();
    std::thread::Builder::new()
        .name("solvm-supervisor".into())
        .stack_size(128 * 1024)
        .spawn(move || {
            let deadline = limit.and_then(|l| started.checked_add(l));
            let mut hard_stop: Option<std::time::Instant> = None;
            loop {
                let now = std::time::Instant::now();
                let wake = [Some(now + SUPERVISOR_TICK), deadline.filter(|d| *d > now), hard_stop]
                    .into_iter()
                    .flatten()
                    .min()
                    .unwrap_or(now + SUPERVISOR_TICK);
                match done_rx.recv_timeout(wake.saturating_duration_since(now)) {
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
                let sig = signals.received.swap(0, Ordering::AcqRel);
                if sig != 0 && rt.signal_taken(sig as i32) {
                    // A script's handler runs instead of the shutdown; a later signal is not a
                    // second one.
                    signals.pending.store(false, Ordering::Release);
                } else if sig != 0 {
                    rt.exit_code.store(128 + sig as i32, Ordering::Relaxed);
                    rt.signalled.store(128 + sig as i32, Ordering::Release);
                    if rt.cancel.reason().is_none() {
                        // Graceful: servers stop accepting and answer what is in flight first.
                        crate::builtins::server::stop_all(&rt, SIGNAL_DRAIN);
                    }
                    rt.cancel(Reason::Signal);
                }
                let now = std::time::Instant::now();
                if let (Some(d), None) = (deadline, hard_stop) {
                    // A service runs until stopped or signalled (SPEC §4).
                    if now >= d && !rt.is_service() && rt.cancel.reason().is_none() {
                        rt.cancel(Reason::Timeout);
                        hard_stop = Some(now + HARD_STOP_GRACE);
                    }
                }
                if hard_stop.is_some_and(|h| std::time::Instant::now() >= h) {
                    // The hook cannot reach code that never runs a Lua instruction: a blocking C
                    // call (`os.execute`, `io.read`) or a `__gc` finalizer (Lua disables hooks
                    // there). The run has not wound down: end the process anyway.
                    report::emit(&format!(
                        "timeout: the run exceeded its time limit of {:?} (--timeout) and did not stop within \
                         {HARD_STOP_GRACE:?} (blocked in a C call such as os.execute or io.read, or in a __gc \
                         finalizer); exiting; {}\n",
                        limit.unwrap_or_default(),
                        interrupt::LIFT_TIMEOUT
                    ));
                    rt.end_run();
                    output::flush();
                    std::process::exit(Outcome::Timeout.exit_code());
                }
                if hard_stop.is_none() && goroutine::check_deadlock(&rt) {
                    return;
                }
            }
        })
        .ok()
        .map(|_| Supervisor { _done: done })
}

/// `--check`: parses the program without running it; prints a syntax report and returns 1 if it
/// does not parse, 0 otherwise.
pub fn check_syntax(program: &Program) -> i32 {
    let rt = Shared::new(Config::default(), PathBuf::from("."));
    if program.path.is_none() {
        rt.sources.lock().insert(
            program.chunk_name.clone(),
            Arc::from(program.source.as_slice()),
        );
    }
    let lua = mlua::Lua::new();
    match lua
        .load(state::strip_shebang(&program.source))
        .set_name(format!("@{}", program.chunk_name))
        .into_function()
    {
        Ok(_) => 0,
        Err(e) => {
            report::emit(&report::render_syntax(&rt, &e));
            1
        }
    }
}
