//! The global allocator (installed by the binary): the system allocator behind a small per-thread
//! cache of freed blocks, counting bytes so `check_memory` reports real numbers. Lua's allocations go
//! through it too (mlua allocates with Rust's global allocator).
//!
//! Why a cache: a goroutine builds a Lua state of ~300 small objects and frees them all when it
//! ends; glibc's own per-thread cache keeps 7 blocks per size, so most of those went through its
//! slower paths, which took 30% of the instructions of a `go()` burst (callgrind). Freed blocks of up
//! to [`SMALL_MAX`] bytes now stay with the thread (up to [`CACHE_MAX`] bytes) for its next
//! allocations of the same size class; every small block is allocated at its class's full size, so
//! any block of a class serves any request of that class. A block freed on another thread than the
//! one that allocated it simply joins that thread's cache: they are all plain `malloc` blocks, and
//! what leaves a cache goes back with `free`.
//!
//! The counters are process-wide by nature (there is one allocator per process). Each thread adds
//! its allocations up locally and publishes them to one of [`SHARDS`] shared counters once they
//! reach [`PUBLISH_AT`] bytes (or when it blocks or ends, see [`settle_thread`]): a process-wide
//! counter updated on every allocation bounced its cache line between the cores (12% of a burst's
//! CPU time).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Size classes are `malloc`'s own: chunks are multiples of 16 bytes with 8 bytes of header, so
/// blocks of 24, 40, 56, … usable bytes waste nothing (rounding requests up to multiples of 16
/// instead cost ~4 KB per goroutine).
const CLASS_MIN: usize = 24;
const CLASS_STEP: usize = 16;
const CLASSES: usize = 33;
/// Largest request served from the per-thread cache.
const SMALL_MAX: usize = CLASS_MIN + (CLASSES - 1) * CLASS_STEP;
/// Most bytes one thread keeps in its cache (a goroutine's fresh state is ~45 KB of blocks).
const CACHE_MAX: usize = 64 * 1024;
/// Most blocks of one class one thread keeps.
const CLASS_MAX: u16 = 128;
/// A thread publishes its counts once they have moved this far.
const PUBLISH_AT: usize = 16 * 1024;
/// Shared counter shards; each thread publishes to one.
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

/// A thread's cached blocks (a free list per class, linked through each block's first word) and
/// its counts not yet published.
struct ThreadCache {
    heads: [*mut u8; CLASSES],
    counts: [u16; CLASSES],
    cached: usize,
    /// Bytes allocated minus bytes freed, not yet published (wrapping).
    live: usize,
    /// Bytes allocated, not yet published.
    total: usize,
    shard: usize,
}

impl ThreadCache {
    const fn new() -> ThreadCache {
        ThreadCache {
            heads: [std::ptr::null_mut(); CLASSES],
            counts: [0; CLASSES],
            cached: 0,
            live: 0,
            total: 0,
            shard: usize::MAX,
        }
    }

    #[inline]
    fn count(&mut self, allocated: usize, freed: usize) {
        self.live = self.live.wrapping_add(allocated).wrapping_sub(freed);
        self.total += allocated;
        let moved = (self.live as isize).unsigned_abs();
        if moved >= PUBLISH_AT || self.total >= PUBLISH_AT {
            self.publish();
        }
    }

    fn publish(&mut self) {
        if self.shard == usize::MAX {
            self.shard = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
        }
        let s = &COUNTS[self.shard];
        s.live.fetch_add(self.live, Ordering::Relaxed);
        s.total.fetch_add(self.total, Ordering::Relaxed);
        self.live = 0;
        self.total = 0;
    }

    /// A cached block of `class`, or null.
    #[inline]
    fn pop(&mut self, class: usize) -> *mut u8 {
        let p = self.heads[class];
        if !p.is_null() {
            // Safety: every block in a list is a live `malloc` block of at least 24 bytes whose
            // first word holds the next block (see `push`).
            self.heads[class] = unsafe { *(p as *mut *mut u8) };
            self.counts[class] -= 1;
            self.cached -= class_size(class);
        }
        p
    }

