//! The threads goroutines run on (SPEC §1: each goroutine is one OS thread owning one fresh Lua
//! state). Starting a thread costs ~60 µs on the machines we measure on and building a state ~30 µs,
//! so a thread whose goroutine has ended is kept and builds the state for its next goroutine while
//! it waits for one; a state is never reused and never moves between threads.
//!
//! How many goroutines get a thread at once: while fewer than [`Pool::limit`] goroutines are
//! running (on a CPU: not blocked in a channel operation, `sleep`, `wait` or socket I/O), a new
//! goroutine gets a thread at once. Beyond that it queues for the next thread that frees up: more
//! threads than cores only add thread start-ups and context switches (a burst of 20 000 `go()`
//! calls went from ~50 to ~33 µs per goroutine, see BENCHMARKS.md). A queued goroutine is never
//! stranded: the pool's monitor thread starts a thread for it as soon as a running goroutine blocks,
//! or when no queued goroutine has been taken for [`STALL`] (goroutines computing for long, or
//! blocked in a C call the runtime cannot see, such as `io.read`).

use super::goroutine::{self, Job};
use super::state::GoState;
use super::Shared;
use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// Stack size of goroutine threads: small, since there may be thousands (memory is only committed
/// as it is touched), yet deep enough for Lua's 200 nested C calls.
const GOROUTINE_STACK: usize = 1024 * 1024;

/// Idle goroutine threads kept for later goroutines, each with a state built for its next one
/// (~50 KB each).
const MAX_IDLE: usize = 32;

/// A pooled thread that gets no goroutine for this long ends.
const IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long queued goroutines may go without any of them being taken before the monitor starts a
/// thread anyway (every running goroutine is busy computing, or blocked where the runtime cannot see).
pub const STALL: Duration = Duration::from_millis(2);

/// Goroutines that may wait in the queue for a thread before `go()` waits for the queue to move.
const MAX_QUEUED: usize = 256;

/// How long `go()` pauses while the queue is full.
const QUEUE_FULL_PAUSE: Duration = Duration::from_micros(50);

thread_local! {
    /// Whether this thread runs a goroutine that counts in [`Pool::running`] right now.
    static ON_CPU: Cell<bool> = const { Cell::new(false) };
    /// The usable part of this goroutine thread's stack (lowest address, end), `(0, 0)` on other
    /// threads: see [`release_unused_stack`].
    static STACK: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

/// Room left below the caller of [`release_unused_stack`] for its own frame and the system call.
const STACK_MARGIN: usize = 1024;

/// Notes where this goroutine thread's stack lies, for [`release_unused_stack`].
fn note_stack() {
    #[cfg(target_os = "linux")]
    // Safety: `attr` is initialised by `pthread_getattr_np` (checked) before it is read, and
    // destroyed once.
    unsafe {
        let mut attr = std::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
        if libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) != 0 {
            return;
        }
        let (mut low, mut size) = (std::ptr::null_mut(), 0);
        let found = libc::pthread_attr_getstack(attr.as_ptr(), &mut low, &mut size) == 0;
        libc::pthread_attr_destroy(attr.as_mut_ptr());
        if found && !low.is_null() {
            STACK.with(|s| s.set((low as usize, low as usize + size)));
        }
    }
}

/// Gives back the pages of this goroutine thread's stack below the frames in use, for a goroutine
/// about to wait for long (as `alloc::settle_thread` does with cached memory). Stack pages stay
/// resident once touched, so a blocked goroutine would otherwise keep the deepest its stack ever
/// went: a deep recursion before the wait, or a thread started for the queue as the wait began
/// (`leave_running`; 4 KB per goroutine blocked in `receive` when that went one page deeper than
/// the wait). Pages given back read as zeros when next touched; none holds anything live (they are
/// below the stack pointer). With nothing to give back this is one system call (~0.5 µs); giving
/// pages back also flushes them from the other cores' TLBs. Does nothing off goroutine threads.
#[inline(never)]
pub fn release_unused_stack() {
    let (low, high) = STACK.with(|s| s.get());
    let here = std::hint::black_box(0u8);
    let here = std::ptr::addr_of!(here) as usize;
    // A local elsewhere than on this stack (a sanitizer's fake stack) tells nothing.
    if here <= low + STACK_MARGIN || here >= high {
        return;
    }
    release_below(low, here - STACK_MARGIN);
}

