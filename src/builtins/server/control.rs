//! A running server's control thread: stops handlers past their deadline (SPEC §12), hands a loop
//! on to another worker when the one driving it has been held up in a handler for longer than
//! [`HANDOFF_AFTER`], and on `stop_server` or cancellation drains the server and ends the service.
//!
//! It ticks every millisecond only while handlers are in flight (or a loop is put down);
//! otherwise it sleeps until a handler starts, so an idle server costs one wake-up a second.

use super::event_loop::HANDOFF_AFTER;
use super::{Live, ServerDef, DRAIN_TIMEOUT};
use crate::runtime::ServiceGuard;
use crossbeam_channel::Receiver;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BUSY_TICK: Duration = Duration::from_millis(1);
const IDLE_TICK: Duration = Duration::from_secs(1);

/// Starts the control thread of `live`.
pub fn start(
    live: Arc<Live>,
    server: Arc<ServerDef>,
    stop_rx: Receiver<()>,
    wake_rx: Receiver<()>,
    guard: ServiceGuard,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(format!("server-{}-control", live.name))
        .stack_size(256 * 1024)
        .spawn(move || run(live, server, stop_rx, wake_rx, guard))
        .map(|_| ())
}

fn run(
    live: Arc<Live>,
    server: Arc<ServerDef>,
    stop_rx: Receiver<()>,
    wake_rx: Receiver<()>,
    guard: ServiceGuard,
) {
    loop {
        let tick = tick_for(&live);
        crossbeam_channel::select! {
            recv(stop_rx) -> _ => break,
            recv(live.rt.cancel.signal()) -> _ => break,
            recv(wake_rx) -> _ => {}
            default(tick) => {}
        }
        live.control_armed.store(false, Ordering::Release);
        watch(&live);
    }
    live.stop.store(true, Ordering::Release);
    for l in &live.loops {
        l.wake();
    }
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    while !live.drained() && Instant::now() < deadline {
        let _ = wake_rx.recv_timeout(BUSY_TICK);
        watch(&live);
    }
    if !live.drained() {
        live.force.store(true, Ordering::Release);
        for l in &live.loops {
            l.wake();
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while !live.all_loops_finished() && Instant::now() < deadline {
            let _ = wake_rx.recv_timeout(BUSY_TICK);
            watch(&live);
        }
    }
    live.listener_closed();
    live.workers.close();
    // A stopped server can be started again: forget this run if `stop_server` did not already.
    let mut running = server.running.lock();
    if running.as_ref().is_some_and(|r| Arc::ptr_eq(r, &live)) {
        *running = None;
    }
    drop(running);
    drop(guard);
}

/// How long to sleep: a millisecond while handlers run or a loop sits put down, else until a
/// handler starts (armed: `Live::handler_started` sends the wake-up).
fn tick_for(live: &Live) -> Duration {
    live.control_armed.store(true, Ordering::Release);
    let busy =
        live.in_flight.load(Ordering::Acquire) > 0 || live.loops.iter().any(|l| l.is_sitting());
    if busy {
        live.control_armed.store(false, Ordering::Release);
        BUSY_TICK
    } else {
        IDLE_TICK
    }
}

/// One look: handler deadlines, then loops waiting for a worker.
fn watch(live: &Arc<Live>) {
    if let Some(limit) = live.handler_limit {
        live.workers.check_time(limit);
    }
    let before = live
        .now_us()
        .saturating_sub(HANDOFF_AFTER.as_micros() as u64);
    for l in &live.loops {
        if l.wants_handoff(before) {
            super::worker::hand_off(live, Arc::clone(l));
        }
    }
}
