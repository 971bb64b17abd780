//! `process` (SPEC §14): `exec` (run and capture), `spawn` (a streaming child, `child.rs`), `pid`,
//! `os`, `arch` and `env`, on the standard library's `std::process`. Nothing goes through a shell
//! unless `shell = true`. Each child leads its own process group, so killing it (a `timeout`, the
//! end of the run) takes its whole tree. The run keeps a list of its children and kills those still
//! running when it ends (timeout, Ctrl-C, `os.exit`, `reload_script`, or simply returning).
//! `signals.rs` is the `on_signal` family.

pub mod child;
pub mod signals;

use super::catalog::{self, f, m, value};
use super::support::{self, multi};
use crate::runtime::args::{self, arg_error, bad_argument, check_string, nil_err};
use crate::runtime::goroutine::{self, IO_SLICE};
use crate::runtime::{ctx, FamilyState};
use child::{poll, pollfd, Child, ChildInner};
use mlua::{Lua, MultiValue, Table, Value as LuaValue};
use parking_lot::Mutex;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The process family's catalog rows.
pub const CATALOG: &[catalog::Builtin] = &[
    catalog::table("process", "Child processes and this process's facts."),
    f(
        "process.exec",
        &["cmd: string", "args?: string[]", "opts?: ExecOptions"],
        &["ExecResult?", "string?"],
        "Runs a command to the end and captures its output; `nil, err` if it cannot start.",
    ),
    f(
        "process.spawn",
        &["cmd: string", "args?: string[]", "opts?: ExecOptions"],
        &["ChildProcess?", "string?"],
        "Starts a command with pipes to its stdin, stdout and stderr.",
    ),
    value("process.pid", &["integer"], "This process's id."),
    value("process.os", &["string"], "`\"linux\"`, `\"macos\"`, ..."),
    value(
        "process.arch",
        &["string"],
        "`\"x86_64\"`, `\"aarch64\"`, ...",
    ),
    value(
        "process.env",
        &["table<string, string>"],
        "The environment; assigning sets or (with `nil`) removes a variable.",
    ),
    m(
        "ChildProcess:write",
        &["data: string"],
        &["integer?", "string?"],
        "Writes to the child's stdin (all of it).",
    ),
    m(
        "ChildProcess:close_stdin",
        &[],
        &["boolean"],
        "Closes the child's stdin (it then sees end of input).",
    ),
    m(
        "ChildProcess:read",
        &["n?: integer"],
        &["string?"],
        "The next chunk of stdout (at most `n` bytes); `nil` at its end.",
    ),
    m(
        "ChildProcess:read_line",
        &[],
        &["string?"],
        "The next line of stdout, without `\\n`; `nil` at its end.",
    ),
    m(
        "ChildProcess:read_stderr",
        &["n?: integer"],
        &["string?"],
        "The next chunk of stderr; `nil` at its end.",
    ),
    m(
        "ChildProcess:kill",
        &["signal?: string|integer"],
        &["boolean"],
        "Signals the child's process group (default `SIGKILL`); `false` once it has exited.",
    ),
    m(
        "ChildProcess:wait",
        &["timeout?: number"],
        &["ExitStatus?", "string?"],
        "Waits for the child to exit; `nil, \"timeout\"` after `timeout` seconds.",
    ),
];

