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

std::thread_local! {
    /// This thread's spin budget in nanoseconds, adapted to how long its waits turn out to take
    /// (`u64::MAX`: not adapted yet, the configured budget).
    static ADAPTED: Cell<u64> = const { Cell::new(u64::MAX) };
}

/// Below this a spin is not worth starting.
const MIN_SPIN_NANOS: u64 = 500;

/// What a spin came to.
pub(crate) enum Spun<T> {
    /// The answer, seen while spinning.
    Ready(T),
    /// Park now; pass this to [`after_park`] once woken.
    Park(Option<Instant>),
}

/// Polls `ready` while spinning is allowed, the thread's budget has not run out and `deadline` has
/// not passed.
///
/// The budget adapts as Linux's guest halt-polling does: a wait that ended within the configured
/// budget after parking anyway doubles it (spinning longer would have caught it), a longer wait
/// halves it. Waits that end while spinning leave it alone. So a thread whose waits are long (a
/// loaded machine, where the answering thread is not running, or a worker waiting for jobs) soon
/// stops spinning, and a thread in a quick conversation keeps spinning.
pub(crate) fn spin_until<T>(mut ready: impl FnMut() -> Option<T>, deadline: Option<Instant>) -> Spun<T> {
    let configured = BUDGET_NANOS.load(Ordering::Relaxed);
    if configured == 0 || !HERE.with(|h| h.get()) {
        return Spun::Park(None);
    }
    let budget = ADAPTED.with(|a| a.get()).min(configured);
    let start = Instant::now();
    if budget < MIN_SPIN_NANOS {
        return Spun::Park(Some(start));
    }
    let max = MAX_SPINNERS.load(Ordering::Relaxed);
    if SPINNERS
        .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| (n < max).then_some(n + 1))
        .is_err()
    {
        return Spun::Park(None);
    }
    struct Slot;
    impl Drop for Slot {
        fn drop(&mut self) {
            SPINNERS.fetch_sub(1, Ordering::AcqRel);
        }
    }
    let slot = Slot;
    SPINS.fetch_add(1, Ordering::Relaxed);
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
    drop(slot);
    match found {
        Some(v) => {
            HITS.fetch_add(1, Ordering::Relaxed);
            Spun::Ready(v)
        }
        None => Spun::Park(Some(start)),
    }
}

/// Adapts this thread's budget to a wait that parked; `started` is what [`spin_until`] returned.
pub(crate) fn after_park(started: Option<Instant>) {
    let Some(started) = started else { return };
    let configured = BUDGET_NANOS.load(Ordering::Relaxed);
    let waited = started.elapsed().as_nanos().min(u64::MAX as u128) as u64;
    ADAPTED.with(|a| {
        let budget = a.get().min(configured);
        a.set(if waited <= configured {
            budget.saturating_mul(2).max(MIN_SPIN_NANOS).min(configured)
        } else {
            budget / 2
        });
    });
}