    /// Keeps `p`, a free block of `class`; `false` when its class holds enough already.
    #[inline]
    fn push(&mut self, class: usize, p: *mut u8) -> bool {
        let size = class_size(class);
        if self.counts[class] >= CLASS_MAX {
            return false;
        }
        if self.cached + size > CACHE_MAX {
            // Blocks of classes this thread frees but does not allocate (memory made on another
            // thread) would otherwise fill the cache for good: start again.
            self.release();
        }
        // Safety: `p` is a free block of `size` >= 24 bytes, 16-aligned; it is ours now.
        unsafe { *(p as *mut *mut u8) = self.heads[class] };
        self.heads[class] = p;
        self.counts[class] += 1;
        self.cached += size;
        true
    }

    /// Gives every cached block back to `malloc`.
    fn release(&mut self) {
        for class in 0..CLASSES {
            loop {
                let p = self.pop(class);
                if p.is_null() {
                    break;
                }
                // Safety: a block allocated with `class_layout(class)` and free.
                unsafe { System.dealloc(p, class_layout(class)) };
            }
        }
    }
}

/// A thread's cache lives on the heap, reached through one pointer in thread-local storage: a
/// goroutine thread's locals share a page with its stack, and the ~400-byte cache in them pushed
/// that onto a page more (4 KB for each of 10 000 blocked goroutines).
struct CacheSlot(Cell<*mut ThreadCache>);

impl Drop for CacheSlot {
    fn drop(&mut self) {
        let p = self.0.replace(std::ptr::null_mut());
        if p.is_null() {
            return;
        }
        // Safety: `p` came from `with_cache`'s `System.alloc` of a `ThreadCache` and is no longer
        // reachable from the slot.
        unsafe {
            (*p).release();
            (*p).publish();
            System.dealloc(p as *mut u8, Layout::new::<ThreadCache>());
        }
    }
}

thread_local! {
    static CACHE: CacheSlot = const { CacheSlot(Cell::new(std::ptr::null_mut())) };
}

/// Runs `f` on this thread's cache; `None` once the thread's locals are gone (thread exit), or if
/// the cache cannot be made. `f` must not allocate through the global allocator (it never does: it
/// calls `System` directly).
#[inline]
fn with_cache<R>(f: impl FnOnce(&mut ThreadCache) -> R) -> Option<R> {
    CACHE
        .try_with(|slot| {
            let mut p = slot.0.get();
            if p.is_null() {
                // Safety: a plain allocation of the right layout, initialised before use.
                unsafe {
                    p = System.alloc(Layout::new::<ThreadCache>()) as *mut ThreadCache;
                    if p.is_null() {
                        return None;
                    }
                    p.write(ThreadCache::new());
                }
                slot.0.set(p);
            }
            // Safety: the cache is only reached through here, and `f` cannot re-enter (it does not
            // call the global allocator), so this is the only reference.
            Some(f(unsafe { &mut *p }))
        })
        .ok()
        .flatten()
}

/// The class of a request, if it is served from the cache.
#[inline]
fn small_class(layout: &Layout) -> Option<usize> {
    (layout.size() <= SMALL_MAX && layout.align() <= CLASS_STEP)
        .then(|| layout.size().saturating_sub(CLASS_MIN).div_ceil(CLASS_STEP))
}

#[inline]
fn class_size(class: usize) -> usize {
    CLASS_MIN + class * CLASS_STEP
}

#[inline]
fn class_layout(class: usize) -> Layout {
    // Safety: a non-zero size; 16 is the alignment `malloc` gives every block.
    unsafe { Layout::from_size_align_unchecked(class_size(class), CLASS_STEP) }
}

/// Counts directly into a shard (a thread whose locals are gone).
fn count_shared(allocated: usize, freed: usize) {
    let s = &COUNTS[0];
    s.live
        .fetch_add(allocated.wrapping_sub(freed), Ordering::Relaxed);
    s.total.fetch_add(allocated, Ordering::Relaxed);
}

/// The system allocator behind a per-thread block cache, counting bytes live and ever allocated.
pub struct Counting;