#[cfg(target_os = "linux")]
fn release_below(low: usize, end: usize) {
    // Safety: `sysconf` has no preconditions.
    let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        p if p > 0 => p as usize,
        _ => return,
    };
    let end = end & !(page - 1);
    if end > low {
        // Safety: `[low, end)` is this thread's own stack below its stack pointer (less a margin
        // for this call): nothing there is in use, and `MADV_DONTNEED` on private anonymous memory
        // only makes it read as zeros again. A raw system call, so no interposed wrapper runs on the
        // pages being given back.
        unsafe {
            libc::syscall(
                libc::SYS_madvise,
                low as *mut libc::c_void,
                end - low,
                libc::MADV_DONTNEED,
            );
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn release_below(_low: usize, _end: usize) {}

/// The goroutine threads of one run.
///
/// `balance` counts offers minus queued jobs: a thread offers itself (+1) when its goroutine ends,
/// and a job queued for an offer takes one (-1). Below zero, that many queued jobs have no thread
/// yet; the next offers, or the monitor, serve them. So every queued job has a thread coming for it.
pub struct Pool {
    jobs_tx: Sender<Box<Job>>,
    jobs_rx: Receiver<Box<Job>>,
    balance: AtomicIsize,
    /// Idle threads (offered, waiting or building their next state), at most [`MAX_IDLE`].
    idle: AtomicUsize,
    /// Goroutines with a thread that are not blocked in a wait (main included); a goroutine queued
    /// for an offer counts from the moment it is queued.
    running: AtomicUsize,
    /// Threads the monitor started that have not taken their job yet.
    starting: AtomicUsize,
    /// Queued jobs taken so far: the monitor's measure of progress.
    taken: AtomicU64,
    /// Wakes the monitor, which starts with the first job that has to wait.
    monitor: Mutex<Option<Sender<()>>>,
    /// Goroutines running at once beyond which new ones queue: one per core, plus one for the
    /// goroutine that starts them (main in a burst of `go()` calls spends most of its time there).
    limit: usize,
}

impl Default for Pool {
    fn default() -> Self {
        let (jobs_tx, jobs_rx) = crossbeam_channel::unbounded();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Pool {
            jobs_tx,
            jobs_rx,
            balance: AtomicIsize::new(0),
            idle: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            starting: AtomicUsize::new(0),
            taken: AtomicU64::new(0),
            monitor: Mutex::new(None),
            limit: cores + 1,
        }
    }
}

impl Pool {
    /// Takes an offer if there is one (`balance` > 0).
    fn take_offer(&self) -> bool {
        self.balance
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n > 0).then_some(n - 1)
            })
            .is_ok()
    }

    /// Whether fewer goroutines run than the limit (counting threads about to take a job).
    fn has_room(&self) -> bool {
        self.running.load(Ordering::Acquire) + self.starting.load(Ordering::Acquire) < self.limit
    }

    /// Wakes the monitor if queued jobs wait for a thread.
    fn poke_if_waiting(&self) {
        if self.balance.load(Ordering::Acquire) < 0 {
            if let Some(m) = &*self.monitor.lock() {
                let _ = m.try_send(());
            }
        }
    }
}

/// Marks the calling thread's goroutine as running (main at its start).
#[inline]
pub fn enter_running(rt: &Shared) {
    if !ON_CPU.with(|c| c.replace(true)) {
        rt.pool.running.fetch_add(1, Ordering::AcqRel);
    }
}

/// Marks the calling thread's goroutine as no longer running (main at its end, or any goroutine
/// starting to wait). If goroutines wait for a thread, this thread starts one for the queue before
/// it goes on: the thread about to wait has nothing better to do, and waking the monitor would add
/// its wake-up latency to every goroutine started that way. (A goroutine thread whose goroutine
/// ends instead takes a queued job itself, see [`pooled_thread`].)
pub fn leave_running(rt: &Arc<Shared>) {
    if ON_CPU.with(|c| c.replace(false)) {
        let pool = &rt.pool;
        pool.running.fetch_sub(1, Ordering::AcqRel);
        if pool.balance.load(Ordering::Acquire) < 0 && pool.has_room() {
            serve_one(rt);
        }
    }
}

