//! Model tests of the goroutine registry's concurrent logic, run against the real code
//! (`solvm::runtime::goroutine`), not a copy of it:
//! - `wait()`'s wake-up: every interleaving of descendants finishing and spawning with the waiter's
//!   "any descendant left? then block on my events" loop, checking that the last descendant to
//!   finish always leaves a `ChildFinished` event for a waiter that went to sleep (no lost wake-up)
//!   and that every `live_descendants` counter equals the number of live descendants after each step;
//! - `--max-goroutines` under goroutines spawning at the same moment;
//! - the deadlock detector's "everyone is stuck" check: never while a goroutine runs, even while the
//!   registry churns on other threads (this one is a stress test, also run under ThreadSanitizer by
//!   `scripts/tsan`), and always for the textbook deadlocks.
//!
//! Every registry mutation happens inside one critical section on `Registry::live`, so orderings of
//! those calls are all the behaviours there are; only `wait()` spans two (its check and its block),
//! which is what the exhaustive search interleaves.

use solvm::config::Config;
use solvm::runtime::goroutine::{self, Blocked, ChannelState, Event, Mailbox, Status, WaitOn};
use solvm::runtime::interrupt::InterruptHandle;
use solvm::runtime::Shared;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

fn runtime(max_goroutines: usize) -> Arc<Shared> {
    let config = Config {
        max_goroutines,
        ..Config::default()
    };
    Shared::new(config, PathBuf::from("."))
}

fn register(rt: &Shared, gid: u64, parent: u64) -> Mailbox {
    goroutine::register(
        rt,
        gid,
        format!("g{gid}"),
        parent,
        None,
        Arc::new(InterruptHandle::default()),
    )
}

/// A goroutine of the model: the goroutines it starts (in order), then it finishes.
#[derive(Clone)]
struct Script {
    gid: u64,
    parent: u64,
    spawns: Vec<u64>,
}

/// Where the waiting goroutine is in `wait()`'s loop (`builtins/go.rs`: while `has_descendants`,
/// block on its events; a `ChildFinished` or any other event makes it check again).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Waiter {
    Check,
    Blocked,
    Done,
}

struct World {
    rt: Arc<Shared>,
    waiter_gid: u64,
    waiter_events: crossbeam_channel::Receiver<Event>,
    waiter: Waiter,
    /// Per scripted goroutine: how many of its steps ran (spawns, then the finish).
    progress: HashMap<u64, usize>,
    started: HashMap<u64, bool>,
    _mailboxes: Vec<Mailbox>,
}

/// One schedulable step: the waiter's next step, or goroutine `gid`'s.
#[derive(Clone, Copy, Debug)]
enum Step {
    Waiter,
    Goroutine(u64),
}

impl World {
    /// The starting point: the waiter (a child of main, or main itself) with `initial` already
    /// started (by the waiter, before it calls `wait()`).
    fn new(scripts: &[Script], waiter_gid: u64, initial: &[u64]) -> World {
        let rt = runtime(10_000);
        let mut mailboxes = vec![register(&rt, 1, 0)];
        if waiter_gid != 1 {
            mailboxes.push(register(&rt, waiter_gid, 1));
        }
        let waiter_events = mailboxes.last().expect("waiter").events.clone();
        let mut started = HashMap::new();
        for s in scripts {
            started.insert(s.gid, false);
        }
        for gid in initial {
            let s = scripts.iter().find(|s| s.gid == *gid).expect("script");
            mailboxes.push(register(&rt, s.gid, s.parent));
            started.insert(s.gid, true);
        }
        World {
            rt,
            waiter_gid,
            waiter_events,
            waiter: Waiter::Check,
            progress: scripts.iter().map(|s| (s.gid, 0)).collect(),
            started,
            _mailboxes: mailboxes,
        }
    }

    fn enabled(&self, scripts: &[Script]) -> Vec<Step> {
        let mut steps = Vec::new();
        match self.waiter {
            Waiter::Check => steps.push(Step::Waiter),
            // A blocked waiter runs again only when an event arrives: no timeout fallback here.
            Waiter::Blocked if !self.waiter_events.is_empty() => steps.push(Step::Waiter),
            _ => {}
        }
        for s in scripts {
            if self.started[&s.gid] && self.progress[&s.gid] <= s.spawns.len() {
                steps.push(Step::Goroutine(s.gid));
            }
        }
        steps
    }

