//! The SolVM patch to the vendored crossbeam-channel: `bounded_growable(cap)`, a bounded channel
//! whose buffer grows as it fills (what `chan(n)` uses beyond 1024 values). It must behave like
//! `bounded(cap)`: never more than `cap` messages, senders block while full and wake when a
//! receive makes room or the channel disconnects, `select` and `try_send` see it full.

use crossbeam_channel::{bounded_growable, Select, TrySendError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

#[test]
fn many_producers_and_consumers_never_exceed_the_capacity() {
    const CAP: usize = 64;
    const PER_PRODUCER: u64 = 20_000;
    let (tx, rx) = bounded_growable::<u64>(CAP);
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (rx, done) = (rx.clone(), Arc::clone(&done));
        thread::spawn(move || {
            let mut most = 0;
            while !done.load(Ordering::Relaxed) {
                most = most.max(rx.len());
            }
            most
        })
    };
    let producers: Vec<_> = (0..4)
        .map(|p| {
            let tx = tx.clone();
            thread::spawn(move || {
                for i in 0..PER_PRODUCER {
                    tx.send(p * PER_PRODUCER + i).expect("receivers alive");
                }
            })
        })
        .collect();
    drop(tx);
    let consumers: Vec<_> = (0..4)
        .map(|_| {
            let rx = rx.clone();
            thread::spawn(move || rx.iter().fold((0u64, 0u64), |(n, s), v| (n + 1, s + v)))
        })
        .collect();
    for p in producers {
        p.join().expect("producer");
    }
    let (count, sum) = consumers
        .into_iter()
        .map(|c| c.join().expect("consumer"))
        .fold((0, 0), |(n, s), (cn, cs)| (n + cn, s + cs));
    done.store(true, Ordering::Relaxed);
    let most = watcher.join().expect("watcher");
    let total = 4 * PER_PRODUCER;
    assert_eq!(count, total);
    assert_eq!(sum, total * (total - 1) / 2);
    assert!(
        most <= CAP,
        "the channel held {most} messages, capacity {CAP}"
    );
    assert_eq!(rx.capacity(), Some(CAP));
}

#[test]
fn a_full_channel_refuses_and_times_out_until_a_receive_makes_room() {
    let (tx, rx) = bounded_growable::<usize>(40);
    for i in 0..40 {
        tx.try_send(i).expect("room");
    }
    assert!(tx.is_full());
    assert!(matches!(tx.try_send(40), Err(TrySendError::Full(40))));
    let t = Instant::now();
    assert!(tx.send_timeout(40, Duration::from_millis(30)).is_err());
    assert!(t.elapsed() >= Duration::from_millis(30));
    let mut sel = Select::new();
    sel.send(&tx);
    assert!(
        sel.ready_timeout(Duration::from_millis(30)).is_err(),
        "full: not ready"
    );
    assert_eq!(rx.recv(), Ok(0));
    assert!(!tx.is_full());
    let mut sel = Select::new();
    let i = sel.send(&tx);
    let op = sel
        .select_timeout(Duration::from_secs(5))
        .expect("room now");
    assert_eq!(op.index(), i);
    op.send(&tx, 40).expect("sent");
    assert_eq!(rx.len(), 40);
    assert_eq!(
        rx.iter().take(40).collect::<Vec<_>>(),
        (1..=40).collect::<Vec<_>>()
    );
}

#[test]
fn a_blocked_sender_wakes_for_a_receive_and_for_a_disconnect() {
    let (tx, rx) = bounded_growable::<u32>(33);
    for i in 0..33 {
        tx.send(i).expect("room");
    }
    let sender = {
        let tx = tx.clone();
        thread::spawn(move || tx.send(99))
    };
    // The receive below makes room for the blocked sender, whenever it got there.
    assert_eq!(rx.recv(), Ok(0));
    sender
        .join()
        .expect("sender")
        .expect("sent after the receive");
    assert_eq!(rx.len(), 33);
    let sender = thread::spawn(move || tx.send(100));
    drop(rx);
    assert!(sender.join().expect("sender").is_err(), "disconnected");
}

#[test]
fn a_huge_capacity_allocates_nothing_up_front() {
    // With `bounded`, this would try to allocate ~8 GB and abort.
    let (tx, rx) = bounded_growable::<u64>(1 << 30);
    for i in 0..1000 {
        tx.send(i).expect("room");
    }
    assert_eq!(rx.len(), 1000);
    assert_eq!(rx.capacity(), Some(1 << 30));
}