/// The process family's classes.
pub const CLASSES: &[catalog::Class] = &[
    catalog::Class {
        name: "ChildProcess",
        doc: "A running child process; crosses goroutines (one may write while another reads).",
        fields: &[(
            "pid",
            "integer",
            "Its process id (it leads its own process group).",
        )],
    },
    catalog::Class {
        name: "ExecOptions",
        doc: "Options of `process.exec` and `process.spawn`.",
        fields: &[
            ("cwd", "string?", "Working directory."),
            (
                "env",
                "table<string, string|false>?",
                "Variables added to (or, with `false`, removed from) ours.",
            ),
            ("stdin", "string?", "Input for the child (`exec`)."),
            (
                "timeout",
                "number?",
                "Seconds before the child is killed (`exec`).",
            ),
            (
                "shell",
                "boolean?",
                "Run `cmd` through `/bin/sh -c` (the args become `$1`...).",
            ),
            (
                "inherit",
                "boolean?",
                "The child's stdout and stderr are ours (`exec`).",
            ),
        ],
    },
    catalog::Class {
        name: "ExitStatus",
        doc: "How a child ended.",
        fields: &[
            ("ok", "boolean", "Exited with code 0."),
            (
                "code",
                "integer",
                "Exit code; 128 + the signal's number when killed by one.",
            ),
            (
                "signal",
                "string?",
                "The signal that killed it (`\"SIGKILL\"`).",
            ),
        ],
    },
    catalog::Class {
        name: "ExecResult",
        doc: "What `process.exec` returns: an `ExitStatus` plus the output.",
        fields: &[
            (
                "ok",
                "boolean",
                "Exited with code 0 (and did not time out).",
            ),
            (
                "code",
                "integer",
                "Exit code; 128 + the signal's number when killed by one.",
            ),
            ("signal", "string?", "The signal that killed it."),
            (
                "stdout",
                "string",
                "Its standard output (empty with `inherit`).",
            ),
            (
                "stderr",
                "string",
                "Its standard error (empty with `inherit`).",
            ),
            ("timed_out", "boolean?", "`true` when `timeout` killed it."),
        ],
    },
];

/// The signals SolVM names (`kill`, exit statuses, `on_signal`).
const SIGNALS: &[(&str, i32)] = &[
    ("SIGHUP", libc::SIGHUP),
    ("SIGINT", libc::SIGINT),
    ("SIGQUIT", libc::SIGQUIT),
    ("SIGILL", libc::SIGILL),
    ("SIGABRT", libc::SIGABRT),
    ("SIGKILL", libc::SIGKILL),
    ("SIGUSR1", libc::SIGUSR1),
    ("SIGSEGV", libc::SIGSEGV),
    ("SIGUSR2", libc::SIGUSR2),
    ("SIGPIPE", libc::SIGPIPE),
    ("SIGALRM", libc::SIGALRM),
    ("SIGTERM", libc::SIGTERM),
    ("SIGCHLD", libc::SIGCHLD),
    ("SIGCONT", libc::SIGCONT),
    ("SIGSTOP", libc::SIGSTOP),
    ("SIGTSTP", libc::SIGTSTP),
];

/// `"SIGTERM"` (or `"TERM"`, any case) → its number.
pub fn signal_number(name: &str) -> Option<i32> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    SIGNALS.iter().find(|(n, _)| *n == full).map(|(_, s)| *s)
}

/// A signal's name (`"SIG15"` for one without a name here).
pub fn signal_name(sig: i32) -> String {
    SIGNALS
        .iter()
        .find(|(_, s)| *s == sig)
        .map_or_else(|| format!("SIG{sig}"), |(n, _)| n.to_string())
}

/// The run's children, killed when it ends.
#[derive(Default)]
struct Children {
    list: Mutex<Vec<Arc<ChildInner>>>,
    ended: AtomicBool,
}

impl FamilyState for Children {
    fn run_ended(&self) {
        self.ended.store(true, Ordering::Release);
        let children = std::mem::take(&mut *self.list.lock());
        for c in children {
            c.kill_and_reap();
        }
    }
}

/// Installs the `process` table.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    crate::runtime::value::register_handle_type::<Child>(lua);
    let t = lua.create_table()?;
    t.raw_set("exec", lua.create_function(exec)?)?;
    t.raw_set("spawn", lua.create_function(spawn)?)?;
    t.raw_set("pid", std::process::id())?;
    t.raw_set("os", std::env::consts::OS)?;
    t.raw_set("arch", std::env::consts::ARCH)?;
    t.raw_set("env", env_proxy(lua)?)?;
    lua.globals().set("process", t)
}

