//! The REPL through a real pseudo-terminal, which is the REPL's controlling terminal, so a typed ^C
//! becomes SIGINT as at a real terminal: timers fire while the prompt waits for input, `os.exit`
//! from a timer ends the session even though the line editor is still waiting, and Ctrl-C stops a
//! running line wherever it is (a loop, `sleep`, `receive`), after which the prompt works again with
//! the state kept. Every step waits for the prompt or the output it expects; nothing sleeps.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Pty {
    master: std::fs::File,
    child: Child,
    seen: String,
    /// How much of `seen` earlier expectations consumed.
    pos: usize,
}

impl Pty {
    fn start(test: &str) -> Pty {
        let (mut master, mut slave) = (0, 0);
        // Safety: openpty writes the two descriptors; the other arguments may be null.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "openpty failed");
        // Safety: both descriptors were just opened and are owned here.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let home = std::env::temp_dir().join(format!("solvm-repl-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&home).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_solvm"));
        cmd.env("TERM", "xterm")
            .env("HOME", &home)
            .env("NO_COLOR", "1")
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // Safety: only async-signal-safe calls between fork and exec: a new session whose
        // controlling terminal is the pty (stdin), so the line discipline turns ^C into SIGINT.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        Pty {
            master: std::fs::File::from(master),
            child,
            seen: String::new(),
            pos: 0,
        }
    }

    /// Reads until `want` appears after what earlier expectations matched, or panics after 20 s.
    fn expect(&mut self, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(i) = self.seen[self.pos..].find(want) {
                self.pos += i + want.len();
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "never saw {want:?}; got {:?}", self.seen);
            let mut pfd = libc::pollfd {
                fd: self.master.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // Safety: one valid pollfd.
            let n = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(1000) as i32) };
            if n <= 0 {
                continue;
            }
            let mut buf = [0u8; 4096];
            match self.master.read(&mut buf) {
                Ok(0) | Err(_) => panic!("pty closed before {want:?}; got {:?}", self.seen),
                Ok(n) => self.seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
    }

    /// Types Ctrl-C.
    fn ctrl_c(&mut self) {
        self.master.write_all(b"\x03").unwrap();
    }

    fn type_line(&mut self, line: &str) {
        self.master.write_all(line.as_bytes()).unwrap();
        self.master.write_all(b"\r").unwrap();
    }

    fn wait_exit(&mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the REPL did not exit; got {:?}", self.seen);
            }
            // Keep the pty drained so the child never blocks writing.
            let mut pfd = libc::pollfd {
                fd: self.master.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // Safety: one valid pollfd.
            if unsafe { libc::poll(&mut pfd, 1, 50) } > 0 {
                let mut buf = [0u8; 4096];
                if let Ok(n) = self.master.read(&mut buf) {
                    self.seen.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn timers_fire_while_the_prompt_waits() {
    let mut p = Pty::start("timers");
    p.expect("Ctrl-D to exit");
    p.expect("> ");
    p.type_line("n = 0 id = set_interval(function() n = n + 1 print('tick ' .. n) end, 0.05)");
    // Nothing else is typed: the ticks come while the prompt waits.
    p.expect("tick 5");
    p.expect("> ");
    p.type_line("clear_interval(id) print('n>=5', n >= 5)");
    p.expect("n>=5\ttrue");
    // Typed-ahead input is dropped when the editor enters raw mode: wait for each prompt.
    p.expect("> ");
    p.type_line("1 + 1");
    p.expect("2\r\n");
    p.expect("> ");
    p.type_line("set_timeout(function() os.exit(3) end, 0.1)");
    assert_eq!(p.wait_exit(), Some(3), "{:?}", p.seen);
}

#[test]
fn ctrl_c_stops_a_running_loop_and_the_prompt_works_again() {
    let mut p = Pty::start("ctrl-c");
    p.expect("Ctrl-D to exit");
    p.expect("> ");
    // The marker is joined at run time: the echo of the typed line must not match it.
    p.type_line("print('spin' .. 'ning') while true do end");
    // Printed by the running line: the loop is on (the hook stops it even if not yet entered).
    p.expect("spinning");
    p.ctrl_c();
    p.expect("interrupted");
    p.expect("> ");
    p.type_line("1 + 1");
    p.expect("2\r\n");
    p.expect("> ");
    p.type_line("os.exit(0)");
    assert_eq!(p.wait_exit(), Some(0), "{:?}", p.seen);
}

#[test]
fn ctrl_c_stops_a_blocked_line_and_keeps_the_state() {
    let mut p = Pty::start("ctrl-c-blocked");
    p.expect("Ctrl-D to exit");
    p.expect("> ");
    p.type_line("x = 41 ch = chan()");
    p.expect("> ");
    for (i, (line, running)) in [
        ("print('sleep' .. 'ing') sleep(60)", "sleeping"),
        ("print('receiv' .. 'ing') receive(ch)", "receiving"),
        (
            "print('wait' .. 'ing') go(function() sleep(60) end) wait()",
            "waiting",
        ),
    ]
    .iter()
    .enumerate()
    {
        p.type_line(line);
        // Printed by the line itself (the typed text's echo does not contain it).
        p.expect(running);
        p.ctrl_c();
        if i == 0 {
            // More Ctrl-Cs while the line is stopping (or already stopped) change nothing.
            p.ctrl_c();
        }
        p.expect("interrupted");
        p.expect("> ");
        p.type_line("x + 1");
        p.expect("42\r\n");
        p.expect("> ");
    }
    // The prompt's own timers still run after an interrupted line.
    p.type_line("set_timeout(function() print('timer ' .. 'ran') end, 0.05) sleep(0.5)");
    p.expect("timer ran");
    p.expect("> ");
    p.type_line("os.exit(x)");
    assert_eq!(p.wait_exit(), Some(41), "{:?}", p.seen);
}