    fn run(&mut self, step: Step, scripts: &[Script]) {
        match step {
            Step::Waiter => match self.waiter {
                Waiter::Check => {
                    self.waiter = if self.rt.registry.has_descendants(self.waiter_gid) {
                        Waiter::Blocked
                    } else {
                        Waiter::Done
                    }
                }
                Waiter::Blocked => {
                    self.waiter_events
                        .try_recv()
                        .expect("an event woke the waiter");
                    self.waiter = Waiter::Check;
                }
                Waiter::Done => unreachable!(),
            },
            Step::Goroutine(gid) => {
                let s = scripts.iter().find(|s| s.gid == gid).expect("script");
                let done = self.progress[&gid];
                if done < s.spawns.len() {
                    let child = s.spawns[done];
                    self._mailboxes.push(register(&self.rt, child, gid));
                    self.started.insert(child, true);
                } else {
                    goroutine::unregister(&self.rt, gid);
                }
                self.progress.insert(gid, done + 1);
            }
        }
    }

    /// Every live goroutine's counter equals the number of live goroutines it started, directly
    /// or through others (finished ones in between included).
    fn check_counters(&self, schedule: &[Step]) {
        let live = self.rt.registry.live.lock();
        for g in live.values() {
            let expected = live
                .values()
                .filter(|h| {
                    let mut p = h.parent;
                    while p != 0 && p != g.id {
                        p = MODEL_PARENTS.with(|m| m.borrow().get(&p).copied().unwrap_or(0));
                    }
                    p == g.id
                })
                .count();
            assert_eq!(
                g.live_descendants.load(Ordering::Acquire),
                expected,
                "goroutine {}'s live_descendants after {schedule:?}",
                g.id
            );
        }
    }
}

thread_local! {
    /// Parent of every scripted goroutine (the registry forgets finished ones).
    static MODEL_PARENTS: std::cell::RefCell<HashMap<u64, u64>> = Default::default();
}

/// Runs every schedule of `scripts` against a waiter; returns how many complete schedules ran.
fn explore(scripts: &[Script], waiter_gid: u64, initial: &[u64]) -> usize {
    MODEL_PARENTS.with(|m| {
        let mut m = m.borrow_mut();
        m.clear();
        m.insert(waiter_gid, 1);
        m.insert(1, 0);
        for s in scripts {
            m.insert(s.gid, s.parent);
        }
    });
    let mut complete = 0;
    let mut stack: Vec<Vec<Step>> = vec![Vec::new()];
    while let Some(schedule) = stack.pop() {
        let mut world = World::new(scripts, waiter_gid, initial);
        for step in &schedule {
            world.run(*step, scripts);
        }
        world.check_counters(&schedule);
        let enabled = world.enabled(scripts);
        if enabled.is_empty() {
            assert_eq!(
                world.waiter,
                Waiter::Done,
                "lost wake-up: the waiter sleeps with no event to wake it and no descendant left to \
                 send one, after {schedule:?}"
            );
            assert!(!world.rt.registry.has_descendants(waiter_gid));
            complete += 1;
            continue;
        }
        for step in enabled {
            let mut next = schedule.clone();
            next.push(step);
            stack.push(next);
        }
    }
    complete
}

#[test]
fn wait_is_woken_by_the_last_descendant_in_every_interleaving() {
    // main waits for A and B; A starts C, C starts D (so D outlives or not its ancestors A and C).
    let scripts = vec![
        Script {
            gid: 2,
            parent: 1,
            spawns: vec![4],
        },
        Script {
            gid: 3,
            parent: 1,
            spawns: vec![],
        },
        Script {
            gid: 4,
            parent: 2,
            spawns: vec![5],
        },
        Script {
            gid: 5,
            parent: 4,
            spawns: vec![],
        },
    ];
    let schedules = explore(&scripts, 1, &[2, 3]);
    assert!(schedules > 100, "only {schedules} schedules explored");
    eprintln!("{schedules} complete schedules");
}