/// Runs `f`, a wait, with the calling goroutine counted as not running, so a queued goroutine can
/// take its place meanwhile.
#[inline]
pub fn blocked<R>(rt: &Arc<Shared>, f: impl FnOnce() -> R) -> R {
    struct Resume<'a>(&'a Shared, bool);
    impl Drop for Resume<'_> {
        fn drop(&mut self) {
            if self.1 {
                enter_running(self.0);
            }
        }
    }
    let was_running = ON_CPU.with(|c| c.get());
    if was_running {
        leave_running(rt);
    }
    let _resume = Resume(rt, was_running);
    f()
}

/// Gives `job` a thread: an idle one, a new one while there is room, or a place in the queue.
pub fn submit(rt: &Arc<Shared>, mut job: Box<Job>) -> Result<(), String> {
    let pool = &rt.pool;
    if pool.take_offer() {
        job.counted = true;
        pool.running.fetch_add(1, Ordering::AcqRel);
        // The receiver lives in `rt.pool`: sending cannot fail.
        let _ = pool.jobs_tx.send(job);
        return Ok(());
    }
    if pool.has_room() {
        job.counted = true;
        pool.running.fetch_add(1, Ordering::AcqRel);
        return start_thread(rt, Some(job)).map_err(|(e, job)| {
            pool.running.fetch_sub(1, Ordering::AcqRel);
            if let Some(job) = job {
                goroutine::unregister(rt, job.gid());
            }
            e
        });
    }
    // Backpressure: a loop of `go()` calls must not outrun the threads by more than a queue's
    // worth, or the goroutines waiting for a thread alone would reach `--max-goroutines`.
    while -pool.balance.load(Ordering::Acquire) >= MAX_QUEUED as isize {
        if let Err(e) = rt.cancel.check() {
            goroutine::unregister(rt, job.gid());
            return Err(e.to_string());
        }
        ensure_monitor(rt);
        std::thread::sleep(QUEUE_FULL_PAUSE);
    }
    job.counted = false;
    pool.balance.fetch_sub(1, Ordering::AcqRel);
    let _ = pool.jobs_tx.send(job);
    ensure_monitor(rt);
    pool.poke_if_waiting();
    Ok(())
}

/// Starts a goroutine thread running `job`, or, with `None`, taking a queued job.
fn start_thread(rt: &Arc<Shared>, job: Option<Box<Job>>) -> Result<(), (String, Option<Box<Job>>)> {
    let rt2 = Arc::clone(rt);
    // The job comes back on failure: the closure is dropped unrun, so it goes through a slot.
    let slot = Arc::new(Mutex::new(job));
    let slot2 = Arc::clone(&slot);
    let started = std::thread::Builder::new()
        .name("goroutine".into())
        .stack_size(GOROUTINE_STACK)
        .spawn(move || {
            let job = slot2.lock().take();
            pooled_thread(rt2, job)
        });
    match started {
        Ok(_) => Ok(()),
        Err(e) => Err((
            format!("go: cannot start a thread: {e}"),
            slot.lock().take(),
        )),
    }
}

