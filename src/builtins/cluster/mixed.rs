//! A `select` over local and cluster channels at once: the cluster side waits on a helper thread
//! (`BLPOP` slices) while the goroutine waits on its local channels and the helper's bell; if the
//! select takes a local value, whatever the helper caught goes back to the head of its list.

use super::channel::{key_pairs, label, look, take, Found, Look, RedisChannel, RETRY_PAUSE};
use super::pool::{is_unreachable, Redis};
use crate::builtins::chan::{Channel, Picked};
use crate::runtime::goroutine::{self, Blocked};
use crate::runtime::value::Value;
use crate::runtime::{ctx, report};
use mlua::Lua;
use std::sync::Arc;
use std::time::Instant;

impl RedisChannel {
    /// Waits on local and cluster channels at once: the cluster side on a helper thread.
    pub(super) fn select_mixed(
        &self,
        lua: &Lua,
        locals: &[&Arc<Channel>],
        chans: &[&RedisChannel],
        deadline: Option<Instant>,
    ) -> mlua::Result<Option<(Picked, Option<Value>)>> {
        let n = locals.len();
        let start = super::random_below(n);
        for k in 0..n {
            let i = (start + k) % n;
            match locals[i].receiver().try_recv() {
                Ok(v) => return Ok(Some((Picked::Local(i), Some(v)))),
                Err(crossbeam_channel::TryRecvError::Disconnected) => {
                    return Ok(Some((Picked::Local(i), None)))
                }
                Err(crossbeam_channel::TryRecvError::Empty) => {}
            }
        }
        let keys = key_pairs(chans);
        let redis = &self.redis;
        let what = || format!("select on {}", label(chans));
        if let Some(found) = redis.call(lua, &what, &mut |conn| take(redis, conn, &keys))? {
            return self.finish(chans, found).map(Some);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(None);
        }
        let (ready_tx, ready_rx) = crossbeam_channel::bounded::<()>(1);
        let handoff = Arc::new(parking_lot::Mutex::new(Slot::Waiting));
        spawn_waiter(
            Arc::clone(redis),
            keys.clone(),
            Arc::clone(&handoff),
            ready_tx,
        )?;
        enum Woke {
            Local(usize, Option<Value>),
            Remote,
        }
        let c = ctx(lua);
        let blocked = || Blocked {
            what: format!("select({})", label(chans)),
            at: goroutine::caller_location(lua),
            // Another process can always send: never part of a deadlock.
            has_timeout: true,
            waits_on: Vec::new(),
        };
        let woke = goroutine::block_on(
            lua,
            &c,
            &blocked,
            deadline,
            &mut |sel| {
                for ch in locals {
                    sel.recv(ch.receiver());
                }
                sel.recv(&ready_rx);
                n + 1
            },
            &mut |i, op| {
                if i < n {
                    Woke::Local(i, op.recv(locals[i].receiver()).ok())
                } else {
                    let _ = op.recv(&ready_rx);
                    Woke::Remote
                }
            },
        );
        match woke {
            Ok(Some(Woke::Remote)) => {
                let slot = std::mem::replace(&mut *handoff.lock(), Slot::Abandoned);
                match slot {
                    Slot::Got(Ok(found)) => self.finish(chans, found).map(Some),
                    Slot::Got(Err(e)) => Err(mlua::Error::runtime(format!("{}: {e}", what()))),
                    _ => Ok(None),
                }
            }
            other => {
                abandon(redis, &handoff, &keys, chans);
                match other? {
                    Some(Woke::Local(i, v)) => Ok(Some((Picked::Local(i), v))),
                    _ => Ok(None),
                }
            }
        }
    }
}

/// What the helper thread of a mixed select caught.
enum Slot {
    Waiting,
    Got(Result<Found, String>),
    /// The select is over: whatever the waiter takes from now on goes back.
    Abandoned,
}

fn spawn_waiter(
    redis: Arc<Redis>,
    keys: Vec<(usize, String, String)>,
    handoff: Arc<parking_lot::Mutex<Slot>>,
    ready: crossbeam_channel::Sender<()>,
) -> mlua::Result<()> {
    std::thread::Builder::new()
        .name("solvm-cluster-select".into())
        .stack_size(256 * 1024)
        .spawn(move || loop {
            if matches!(*handoff.lock(), Slot::Abandoned) {
                return;
            }
            let got = match redis.with(&mut |conn| look(&redis, conn, &keys, None)) {
                Ok(Look::Found(f)) => Ok(f),
                Ok(_) => continue,
                Err(e) if is_unreachable(Some(&e)) => {
                    redis.outage(&e);
                    std::thread::sleep(RETRY_PAUSE);
                    continue;
                }
                Err(e) => Err(e.to_string()),
            };
            redis.answered();
            let mut slot = handoff.lock();
            if matches!(*slot, Slot::Abandoned) {
                drop(slot);
                if let Ok(found) = got {
                    put_back(&redis, &keys, found);
                }
            } else {
                *slot = Slot::Got(got);
                let _ = ready.try_send(());
            }
            return;
        })
        .map(|_| ())
        .map_err(|e| mlua::Error::runtime(format!("select: cannot start a thread: {e}")))
}

/// Ends a mixed select that took something else (or nothing): what the waiter caught goes back.
fn abandon(
    redis: &Redis,
    handoff: &parking_lot::Mutex<Slot>,
    keys: &[(usize, String, String)],
    _chans: &[&RedisChannel],
) {
    let slot = std::mem::replace(&mut *handoff.lock(), Slot::Abandoned);
    if let Slot::Got(Ok(found)) = slot {
        put_back(redis, keys, found);
    }
}

/// Returns an element to the head of its list, where the next receiver takes it.
fn put_back(redis: &Redis, keys: &[(usize, String, String)], found: Found) {
    let (i, Some(bytes)) = found else { return };
    let Some((_, list, _)) = keys.iter().find(|k| k.0 == i) else {
        return;
    };
    if let Err(e) = redis.with(&mut |c| redis::cmd("LPUSH").arg(list).arg(&bytes).query::<()>(c)) {
        report::emit(&format!(
            "cluster: a message taken from {list} for a select that went elsewhere could not be put back ({e}): it is lost\n"
        ));
    }
}