#[test]
fn a_goroutine_waiting_for_its_own_children_ignores_its_siblings() {
    // Goroutine 10 (a child of main) waits for 11 and 12 (11 starts 13) while its sibling 20 and
    // 20's child 21 come and go.
    let scripts = vec![
        Script {
            gid: 11,
            parent: 10,
            spawns: vec![13],
        },
        Script {
            gid: 12,
            parent: 10,
            spawns: vec![],
        },
        Script {
            gid: 13,
            parent: 11,
            spawns: vec![],
        },
        Script {
            gid: 20,
            parent: 1,
            spawns: vec![21],
        },
        Script {
            gid: 21,
            parent: 20,
            spawns: vec![],
        },
    ];
    let schedules = explore(&scripts, 10, &[11, 12, 20]);
    assert!(schedules > 100, "only {schedules} schedules explored");
    eprintln!("{schedules} complete schedules");
}

#[test]
fn goroutines_spawning_at_once_never_exceed_max_goroutines() {
    for _ in 0..20 {
        let rt = runtime(8);
        let _main = register(&rt, rt.next_goroutine_id(), 0);
        let threads = 16;
        let barrier = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let rt = Arc::clone(&rt);
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    barrier.wait();
                    goroutine::register_within(
                        &rt,
                        rt.config.max_goroutines,
                        "g".into(),
                        1,
                        None,
                        Arc::new(InterruptHandle::default()),
                    )
                    .ok()
                    .map(|m| m.info.id)
                })
            })
            .collect();
        let admitted: Vec<u64> = handles
            .into_iter()
            .filter_map(|h| h.join().expect("spawner"))
            .collect();
        assert_eq!(admitted.len(), 7, "8 alive at most, main included");
        assert_eq!(rt.registry.live.lock().len(), 8);
        assert!(rt.registry.has_descendants(1));
    }
}

/// A channel as the deadlock detector sees it.
struct FakeChannel {
    len: usize,
    cap: usize,
    closed: bool,
}

impl ChannelState for FakeChannel {
    fn id(&self) -> usize {
        self as *const FakeChannel as usize
    }
    fn is_closed(&self) -> bool {
        self.closed
    }
    fn is_empty(&self) -> bool {
        self.len == 0
    }
    fn is_full(&self) -> bool {
        self.cap == 0 || self.len >= self.cap
    }
}

fn blocked(what: &str, waits_on: Vec<WaitOn>) -> Status {
    Status::Blocked(Blocked {
        what: what.into(),
        at: "model".into(),
        has_timeout: false,
        waits_on,
    })
}

fn channel(len: usize, cap: usize, closed: bool) -> Arc<dyn ChannelState> {
    Arc::new(FakeChannel { len, cap, closed })
}

#[test]
fn the_detector_sees_the_textbook_deadlocks_and_nothing_else() {
    let rt = runtime(100);
    let main = register(&rt, 1, 0);
    let child = register(&rt, 2, 1);
    let reg = &rt.registry;
    let empty = channel(0, 0, false);

    // main in wait(), its child receiving from a channel nobody sends on: both stuck.
    reg.set_status(&main.info, blocked("wait()", vec![WaitOn::Children]));
    reg.set_status(
        &child.info,
        blocked("receive", vec![WaitOn::Receive(Arc::clone(&empty))]),
    );
    let stuck = reg.all_stuck(None).expect("a deadlock");
    assert_eq!(stuck.iter().map(|s| s.0).collect::<Vec<_>>(), [1, 2]);
    assert!(reg.stably_stuck(None, Duration::from_millis(10)).is_some());

    // The same picture with a value waiting, a closed channel, or a receive timeout: not stuck.
    for (ch, timeout) in [
        (channel(1, 4, false), false),
        (channel(0, 0, true), false),
        (Arc::clone(&empty), true),
    ] {
        reg.set_status(
            &child.info,
            Status::Blocked(Blocked {
                what: "receive".into(),
                at: "model".into(),
                has_timeout: timeout,
                waits_on: vec![WaitOn::Receive(ch)],
            }),
        );
        assert!(reg.all_stuck(None).is_none());
    }

    // A sender on a full channel is woken by a goroutine blocked receiving from it.
    let full = channel(1, 1, false);
    reg.set_status(
        &main.info,
        blocked("send", vec![WaitOn::Send(Arc::clone(&full))]),
    );
    reg.set_status(&child.info, blocked("receive", vec![WaitOn::Receive(full)]));
    assert!(reg.all_stuck(None).is_none());

    // A running (or sleeping) goroutine can always wake the others.
    reg.set_status(&main.info, blocked("wait()", vec![WaitOn::Children]));
    reg.set_status(&child.info, Status::Busy);
    assert!(reg.all_stuck(None).is_none());

    // wait() with no descendant left is not stuck.
    goroutine::unregister(&rt, 2);
    assert!(reg.all_stuck(None).is_none());
}

