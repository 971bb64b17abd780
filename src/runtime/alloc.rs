//! A counting global allocator (installed by the binary) so `check_memory` reports real numbers.
//! Lua's own allocations go through it too: mlua allocates with Rust's global allocator.
//! The counters are process-wide by nature (there is one allocator per process).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counter shards: one process-wide pair of counters, updated by every allocation on every core,
/// bounced its cache line between the cores on each update (12% of the CPU time of a goroutine
/// spawn burst went there). Each thread counts in its own shard; readers add the shards up.
const SHARDS: usize = 32;

/// One shard, alone on its cache line. `live` wraps below zero when a thread frees memory another
/// thread allocated; the sum over all shards is right.
#[repr(align(128))]
struct Shard {
    live: AtomicUsize,
    total: AtomicUsize,
}

static COUNTS: [Shard; SHARDS] = [const {
    Shard {
        live: AtomicUsize::new(0),
        total: AtomicUsize::new(0),
    }
}; SHARDS];
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // Const-initialised and without a destructor: safe to use from inside the allocator.
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// This thread's shard (threads take shards in turn).
#[inline]
fn shard() -> &'static Shard {
    let i = SHARD
        .try_with(|s| {
            let mut i = s.get();
            if i == usize::MAX {
                i = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
                s.set(i);
            }
            i
        })
        .unwrap_or(0);
    &COUNTS[i]
}

/// The system allocator, counting bytes live and bytes ever allocated.
pub struct Counting;

// Safety: every call is forwarded to the system allocator unchanged; we only count.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            let s = shard();
            s.live.fetch_add(layout.size(), Ordering::Relaxed);
            s.total.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        shard().live.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            let s = shard();
            s.live
                .fetch_add(new_size.wrapping_sub(layout.size()), Ordering::Relaxed);
            s.total
                .fetch_add(new_size.saturating_sub(layout.size()), Ordering::Relaxed);
        }
        p
    }
}

/// Bytes live now and bytes allocated since start (0, 0 when the counting allocator is not installed).
pub fn counters() -> (usize, usize) {
    COUNTS.iter().fold((0usize, 0usize), |(live, total), s| {
        (
            live.wrapping_add(s.live.load(Ordering::Relaxed)),
            total.wrapping_add(s.total.load(Ordering::Relaxed)),
        )
    })
}

/// Resident set size from `/proc/self/statm` (0 if unavailable).
pub fn rss_bytes() -> usize {
    let page = 4096;
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<usize>().ok())
        })
        .map(|pages| pages * page)
        .unwrap_or(0)
}
