//! The spin-before-park patch in vendor/crossbeam-channel: spinning happens only where allowed, sees
//! quick answers, and never outlasts an operation's deadline. One test function: the configuration
//! is process-wide.

use crossbeam_channel::spin;
use std::time::{Duration, Instant};

const BUDGET: Duration = Duration::from_secs(60);

#[test]
fn spinning_is_opt_in_bounded_and_honours_deadlines() {
    // Off by default: nothing spins, even inside `spinning`.
    let (tx, rx) = crossbeam_channel::bounded::<u32>(0);
    let before = spin::stats();
    assert!(spin::spinning(|| rx.recv_timeout(Duration::from_millis(5))).is_err());
    assert_eq!(spin::stats(), before, "spinning is off until configured");

    // A budget far longer than any wait below, so "the spin ended at the deadline" and "the
    // answer came while spinning" never depend on how loaded the machine is.
    spin::configure(BUDGET, 1);

    // Outside `spinning`, a wait parks at once.
    let before = spin::stats();
    assert!(rx.recv_timeout(Duration::from_millis(5)).is_err());
    assert_eq!(spin::stats(), before, "only waits inside `spinning` spin");

    // A deadline shorter than the budget ends the spin: a 60 s budget, a 20 ms timeout. Spinning
    // on to the budget would take a minute; half of it is slack for a loaded machine.
    let t = Instant::now();
    assert!(spin::spinning(|| rx.recv_timeout(Duration::from_millis(20))).is_err());
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(20), "{took:?}");
    assert!(took < BUDGET / 2, "spun past the deadline: {took:?}");
    assert_eq!(spin::stats().0, before.0 + 1, "that wait spun");

    // An answer that comes while the receiver spins is seen without parking. The sender waits
    // until the receiver has started spinning (the spin counter moves), then answers.
    let before = spin::stats();
    let sender = std::thread::spawn(move || {
        while spin::stats().0 == before.0 {
            std::thread::yield_now();
        }
        tx.send(7).expect("receiver alive");
    });
    assert_eq!(spin::spinning(|| rx.recv()), Ok(7));
    sender.join().expect("sender");
    let after = spin::stats();
    assert_eq!(after.0, before.0 + 1);
    assert_eq!(after.1, before.1 + 1, "the answer was seen while spinning");

    // No spinner slots: nobody spins.
    spin::configure(BUDGET, 0);
    let before = spin::stats();
    assert!(spin::spinning(|| rx.recv_timeout(Duration::from_millis(5))).is_err());
    assert_eq!(spin::stats(), before);
    spin::configure(Duration::ZERO, 0);
}