// Safety: small blocks are `malloc` blocks of their class's full size (so any block of a class fits
// any request of it), handed out at most once until freed again; everything else goes to the system
// allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let size = layout.size();
        let Some(class) = small_class(&layout) else {
            let p = System.alloc(layout);
            if !p.is_null() && with_cache(|c| c.count(size, 0)).is_none() {
                count_shared(size, 0);
            }
            return p;
        };
        let cached = with_cache(|c| {
            c.count(size, 0);
            c.pop(class)
        });
        match cached {
            Some(p) if !p.is_null() => p,
            Some(_) => System.alloc(class_layout(class)),
            None => {
                count_shared(size, 0);
                System.alloc(class_layout(class))
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let size = layout.size();
        let Some(class) = small_class(&layout) else {
            System.dealloc(ptr, layout);
            if with_cache(|c| c.count(0, size)).is_none() {
                count_shared(0, size);
            }
            return;
        };
        let kept = with_cache(|c| {
            c.count(0, size);
            c.push(class, ptr)
        });
        match kept {
            Some(true) => {}
            Some(false) => System.dealloc(ptr, class_layout(class)),
            None => {
                count_shared(0, size);
                System.dealloc(ptr, class_layout(class));
            }
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Safety (for the callers' contract): `new_size` is non-zero and, rounded to the alignment,
        // does not overflow.
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
        match (small_class(&layout), small_class(&new_layout)) {
            (Some(a), Some(b)) if a == b => {
                // The block already has its class's full size.
                if with_cache(|c| c.count(new_size, layout.size())).is_none() {
                    count_shared(new_size, layout.size());
                }
                ptr
            }
            (None, None) => {
                let p = System.realloc(ptr, layout, new_size);
                if !p.is_null() && with_cache(|c| c.count(new_size, layout.size())).is_none() {
                    count_shared(new_size, layout.size());
                }
                p
            }
            _ => {
                let p = self.alloc(new_layout);
                if !p.is_null() {
                    std::ptr::copy_nonoverlapping(ptr, p, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
                p
            }
        }
    }
}

/// Publishes this thread's counts and gives its cached blocks back, for a thread about to wait for
/// long (a blocked goroutine keeps nothing it does not use; `check_memory` sees its counts).
pub fn settle_thread() {
    // The cache itself goes too: it is made again at the thread's next allocation.
    let _ = CACHE.try_with(|slot| drop(CacheSlot(Cell::new(slot.0.replace(std::ptr::null_mut())))));
}

/// Bytes live now and bytes allocated since start (0, 0 when the counting allocator is not installed).
/// Other threads' counts are up to [`PUBLISH_AT`] bytes behind until they publish.
pub fn counters() -> (usize, usize) {
    with_cache(|c| c.publish());
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).expect("valid layout")
    }

    /// Fills `len` bytes at `p` with a pattern derived from `seed`.
    unsafe fn fill(p: *mut u8, len: usize, seed: u8) {
        for i in 0..len {
            *p.add(i) = seed.wrapping_add(i as u8);
        }
    }

    unsafe fn check(p: *const u8, len: usize, seed: u8) -> bool {
        (0..len).all(|i| *p.add(i) == seed.wrapping_add(i as u8))
    }

    #[test]
    fn a_freed_block_serves_the_next_request_of_its_class() {
        unsafe {
            let a = Counting.alloc(layout(30, 8));
            Counting.dealloc(a, layout(30, 8));
            // 30 and 40 bytes are one class (24 + 16): the same block comes back.
            let b = Counting.alloc(layout(40, 8));
            assert_eq!(a, b);
            // Growing within the class keeps the block; its bytes stay.
            fill(b, 40, 7);
            let c = Counting.realloc(b, layout(40, 8), 33);
            assert_eq!(b, c);
            assert!(check(c, 33, 7));
            Counting.dealloc(c, layout(33, 8));
        }
    }

    #[test]
    fn realloc_across_classes_and_to_and_from_large_keeps_the_bytes() {
        unsafe {
            let mut p = Counting.alloc(layout(10, 1));
            fill(p, 10, 3);
            let mut len = 10;
            for next in [100, 537, 5000, 300, 24, 1] {
                let q = Counting.realloc(p, layout(len, 1), next);
                assert!(!q.is_null());
                assert!(check(q, len.min(next), 3), "{len} -> {next}");
                fill(q, next, 3);
                p = q;
                len = next;
            }
            Counting.dealloc(p, layout(len, 1));
        }
    }

    #[test]
    fn over_aligned_requests_bypass_the_cache() {
        unsafe {
            let p = Counting.alloc(layout(64, 64));
            assert_eq!(p as usize % 64, 0);
            Counting.dealloc(p, layout(64, 64));
            let q = Counting.alloc(layout(64, 64));
            assert_eq!(q as usize % 64, 0);
            Counting.dealloc(q, layout(64, 64));
        }
    }

    #[test]
    fn blocks_freed_on_another_thread_are_fine() {
        let ptrs: Vec<usize> = (0..1000)
            .map(|i| unsafe {
                let p = Counting.alloc(layout(16 + i % 400, 8));
                fill(p, 16 + i % 400, i as u8);
                p as usize
            })
            .collect();
        std::thread::spawn(move || {
            for (i, p) in ptrs.into_iter().enumerate() {
                unsafe {
                    assert!(check(p as *const u8, 16 + i % 400, i as u8));
                    Counting.dealloc(p as *mut u8, layout(16 + i % 400, 8));
                }
            }
            // Reused on this thread, then given back when it ends.
            for i in 0..1000 {
                unsafe {
                    let p = Counting.alloc(layout(16 + i % 400, 8));
                    fill(p, 16 + i % 400, 1);
                    Counting.dealloc(p, layout(16 + i % 400, 8));
                }
            }
        })
        .join()
        .expect("thread");
    }

    #[test]
    fn counters_see_what_this_thread_allocated() {
        let (live0, total0) = counters();
        let p = unsafe { Counting.alloc(layout(100_000, 8)) };
        let (live1, total1) = counters();
        assert!(
            live1.wrapping_sub(live0) as isize >= 100_000,
            "{live0} -> {live1}"
        );
        assert!(total1 - total0 >= 100_000);
        unsafe { Counting.dealloc(p, layout(100_000, 8)) };
        let (live2, _) = counters();
        assert!((live2.wrapping_sub(live0) as isize) < 100_000);
    }

    proptest! {
        /// Random allocations, reallocations and frees against a model: every live block keeps its
        /// bytes, and no two live blocks overlap.
        #[test]
        fn random_use_keeps_every_block_intact(ops in proptest::collection::vec((0u8..3, 1usize..2000, any::<u8>()), 1..300)) {
            let mut live: Vec<(*mut u8, usize, u8)> = Vec::new();
            for (op, size, seed) in ops {
                unsafe {
                    match op {
                        0 => {
                            let p = Counting.alloc(layout(size, 8));
                            prop_assert!(!p.is_null());
                            fill(p, size, seed);
                            live.push((p, size, seed));
                        }
                        1 if !live.is_empty() => {
                            let (p, len, s) = live.swap_remove(seed as usize % live.len());
                            let q = Counting.realloc(p, layout(len, 8), size);
                            prop_assert!(check(q, len.min(size), s));
                            fill(q, size, seed);
                            live.push((q, size, seed));
                        }
                        _ if !live.is_empty() => {
                            let (p, len, s) = live.swap_remove(seed as usize % live.len());
                            prop_assert!(check(p, len, s));
                            Counting.dealloc(p, layout(len, 8));
                        }
                        _ => {}
                    }
                }
                let mut spans: Vec<(usize, usize)> = live.iter().map(|&(p, l, _)| (p as usize, p as usize + l)).collect();
                spans.sort();
                prop_assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0), "overlapping blocks");
            }
            for (p, len, s) in live {
                unsafe {
                    prop_assert!(check(p, len, s));
                    Counting.dealloc(p, layout(len, 8));
                }
            }
        }
    }
}
