//! Standard output shared with Lua's own `io.write`: both go through C's `stdout` stream, so their
//! output stays in order. A `print` writes its whole line under the stream's lock, which keeps
//! concurrent goroutines from interleaving inside a line.

extern "C" {
    // glibc's `stdout` stream, the one Lua's io library and `print` use.
    #[link_name = "stdout"]
    static mut C_STDOUT: *mut libc::FILE;
    fn flockfile(f: *mut libc::FILE);
    fn funlockfile(f: *mut libc::FILE);
    fn fwrite_unlocked(p: *const libc::c_void, size: usize, n: usize, f: *mut libc::FILE) -> usize;
}

/// Writes `line` (already ending in '\n') to stdout as one unit.
pub fn write_line(line: &[u8]) {
    // Safety: `stdout` is initialised by libc before main and never reassigned by us; flockfile makes
    // the write atomic with respect to other threads using the stream.
    unsafe {
        let out = C_STDOUT;
        flockfile(out);
        fwrite_unlocked(line.as_ptr() as *const libc::c_void, 1, line.len(), out);
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
