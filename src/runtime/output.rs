//! Standard output shared with Lua's own `io.write`: both go through C's `stdout` stream, so their
//! output stays in order. A `print` writes its whole line under the stream's lock, which keeps
//! concurrent goroutines from interleaving inside a line, and flushes it, as stock `print` does
//! (`lua_writeline`): through a pipe, lines arrive as they are printed and in order with stderr.

use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

extern "C" {
    // glibc's `stdout` stream, the one Lua's io library and `print` use.
    #[link_name = "stdout"]
    static mut C_STDOUT: *mut libc::FILE;
    fn flockfile(f: *mut libc::FILE);
    fn funlockfile(f: *mut libc::FILE);
    fn fwrite_unlocked(p: *const libc::c_void, size: usize, n: usize, f: *mut libc::FILE) -> usize;
    fn fflush_unlocked(f: *mut libc::FILE) -> libc::c_int;
}

/// Prints above the REPL's prompt (rustyline's external printer) while it waits for input.
type PromptPrinter = Box<dyn rustyline::ExternalPrinter + Send>;

static PROMPTING: AtomicBool = AtomicBool::new(false);
static PROMPT_PRINTER: Mutex<Option<PromptPrinter>> = Mutex::new(None);

/// Installs (or removes) the REPL's printer.
pub fn set_prompt_printer(p: Option<PromptPrinter>) {
    *PROMPT_PRINTER.lock() = p;
}

/// Whether the REPL's prompt is waiting for input: `print` then goes through its printer.
pub fn prompting(on: bool) {
    PROMPTING.store(on, Ordering::Release);
}

/// Stdout locked for writing one line in pieces (`print`'s values and tabs, without joining them
/// first); dropping it flushes the line and unlocks. `None` while the REPL's prompt waits for input:
/// the line must then be whole, for the prompt's printer ([`write_line`]).
pub struct LineWriter(*mut libc::FILE);

/// Locks stdout for one line, unless the REPL's prompt is waiting (see [`LineWriter`]).
pub fn line_writer() -> Option<LineWriter> {
    if PROMPTING.load(Ordering::Acquire) {
        return None;
    }
    // Safety: `stdout` is initialised by libc before main and never reassigned by us; flockfile
    // makes the line atomic with respect to other threads using the stream.
    unsafe {
        let out = C_STDOUT;
        flockfile(out);
        Some(LineWriter(out))
    }
}

impl LineWriter {
    pub fn write(&mut self, bytes: &[u8]) {
        // Safety: the stream is locked by this writer.
        unsafe {
            fwrite_unlocked(
                bytes.as_ptr() as *const libc::c_void,
                1,
                bytes.len(),
                self.0,
            );
        }
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        // Safety: the stream was locked by `line_writer`.
        unsafe {
            fflush_unlocked(self.0);
            funlockfile(self.0);
        }
    }
}

/// Writes `line` (already ending in '\n') to stdout as one unit, and flushes it.
pub fn write_line(line: &[u8]) {
    if PROMPTING.load(Ordering::Acquire) {
        if let Some(p) = PROMPT_PRINTER.lock().as_mut() {
            flush();
            if p.print(String::from_utf8_lossy(line).into_owned()).is_ok() {
                return;
            }
        }
    }
    // Safety: `stdout` is initialised by libc before main and never reassigned by us; flockfile makes
    // the write atomic with respect to other threads using the stream.
    unsafe {
        let out = C_STDOUT;
        flockfile(out);
        fwrite_unlocked(line.as_ptr() as *const libc::c_void, 1, line.len(), out);
        fflush_unlocked(out);
        funlockfile(out);
    }
}

/// Flushes stdout (before blocking, before an error report, at exit).
pub fn flush() {
    // Safety: as above.
    unsafe {
        libc::fflush(C_STDOUT);
    }
}

/// A line for the person at the prompt: above the prompt while it waits, else on stdout.
pub fn print_line(line: &str) {
    write_line(line.as_bytes());
}