#[test]
fn a_status_change_during_the_settle_time_is_never_a_deadlock() {
    let rt = runtime(100);
    let main = register(&rt, 1, 0);
    let empty = channel(0, 0, false);
    rt.registry
        .set_status(&main.info, blocked("receive", vec![WaitOn::Receive(empty)]));
    let info = Arc::clone(&main.info);
    let rt2 = Arc::clone(&rt);
    let done = Arc::new(AtomicBool::new(false));
    let done2 = Arc::clone(&done);
    // A goroutine woken again and again (a ping-pong): each time it blocks anew, the picture is
    // the same, but something happened in between, so it must not be trusted.
    let waker = std::thread::spawn(move || {
        while !done2.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(5));
            rt2.registry.set_status(&info, Status::Running);
            rt2.registry.set_status(
                &info,
                blocked("receive", vec![WaitOn::Receive(channel(0, 0, false))]),
            );
        }
    });
    let seen = rt.registry.stably_stuck(None, Duration::from_millis(500));
    done.store(true, Ordering::Release);
    waker.join().expect("waker");
    assert!(seen.is_none(), "a picture that changed was trusted");
}

/// Real threads: spawners build and tear down goroutine trees under main while main sits in the
/// `wait()` loop (woken only by events: a lost wake-up hangs it, caught by the 20 s bound) and a
/// detector thread asks "is everyone stuck?" the whole time (never, since the spawners run).
#[test]
fn wait_and_the_detector_under_concurrent_churn() {
    let rt = runtime(100_000);
    let main = register(&rt, 1, 0);
    let next_gid = Arc::new(std::sync::atomic::AtomicU64::new(100));
    let spawners = 4;
    let rounds = 200;
    // main starts the spawners' goroutines itself (as `go` runs on the parent's thread).
    let tops: Vec<Mailbox> = (0..spawners).map(|i| register(&rt, 2 + i, 1)).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let detector = {
        let rt = Arc::clone(&rt);
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut looks = 0u64;
            while !stop.load(Ordering::Acquire) {
                if let Some(stuck) = rt.registry.all_stuck(None) {
                    let ids: Vec<u64> = stuck.iter().map(|s| s.0).collect();
                    panic!("false deadlock reported for {ids:?}");
                }
                looks += 1;
                std::thread::yield_now();
            }
            looks
        })
    };
    let workers: Vec<_> = tops
        .into_iter()
        .map(|top| {
            let rt = Arc::clone(&rt);
            let next_gid = Arc::clone(&next_gid);
            std::thread::spawn(move || {
                let me = top.info.id;
                for round in 0..rounds {
                    let child = next_gid.fetch_add(2, Ordering::Relaxed);
                    let c = register(&rt, child, me);
                    let grandchild = register(&rt, child + 1, child);
                    // Alternate which of the two finishes first.
                    if round % 2 == 0 {
                        goroutine::unregister(&rt, child);
                        goroutine::unregister(&rt, child + 1);
                    } else {
                        goroutine::unregister(&rt, child + 1);
                        goroutine::unregister(&rt, child);
                    }
                    drop((c, grandchild));
                }
                goroutine::unregister(&rt, me);
            })
        })
        .collect();
    rt.registry
        .set_status(&main.info, blocked("wait()", vec![WaitOn::Children]));
    let mut wakeups = 0;
    while rt.registry.has_descendants(1) {
        match main.events.recv_timeout(Duration::from_secs(20)) {
            Ok(_) => wakeups += 1,
            Err(_) => panic!("wait() was never woken although its descendants finished"),
        }
    }
    rt.registry.set_status(&main.info, Status::Running);
    for w in workers {
        w.join().expect("worker");
    }
    stop.store(true, Ordering::Release);
    let looks = detector.join().expect("detector");
    assert!(wakeups >= 1);
    assert!(looks > 0);
    assert_eq!(rt.registry.live.lock().len(), 1);
    assert_eq!(main.info.live_descendants.load(Ordering::Acquire), 0);
}