/// A table that reads and writes the environment (`process.env.HOME`, `process.env.X = nil`).
fn env_proxy(lua: &Lua) -> mlua::Result<Table> {
    let meta = lua.create_table()?;
    let wrap = |f: mlua::Function| args::wrap_function(lua, f);
    meta.raw_set(
        "__index",
        wrap(
            lua.create_function(|lua, (_t, key): (LuaValue, LuaValue)| match key {
                LuaValue::String(k) => match std::env::var_os(&*k.to_string_lossy()) {
                    Some(v) => support::string(lua, v.as_encoded_bytes()),
                    None => Ok(LuaValue::Nil),
                },
                _ => Ok(LuaValue::Nil),
            })?,
        )?,
    )?;
    meta.raw_set(
        "__newindex",
        wrap(
            lua.create_function(|_, (_t, key, v): (LuaValue, LuaValue, LuaValue)| {
                let LuaValue::String(k) = key else {
                    return Err(mlua::Error::runtime("process.env: names are strings"));
                };
                let k = k.to_string_lossy();
                if k.is_empty() || k.contains(['=', '\0']) {
                    return Err(mlua::Error::runtime(format!(
                        "process.env: invalid variable name '{k}'"
                    )));
                }
                match v {
                    LuaValue::Nil | LuaValue::Boolean(false) => std::env::remove_var(&k),
                    LuaValue::String(s) if !s.as_bytes().contains(&0) => {
                        std::env::set_var(&k, &*s.to_string_lossy())
                    }
                    LuaValue::Integer(i) => std::env::set_var(&k, i.to_string()),
                    LuaValue::Number(n) => std::env::set_var(&k, n.to_string()),
                    other => {
                        return Err(mlua::Error::runtime(format!(
                            "process.env: a value must be a string (got {})",
                            args::type_name(&other)
                        )))
                    }
                }
                Ok(())
            })?,
        )?,
    )?;
    meta.raw_set(
        "__pairs",
        lua.create_function(|lua, _t: LuaValue| {
            let snapshot = lua.create_table()?;
            for (k, v) in std::env::vars_os() {
                snapshot.raw_set(
                    lua.create_string(k.as_encoded_bytes())?,
                    lua.create_string(v.as_encoded_bytes())?,
                )?;
            }
            let next: mlua::Function = crate::runtime::lazy::global(lua, "next")?
                .as_function()
                .cloned()
                .ok_or_else(|| mlua::Error::runtime("process.env: no 'next'"))?;
            Ok((next, snapshot, LuaValue::Nil))
        })?,
    )?;
    let t = lua.create_table()?;
    t.set_metatable(Some(meta))?;
    Ok(t)
}

/// What `exec` and `spawn` were asked to run.
#[derive(Default)]
struct Spec {
    cmd: String,
    args: Vec<String>,
    cwd: Option<String>,
    env: Vec<(String, Option<String>)>,
    stdin: Option<Vec<u8>>,
    timeout: Option<Duration>,
    shell: bool,
    inherit: bool,
}

