//! A child process started by `process.spawn` or `process.exec`: its pipes (non-blocking, waited on
//! with `poll` in bounded slices, so every wait honours cancellation through `io_wait`), its exit
//! (a pidfd where the kernel has them), and killing it with its whole process group.

use crate::builtins::support::{self, method_table, multi, this, Method};
use crate::runtime::args::{self, arg_error, check_string, nil_err};
use crate::runtime::goroutine::{self, IO_SLICE};
use crate::runtime::value::{self, SharedHandle};
use mlua::{Lua, MultiValue, UserData, Value as LuaValue};
use parking_lot::Mutex;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{ChildStderr, ChildStdin, ChildStdout, ExitStatus};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest chunk `read()` returns when no size is given.
const DEFAULT_CHUNK: usize = 64 * 1024;
/// A line longer than this without a newline is an error rather than unbounded buffering.
const MAX_LINE: usize = 16 * 1024 * 1024;

/// One output pipe of a child: bytes read ahead (`read_line`) and whether it has ended.
pub struct Pipe<R> {
    fd: Option<RawFd>,
    state: Mutex<PipeState<R>>,
}

struct PipeState<R> {
    reader: Option<R>,
    buf: Vec<u8>,
    eof: bool,
}

impl<R: Read + AsRawFd> Pipe<R> {
    fn new(reader: Option<R>) -> Pipe<R> {
        let fd = reader.as_ref().map(|r| r.as_raw_fd());
        if let Some(fd) = fd {
            set_nonblocking(fd);
        }
        let eof = reader.is_none();
        Pipe {
            fd,
            state: Mutex::new(PipeState {
                reader,
                buf: Vec::new(),
                eof,
            }),
        }
    }

    /// Reads what is there without blocking into the buffer; `true` when something changed.
    pub fn fill(&self, func: &str) -> mlua::Result<bool> {
        let mut st = self.state.lock();
        let st = &mut *st;
        if st.eof {
            return Ok(false);
        }
        let Some(r) = st.reader.as_mut() else {
            return Ok(false);
        };
        let mut chunk = [0u8; 16 * 1024];
        let mut changed = false;
        loop {
            match r.read(&mut chunk) {
                Ok(0) => {
                    st.eof = true;
                    return Ok(true);
                }
                Ok(n) => {
                    support::append(&mut st.buf, &chunk[..n], func)?;
                    changed = true;
                    if st.buf.len() > MAX_LINE {
                        return Ok(true);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(changed),
                Err(_) => {
                    st.eof = true;
                    return Ok(true);
                }
            }
        }
    }

    /// Everything read so far, taken out.
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut self.state.lock().buf)
    }

    pub fn at_eof(&self) -> bool {
        let st = self.state.lock();
        st.eof && st.buf.is_empty()
    }

    pub fn fd_if_open(&self) -> Option<RawFd> {
        if self.state.lock().eof {
            None
        } else {
            self.fd
        }
    }

    /// Waits (cancellably) until `pick` can take something from the buffer or the pipe ends;
    /// `pick` gets the buffer and whether the pipe has ended.
    fn wait_for<T>(&self, lua: &Lua, func: &str, pick: &mut Pick<'_, T>) -> mlua::Result<T> {
        let ctx = crate::runtime::ctx(lua);
        goroutine::io_wait(lua, &ctx, &mut || {
            {
                let mut st = self.state.lock();
                let eof = st.eof;
                if let Some(v) = pick(&mut st.buf, eof)? {
                    return Ok(Some(v));
                }
            }
            if self.fill(func)? {
                return Ok(None);
            }
            if let Some(fd) = self.fd_if_open() {
                poll(&mut [pollfd(fd, libc::POLLIN)], IO_SLICE);
            }
            Ok(None)
        })
    }
}

/// Takes what a read wants from a pipe's buffer (`Some`), given whether the pipe has ended; `None`
/// to wait for more.
type Pick<'a, T> = dyn FnMut(&mut Vec<u8>, bool) -> mlua::Result<Option<T>> + 'a;

