//! Spin-then-park for blocked operations (a SolVM patch; not part of upstream crossbeam).
//!
//! Upstream parks a blocked thread at once. Waking a parked thread costs a futex wake-up, and on a
//! virtual machine whose other vCPU is idle (halted) that wake-up takes tens of microseconds: a
//! channel ping-pong between two threads then costs ~80 µs per round trip. Spinning a moment before
//! parking lets an answer that comes quickly be seen without any of that. Spinning is off until
//! [`configure`] turns it on, and then only inside [`spinning`] on the calling thread (a wait that
//! expects a quick answer); at most `max_spinners` threads spin at once, so a machine whose cores
//! are all busy loses at most that many cores for `budget` each time.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static BUDGET_NANOS: AtomicU64 = AtomicU64::new(0);
static MAX_SPINNERS: AtomicUsize = AtomicUsize::new(0);
static SPINNERS: AtomicUsize = AtomicUsize::new(0);
static SPINS: AtomicU64 = AtomicU64::new(0);
static HITS: AtomicU64 = AtomicU64::new(0);

/// How many waits spun, and how many of them saw their answer while spinning (never parked).
pub fn stats() -> (u64, u64) {
    (SPINS.load(Ordering::Relaxed), HITS.load(Ordering::Relaxed))
}

/// Lets a blocked operation spin for up to `budget` before it parks, with at most `max_spinners`
/// threads spinning at once. `budget` zero or `max_spinners` zero turns spinning off (the default).
pub fn configure(budget: Duration, max_spinners: usize) {
    BUDGET_NANOS.store(
        budget.as_nanos().min(u64::MAX as u128) as u64,
        Ordering::Relaxed,
    );
    MAX_SPINNERS.store(max_spinners, Ordering::Relaxed);
}

std::thread_local! {
    static HERE: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with spinning allowed for the blocking operations this thread does in it.
pub fn spinning<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            HERE.with(|h| h.set(self.0));
        }
    }
    let _restore = Restore(HERE.with(|h| h.replace(true)));
    f()
}

/// Polls `ready` while spinning is allowed and the budget (or `deadline`) has not run out.
pub(crate) fn spin_until<T>(mut ready: impl FnMut() -> Option<T>, deadline: Option<Instant>) -> Option<T> {
    let budget = BUDGET_NANOS.load(Ordering::Relaxed);
    if budget == 0 || !HERE.with(|h| h.get()) {
        return None;
    }
    let max = MAX_SPINNERS.load(Ordering::Relaxed);
    if SPINNERS
        .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| (n < max).then_some(n + 1))
        .is_err()
    {
        return None;
    }
    struct Slot;
    impl Drop for Slot {
        fn drop(&mut self) {
            SPINNERS.fetch_sub(1, Ordering::AcqRel);
        }
    }
    let _slot = Slot;
    SPINS.fetch_add(1, Ordering::Relaxed);
    let start = Instant::now();
    let mut end = start + Duration::from_nanos(budget);
    if let Some(d) = deadline {
        end = end.min(d);
    }
    let found = 'spin: loop {
        for _ in 0..32 {
            if let Some(v) = ready() {
                break 'spin Some(v);
            }
            core::hint::spin_loop();
        }
        if Instant::now() >= end {
            break ready();
        }
    };
    if found.is_some() {
        HITS.fetch_add(1, Ordering::Relaxed);
    }
    found
}