/// `(cmd, [args], [opts])`; a table with string keys in place of `args` is the options.
fn spec(lua: &Lua, args: &MultiValue, func: &str) -> mlua::Result<Spec> {
    let mut spec = Spec {
        cmd: check_string(lua, args, 1, func)?.to_string_lossy(),
        ..Spec::default()
    };
    let (list, opts, opts_pos) = match args.get(1) {
        Some(LuaValue::Table(t))
            if matches!(args.get(2), None | Some(LuaValue::Nil)) && is_options(t)? =>
        {
            (None, Some(t.clone()), 2)
        }
        Some(LuaValue::Table(l)) => (Some(l.clone()), table_opt(args, 3, func)?, 3),
        None | Some(LuaValue::Nil) => (None, table_opt(args, 3, func)?, 3),
        Some(other) => return Err(bad_argument(2, func, "table", other)),
    };
    if let Some(list) = list {
        for i in 1..=list.raw_len() {
            let v: LuaValue = list.raw_get(i)?;
            match &v {
                LuaValue::String(_) | LuaValue::Integer(_) | LuaValue::Number(_) => spec
                    .args
                    .push(args::display_string(lua, &v)?.to_string_lossy()),
                other => {
                    return Err(arg_error(
                        2,
                        func,
                        &format!("argument {i} is a {}, not a string", args::type_name(other)),
                    ))
                }
            }
        }
    }
    let Some(opts) = opts else { return Ok(spec) };
    spec.cwd = opts.get::<Option<String>>("cwd")?;
    spec.shell = opts.get::<Option<bool>>("shell")?.unwrap_or(false);
    spec.inherit = opts.get::<Option<bool>>("inherit")?.unwrap_or(false);
    spec.stdin = match opts.get::<LuaValue>("stdin")? {
        LuaValue::Nil => None,
        LuaValue::String(s) => Some(s.as_bytes().to_vec()),
        other => {
            return Err(arg_error(
                opts_pos,
                func,
                &format!("stdin must be a string, not a {}", args::type_name(&other)),
            ))
        }
    };
    spec.timeout = match opts.get::<LuaValue>("timeout")? {
        LuaValue::Nil => None,
        // A century or more (math.huge) is no limit.
        LuaValue::Integer(i) if i >= 0 => {
            Some(args::seconds_to_duration(i as f64).unwrap_or(args::NO_LIMIT))
                .filter(|d| *d < args::NO_LIMIT)
        }
        LuaValue::Number(n) if n >= 0.0 => {
            Some(args::seconds_to_duration(n).unwrap_or(args::NO_LIMIT))
                .filter(|d| *d < args::NO_LIMIT)
        }
        _ => {
            return Err(arg_error(
                opts_pos,
                func,
                "timeout must be a non-negative number of seconds",
            ))
        }
    };
    if let Some(env) = opts.get::<Option<Table>>("env")? {
        env.for_each(|k: String, v: LuaValue| {
            let v = match v {
                LuaValue::Boolean(false) => None,
                LuaValue::String(s) => Some(s.to_string_lossy()),
                LuaValue::Integer(i) => Some(i.to_string()),
                LuaValue::Number(n) => Some(n.to_string()),
                other => {
                    return Err(arg_error(
                        opts_pos,
                        func,
                        &format!(
                            "env.{k} must be a string or false, not a {}",
                            args::type_name(&other)
                        ),
                    ))
                }
            };
            spec.env.push((k, v));
            Ok(())
        })?;
    }
    Ok(spec)
}

/// Whether a table is options rather than an argument list (it has string keys).
fn is_options(t: &Table) -> mlua::Result<bool> {
    let mut named = false;
    t.for_each(|k: LuaValue, _: LuaValue| {
        named |= matches!(k, LuaValue::String(_));
        Ok(())
    })?;
    Ok(named)
}

fn table_opt(args: &MultiValue, pos: usize, func: &str) -> mlua::Result<Option<Table>> {
    match args.get(pos - 1) {
        None | Some(LuaValue::Nil) => Ok(None),
        Some(LuaValue::Table(t)) => Ok(Some(t.clone())),
        Some(other) => Err(bad_argument(pos, func, "table", other)),
    }
}