/// Sets `O_NONBLOCK` on our end of a pipe.
fn set_nonblocking(fd: RawFd) {
    // Safety: fcntl on a descriptor we own; failure leaves it blocking, which `poll` still guards.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}

pub fn pollfd(fd: RawFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

/// `poll(2)` for at most `timeout`; returns the number of ready descriptors (0 on timeout/EINTR).
pub fn poll(fds: &mut [libc::pollfd], timeout: Duration) -> usize {
    if fds.is_empty() {
        std::thread::sleep(timeout);
        return 0;
    }
    let ms = timeout.as_millis().clamp(1, i32::MAX as u128) as i32;
    // Safety: `fds` is a valid slice of pollfd for its length.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    n.max(0) as usize
}

/// A running (or finished) child process.
pub struct ChildInner {
    pub pid: u32,
    process: Mutex<std::process::Child>,
    status: Mutex<Option<ExitStatus>>,
    /// Readable once the child has exited (Linux 5.3+); without it exits are polled.
    pidfd: Option<OwnedFd>,
    stdin: Mutex<Option<ChildStdin>>,
    pub stdout: Pipe<ChildStdout>,
    pub stderr: Pipe<ChildStderr>,
}

impl ChildInner {
    pub fn new(mut child: std::process::Child) -> ChildInner {
        let pid = child.id();
        // Safety: pidfd_open on our own child's pid; a negative result means no pidfd.
        let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        let pidfd = (raw >= 0).then(|| unsafe { OwnedFd::from_raw_fd(raw as RawFd) });
        let stdin = child.stdin.take();
        if let Some(s) = &stdin {
            set_nonblocking(s.as_raw_fd());
        }
        ChildInner {
            pid,
            stdout: Pipe::new(child.stdout.take()),
            stderr: Pipe::new(child.stderr.take()),
            process: Mutex::new(child),
            status: Mutex::new(None),
            pidfd,
            stdin: Mutex::new(stdin),
        }
    }

    /// The exit status if the child has exited (reaping it), without blocking.
    pub fn poll_exit(&self) -> Option<ExitStatus> {
        let mut status = self.status.lock();
        if status.is_none() {
            if let Ok(Some(st)) = self.process.lock().try_wait() {
                *status = Some(st);
            }
        }
        *status
    }

    /// Waits at most `slice` for the child to exit.
    pub fn wait_slice(&self, slice: Duration) -> Option<ExitStatus> {
        if let Some(st) = self.poll_exit() {
            return Some(st);
        }
        match &self.pidfd {
            Some(fd) => {
                poll(&mut [pollfd(fd.as_raw_fd(), libc::POLLIN)], slice);
            }
            None => std::thread::sleep(slice.min(Duration::from_millis(10))),
        }
        self.poll_exit()
    }

    pub fn pidfd(&self) -> Option<RawFd> {
        self.pidfd.as_ref().map(|f| f.as_raw_fd())
    }

    /// Sends `signal` to the child's process group (it leads its own), unless it was reaped, so a
    /// reused pid is never signalled. `false` when it has already exited.
    pub fn signal(&self, signal: i32) -> bool {
        let status = self.status.lock();
        if status.is_some() {
            return false;
        }
        let pid = self.pid as libc::pid_t;
        // Safety: plain kill(2) on our own unreaped child (its pid cannot be reused meanwhile).
        unsafe { libc::kill(-pid, signal) == 0 || libc::kill(pid, signal) == 0 }
    }

    /// Kills the child's group and reaps it (bounded: a process stuck in the kernel is left).
    pub fn kill_and_reap(&self) {
        if self.poll_exit().is_some() {
            return;
        }
        self.signal(libc::SIGKILL);
        let end = Instant::now() + Duration::from_secs(2);
        while Instant::now() < end && self.wait_slice(Duration::from_millis(20)).is_none() {}
    }

    /// Closes the child's standard input.
    pub fn close_stdin(&self) {
        self.stdin.lock().take();
    }

    pub fn stdin_fd(&self) -> Option<RawFd> {
        self.stdin.lock().as_ref().map(|s| s.as_raw_fd())
    }

    /// Writes what it can of `data` without blocking; the count, or an error message.
    pub fn write_some(&self, data: &[u8]) -> Result<usize, String> {
        let mut guard = self.stdin.lock();
        let Some(stdin) = guard.as_mut() else {
            return Err("stdin is closed".into());
        };
        match stdin.write(data) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(0),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(args::io_error_text(&e)),
        }
    }
}

/// How a child ended: `{ok, code, signal}` (`code` is 128 + the signal's number when it was
/// killed, as a shell reports it).
pub fn status_table(lua: &Lua, st: ExitStatus) -> mlua::Result<mlua::Table> {
    let t = lua.create_table()?;
    match (st.code(), st.signal()) {
        (Some(code), _) => {
            t.raw_set("ok", code == 0)?;
            t.raw_set("code", code)?;
        }
        (None, Some(sig)) => {
            t.raw_set("ok", false)?;
            t.raw_set("code", 128 + sig)?;
            t.raw_set("signal", super::signal_name(sig))?;
        }
        (None, None) => t.raw_set("ok", false)?,
    }
    Ok(t)
}

/// A child process as a Lua value; crosses goroutines by reference (one goroutine may write while
/// another reads).
#[derive(Clone)]
pub struct Child(pub Arc<ChildInner>);

impl SharedHandle for Child {
    fn kind(&self) -> &'static str {
        "child process"
    }
    fn push(&self, lua: &Lua) -> mlua::Result<LuaValue> {
        value::register_handle_type::<Child>(lua);
        Ok(LuaValue::UserData(lua.create_userdata(self.clone())?))
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The methods of a child (also read by the catalog's test).
pub const METHODS: &[(&str, Method)] = &[
    ("write", child_write),
    ("close_stdin", child_close_stdin),
    ("read", child_read),
    ("read_line", child_read_line),
    ("read_stderr", child_read_stderr),
    ("kill", child_kill),
    ("wait", child_wait),
];

impl UserData for Child {
    fn add_methods<M: mlua::UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_function(
            mlua::MetaMethod::Index,
            |lua, (ud, key): (mlua::AnyUserData, LuaValue)| {
                if let LuaValue::String(k) = &key {
                    if k.as_bytes().as_ref() == b"pid" {
                        return Ok(LuaValue::Integer(ud.borrow::<Child>()?.0.pid.into()));
                    }
                }
                method_table(lua, "ChildProcess", METHODS)?.raw_get::<LuaValue>(key)
            },
        );
        m.add_meta_method(mlua::MetaMethod::ToString, |_, this, ()| {
            Ok(format!("child process {}", this.0.pid))
        });
    }
    fn add_fields<F: mlua::UserDataFields<Self>>(fields: &mut F) {
        fields.add_meta_field("__name", "ChildProcess");
    }
}

fn me(args: &MultiValue, method: &str) -> mlua::Result<Arc<ChildInner>> {
    Ok(this::<Child>(args, method, "ChildProcess")?.0)
}

/// `write(data)` → bytes written | `nil, err`: everything is written (waiting while the pipe is
/// full) before it returns.
fn child_write(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let child = me(&args, "write")?;
    let data = check_string(lua, &args, 2, "write")?;
    let data = data.as_bytes();
    let ctx = crate::runtime::ctx(lua);
    let mut off = 0;
    let result = goroutine::io_wait(lua, &ctx, &mut || {
        while off < data.len() {
            match child.write_some(&data[off..]) {
                Ok(0) => {
                    if let Some(fd) = child.stdin_fd() {
                        poll(&mut [pollfd(fd, libc::POLLOUT)], IO_SLICE);
                    }
                    return Ok(None);
                }
                Ok(n) => off += n,
                Err(e) => return Ok(Some(Err(e))),
            }
        }
        Ok(Some(Ok(())))
    })?;
    match result {
        Ok(()) => Ok(multi([LuaValue::Integer(off as i64)])),
        Err(e) => nil_err(lua, e),
    }
}

fn child_close_stdin(_lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    me(&args, "close_stdin")?.close_stdin();
    Ok(multi([LuaValue::Boolean(true)]))
}

fn size_arg(args: &MultiValue, func: &str) -> mlua::Result<usize> {
    match args.get(1) {
        None | Some(LuaValue::Nil) => Ok(DEFAULT_CHUNK),
        Some(_) => {
            let n = support::check_integer(args, 2, func)?;
            if n < 1 {
                return Err(arg_error(2, func, "size must be a positive integer"));
            }
            Ok(usize::try_from(n).unwrap_or(usize::MAX).min(MAX_LINE))
        }
    }
}

/// The next chunk of at most `n` bytes as soon as any is there; `nil` at end of output.
fn read_from<R: Read + AsRawFd>(
    lua: &Lua,
    pipe: &Pipe<R>,
    max: usize,
    func: &str,
) -> mlua::Result<MultiValue> {
    let chunk = pipe.wait_for(lua, func, &mut |buf, eof| {
        if !buf.is_empty() {
            let n = max.min(buf.len());
            return Ok(Some(Some(buf.drain(..n).collect::<Vec<u8>>())));
        }
        Ok(eof.then_some(None))
    })?;
    match chunk {
        Some(bytes) => Ok(multi([support::string(lua, bytes)?])),
        None => Ok(multi([LuaValue::Nil])),
    }
}

fn child_read(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let child = me(&args, "read")?;
    let max = size_arg(&args, "read")?;
    read_from(lua, &child.stdout, max, "read")
}

fn child_read_stderr(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let child = me(&args, "read_stderr")?;
    let max = size_arg(&args, "read_stderr")?;
    read_from(lua, &child.stderr, max, "read_stderr")
}

/// The next line without `\n` (or `\r\n`); at the end the last unterminated line, then `nil`.
fn child_read_line(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let child = me(&args, "read_line")?;
    let line = child.stdout.wait_for(lua, "read_line", &mut |buf, eof| {
        if let Some(i) = buf.iter().position(|&b| b == b'\n') {
            let mut line: Vec<u8> = buf.drain(..=i).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(Some(Some(line)));
        }
        if buf.len() > MAX_LINE {
            return Err(mlua::Error::runtime("read_line: line too long"));
        }
        if eof {
            return Ok(Some((!buf.is_empty()).then(|| std::mem::take(buf))));
        }
        Ok(None)
    })?;
    match line {
        Some(bytes) => Ok(multi([support::string(lua, bytes)?])),
        None => Ok(multi([LuaValue::Nil])),
    }
}

/// `kill([signal])`: sends a signal (default `SIGKILL`) to the child's process group; `true`, or
/// `false` once it has exited.
fn child_kill(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let child = me(&args, "kill")?;
    let sig = match args.get(1) {
        None | Some(LuaValue::Nil) => libc::SIGKILL,
        Some(LuaValue::Integer(n)) if (1..=64).contains(n) => *n as i32,
        Some(_) => {
            let name = check_string(lua, &args, 2, "kill")?.to_string_lossy();
            super::signal_number(&name)
                .ok_or_else(|| arg_error(2, "kill", &format!("unknown signal '{name}'")))?
        }
    };
    Ok(multi([LuaValue::Boolean(child.signal(sig))]))
}

/// `wait([timeout])` → `{ok, code, signal}`, or `nil, "timeout"` (the child keeps running).
fn child_wait(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let child = me(&args, "wait")?;
    let deadline = match args.get(1) {
        None | Some(LuaValue::Nil) => None,
        Some(_) => {
            let s = args::check_number(&args, 2, "wait")?;
            if s.is_nan() || s < 0.0 {
                return Err(arg_error(
                    2,
                    "wait",
                    "timeout must be a non-negative number",
                ));
            }
            Duration::try_from_secs_f64(s)
                .ok()
                .and_then(|d| Instant::now().checked_add(d))
        }
    };
    let ctx = crate::runtime::ctx(lua);
    let status = goroutine::io_wait(lua, &ctx, &mut || {
        if let Some(st) = child.poll_exit() {
            return Ok(Some(Some(st)));
        }
        let now = Instant::now();
        let slice = match deadline {
            Some(d) if d <= now => return Ok(Some(None)),
            Some(d) => (d - now).min(IO_SLICE),
            None => IO_SLICE,
        };
        Ok(child.wait_slice(slice).map(Some))
    })?;
    match status {
        Some(st) => Ok(multi([LuaValue::Table(status_table(lua, st)?)])),
        None => nil_err(lua, "timeout"),
    }
}