/// A goroutine thread: runs its job, then either serves a queued job at once or, while the pool has
/// room, offers itself for the next goroutine and builds a fresh state for it.
fn pooled_thread(rt: Arc<Shared>, first: Option<Box<Job>>) {
    note_stack();
    let pool = &rt.pool;
    let mut next = match first {
        Some(job) => Some((job, None)),
        None => {
            // Started by the monitor, which took an offer's place for this thread.
            let job = take_queued(&rt);
            pool.starting.fetch_sub(1, Ordering::AcqRel);
            job.map(|j| (j, None))
        }
    };
    while let Some((job, prepared)) = next.take() {
        if !job.counted {
            pool.running.fetch_add(1, Ordering::AcqRel);
        }
        ON_CPU.with(|c| c.set(true));
        goroutine::run_goroutine(&rt, *job, prepared);
        if ON_CPU.with(|c| c.replace(false)) {
            pool.running.fetch_sub(1, Ordering::AcqRel);
        }
        if rt.cancel.reason().is_some() {
            return;
        }
        if pool.balance.fetch_add(1, Ordering::AcqRel) < 0 {
            // A queued job waits for a thread: this one.
            next = take_queued(&rt).map(|j| (j, None));
            continue;
        }
        if pool.idle.fetch_add(1, Ordering::AcqRel) >= MAX_IDLE {
            pool.idle.fetch_sub(1, Ordering::AcqRel);
            if pool.take_offer() {
                return;
            }
            // A job was queued for this offer meanwhile.
            next = take_queued(&rt).map(|j| (j, None));
            continue;
        }
        let state = GoState::prepare(&rt).ok();
        super::alloc::settle_thread();
        next = next_job(&rt).map(|job| (job, state));
        pool.idle.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Takes a job that is known to be queued for the caller.
fn take_queued(rt: &Shared) -> Option<Box<Job>> {
    let job = rt.pool.jobs_rx.recv().ok();
    rt.pool.taken.fetch_add(1, Ordering::AcqRel);
    job
}

/// Waits for a job as a pooled thread that has offered itself. `None` when the offer could be
/// withdrawn (idle too long, or the run is over); once it has been taken, the job is on its way.
fn next_job(rt: &Shared) -> Option<Box<Job>> {
    let pool = &rt.pool;
    loop {
        crossbeam_channel::select! {
            recv(pool.jobs_rx) -> job => {
                pool.taken.fetch_add(1, Ordering::AcqRel);
                return job.ok();
            }
            recv(rt.cancel.signal()) -> _ => {
                if pool.take_offer() {
                    return None;
                }
                // A job was queued for this offer: it runs (and ends at once, the run being over).
                return take_queued(rt);
            }
            default(IDLE_TIMEOUT) => {
                if pool.take_offer() {
                    return None;
                }
            }
        }
    }
}

/// Starts the monitor thread with the first job that has to wait for a thread.
fn ensure_monitor(rt: &Arc<Shared>) {
    let mut slot = rt.pool.monitor.lock();
    if slot.is_some() {
        return;
    }
    let (tx, rx) = crossbeam_channel::bounded(1);
    let weak = Arc::downgrade(rt);
    let started = std::thread::Builder::new()
        .name("solvm-pool".into())
        .stack_size(128 * 1024)
        .spawn(move || monitor(weak, rx));
    if started.is_ok() {
        *slot = Some(tx);
    }
}

/// Starts threads for queued jobs when there is room or the queue has stalled; once the run is
/// cancelled, removes queued jobs nobody will run. Ends with the run.
fn monitor(weak: Weak<Shared>, poke: Receiver<()>) {
    let mut last_taken = u64::MAX;
    let mut progress_at = Instant::now();
    loop {
        let wait = {
            let Some(rt) = weak.upgrade() else { return };
            let pool = &rt.pool;
            if rt.cancel.reason().is_some() {
                discard_queued(&rt);
                return;
            }
            let taken = pool.taken.load(Ordering::Acquire);
            if taken != last_taken {
                last_taken = taken;
                progress_at = Instant::now();
            }
            if pool.balance.load(Ordering::Acquire) < 0 {
                let started = (pool.has_room() || progress_at.elapsed() >= STALL) && serve_one(&rt);
                if started {
                    progress_at = Instant::now();
                }
                // Look again at once while there is room, else after a stall's time: a stall is
                // only seen by looking.
                Some(if started && pool.has_room() {
                    Duration::ZERO
                } else {
                    STALL
                })
            } else {
                None
            }
        };
        let woke = match wait {
            Some(d) if d.is_zero() => Ok(()),
            Some(d) => match poke.recv_timeout(d) {
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => Err(()),
                _ => Ok(()),
            },
            None => poke.recv().map_err(|_| ()),
        };
        if woke.is_err() {
            return;
        }
    }
}

/// Starts one thread for the queue if a job is still waiting for one; whether it did.
fn serve_one(rt: &Arc<Shared>) -> bool {
    let pool = &rt.pool;
    let claimed = pool
        .balance
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < 0).then_some(n + 1)
        })
        .is_ok();
    if !claimed {
        return false;
    }
    pool.starting.fetch_add(1, Ordering::AcqRel);
    if start_thread(rt, None).is_err() {
        pool.starting.fetch_sub(1, Ordering::AcqRel);
        // No thread: give the claim back and try again later.
        pool.balance.fetch_sub(1, Ordering::AcqRel);
        return false;
    }
    true
}

/// After cancellation: unregisters queued jobs that no thread has been promised to.
fn discard_queued(rt: &Shared) {
    let pool = &rt.pool;
    while pool
        .balance
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < 0).then_some(n + 1)
        })
        .is_ok()
    {
        match pool.jobs_rx.recv() {
            Ok(job) => goroutine::unregister(rt, job.gid()),
            Err(_) => return,
        }
    }
}