/// Starts the child described by `spec`, registered with the run; `Err` is the `nil, err` text.
fn start(lua: &Lua, spec: &Spec, capture: bool) -> mlua::Result<Result<Arc<ChildInner>, String>> {
    let rt = ctx(lua).rt;
    let children = rt.family_state::<Children>();
    if children.ended.load(Ordering::Acquire) || rt.cancel.reason().is_some() {
        return Err(mlua::Error::runtime("process: the run is ending"));
    }
    let mut cmd = if spec.shell {
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(&spec.cmd).arg("sh").args(&spec.args);
        c
    } else {
        let mut c = Command::new(&spec.cmd);
        c.args(&spec.args);
        c
    };
    if let Some(dir) = &spec.cwd {
        cmd.current_dir(dir);
    }
    for (k, v) in &spec.env {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let piped = |yes: bool| {
        if yes {
            Stdio::piped()
        } else {
            Stdio::inherit()
        }
    };
    cmd.stdin(if spec.stdin.is_some() || !capture {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(piped(!spec.inherit))
    .stderr(piped(!spec.inherit));
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    crate::runtime::output::flush();
    let child = match cmd.spawn() {
        Ok(c) => Arc::new(ChildInner::new(c)),
        Err(e) => {
            return Ok(Err(format!(
                "exec {}: {}",
                spec.cmd,
                args::io_error_text(&e)
            )))
        }
    };
    let mut list = children.list.lock();
    // Forget children that have been reaped; reap those that exited unwatched.
    list.retain(|c| c.poll_exit().is_none());
    list.push(Arc::clone(&child));
    Ok(Ok(child))
}

/// Kills `exec`'s child if it is left (cancelled), so nothing outlives the call.
struct KillOnDrop(Arc<ChildInner>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.0.kill_and_reap();
    }
}

fn exec(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let spec = spec(lua, &args, "exec")?;
    let child = match start(lua, &spec, true)? {
        Ok(c) => c,
        Err(e) => return nil_err(lua, e),
    };
    let guard = KillOnDrop(Arc::clone(&child));
    let deadline = spec.timeout.and_then(|t| Instant::now().checked_add(t));
    let input = spec.stdin.clone().unwrap_or_default();
    let mut written = 0usize;
    if input.is_empty() {
        child.close_stdin();
    }
    let mut timed_out = false;
    let ctx = ctx(lua);
    let status = goroutine::io_wait(lua, &ctx, &mut || {
        if !timed_out && deadline.is_some_and(|d| Instant::now() >= d) {
            timed_out = true;
            child.signal(libc::SIGKILL);
        }
        if !timed_out {
            if written < input.len() {
                match child.write_some(&input[written..]) {
                    Ok(n) => written += n,
                    // The child stopped reading (exited, closed stdin): the rest is dropped.
                    Err(_) => written = input.len(),
                }
                if written >= input.len() {
                    child.close_stdin();
                }
            }
            child.stdout.fill("exec")?;
            child.stderr.fill("exec")?;
        }
        let outputs_done = timed_out
            || (child.stdout.fd_if_open().is_none() && child.stderr.fd_if_open().is_none());
        if outputs_done {
            if let Some(st) = child.poll_exit() {
                return Ok(Some(st));
            }
        }
        let mut fds = Vec::with_capacity(4);
        if !timed_out {
            fds.extend(child.stdout.fd_if_open().map(|fd| pollfd(fd, libc::POLLIN)));
            fds.extend(child.stderr.fd_if_open().map(|fd| pollfd(fd, libc::POLLIN)));
            if written < input.len() {
                fds.extend(child.stdin_fd().map(|fd| pollfd(fd, libc::POLLOUT)));
            }
        }
        fds.extend(child.pidfd().map(|fd| pollfd(fd, libc::POLLIN)));
        let now = Instant::now();
        let mut slice = deadline
            .filter(|_| !timed_out)
            .map_or(IO_SLICE, |d| d.saturating_duration_since(now).min(IO_SLICE));
        if child.pidfd().is_none() && outputs_done {
            slice = slice.min(Duration::from_millis(5));
        }
        poll(&mut fds, slice.max(Duration::from_millis(1)));
        Ok(None)
    })?;
    drop(guard);
    let t = child::status_table(lua, status)?;
    if timed_out {
        t.raw_set("ok", false)?;
        t.raw_set("timed_out", true)?;
    }
    t.raw_set("stdout", lua.create_string(child.stdout.take())?)?;
    t.raw_set("stderr", lua.create_string(child.stderr.take())?)?;
    Ok(multi([LuaValue::Table(t)]))
}

fn spawn(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let mut spec = spec(lua, &args, "spawn")?;
    if spec.stdin.is_some() || spec.timeout.is_some() {
        return Err(arg_error(
            3,
            "spawn",
            "stdin and timeout are exec options (use write and wait)",
        ));
    }
    spec.inherit = false;
    match start(lua, &spec, false)? {
        Ok(c) => Ok(multi([LuaValue::UserData(lua.create_userdata(Child(c))?)])),
        Err(e) => nil_err(lua, e),
    }
}
