//! `cluster.publish/subscribe/unsubscribe`: a subscription is a local channel that receives every
//! value published to its topic from then on. In process, `publish` delivers directly; with Redis,
//! it goes through Redis `PUBLISH`, and one thread per process reads the process's own pub/sub
//! connection and feeds the local subscriptions (own messages included, so the order is Redis's).

use super::keys;
use super::pool::{Redis, REPLY_TIMEOUT, SLICE};
use crate::builtins::chan::{ChanRef, Channel};
use crate::runtime::goroutine::{self, Blocked};
use crate::runtime::value::{msgpack, SharedHandle, Value};
use crate::runtime::{ctx, report, ServiceGuard};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use mlua::{Lua, Value as LuaValue};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Buffer of a subscription unless `subscribe` says otherwise. A subscriber that falls this far
/// behind loses messages (reported on stderr): a publisher never waits for subscribers.
pub const DEFAULT_SIZE: usize = 1024;
/// How long `subscribe` waits for Redis to confirm.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the pub/sub thread looks for new subscriptions while no message arrives.
const POLL: Duration = Duration::from_millis(20);

struct Sub {
    ch: Arc<Channel>,
    dropped: AtomicU64,
}

type Subs = Mutex<HashMap<String, Vec<Arc<Sub>>>>;

/// The process's subscriptions, and its link to Redis pub/sub when there is one.
#[derive(Default)]
pub struct Topics {
    subs: Arc<Subs>,
    link: Mutex<Option<Link>>,
    /// Held while Redis subscriptions exist: messages may come from other processes, so the run
    /// is a service, as with a listener (SPEC §4).
    service: Mutex<Option<ServiceGuard>>,
}

struct Link {
    cmds: Sender<Cmd>,
    /// `CLIENT ID` of the pub/sub connection: this process's field in the subscriber counts.
    client_id: Arc<AtomicI64>,
}

enum Cmd {
    Subscribe(String, Sender<Result<(), String>>),
    Unsubscribe(String),
}

impl Topics {
    /// `cluster.subscribe(topic, [size])`.
    pub fn subscribe(
        &self,
        lua: &Lua,
        redis: Option<&Arc<Redis>>,
        topic: &str,
        size: usize,
    ) -> mlua::Result<LuaValue> {
        let ch = Channel::new(Some(topic.to_string()), size);
        let sub = Arc::new(Sub {
            ch: Arc::clone(&ch),
            dropped: AtomicU64::new(0),
        });
        let first_here = {
            let mut subs = self.subs.lock();
            let list = subs.entry(topic.to_string()).or_default();
            list.push(Arc::clone(&sub));
            list.len() == 1
        };
        if let Some(redis) = redis {
            if let Err(e) = self.subscribe_redis(lua, redis, topic, first_here) {
                self.remove(&ch);
                return Err(e);
            }
        }
        ChanRef(ch).push(lua)
    }

    fn subscribe_redis(
        &self,
        lua: &Lua,
        redis: &Arc<Redis>,
        topic: &str,
        first_here: bool,
    ) -> mlua::Result<()> {
        let rt = ctx(lua).rt;
        let (cmds, client_id) = {
            let mut link = self.link.lock();
            let link =
                link.get_or_insert_with(|| start_link(Arc::clone(redis), Arc::clone(&self.subs)));
            (link.cmds.clone(), Arc::clone(&link.client_id))
        };
        if first_here {
            let (tx, rx) = crossbeam_channel::bounded(1);
            let _ = cmds.send(Cmd::Subscribe(topic.to_string(), tx));
            wait_confirmed(lua, redis, topic, &rx)?;
        }
        self.service
            .lock()
            .get_or_insert_with(|| rt.start_service());
        let id = client_id.load(Ordering::Acquire);
        let what = || format!("cluster.subscribe(\"{topic}\")");
        redis.call(lua, &what, &mut |c| {
            redis::cmd("HINCRBY")
                .arg(keys::subs(topic))
                .arg(id)
                .arg(1)
                .query::<()>(c)
        })
    }

    /// Forgets subscription `ch`; `(topic, last one here)` when it was one.
    fn remove(&self, ch: &Arc<Channel>) -> Option<(String, bool)> {
        let mut subs = self.subs.lock();
        let topic = subs
            .iter()
            .find(|(_, l)| l.iter().any(|s| Arc::ptr_eq(&s.ch, ch)))
            .map(|(t, _)| t.clone())?;
        let list = subs.get_mut(&topic)?;
        list.retain(|s| !Arc::ptr_eq(&s.ch, ch));
        let last = list.is_empty();
        if last {
            subs.remove(&topic);
        }
        if subs.is_empty() {
            self.service.lock().take();
        }
        Some((topic, last))
    }

    /// `cluster.unsubscribe(ch)`: closes the subscription; `false` if `ch` was not one.
    pub fn unsubscribe(
        &self,
        lua: &Lua,
        redis: Option<&Arc<Redis>>,
        ch: &Arc<Channel>,
    ) -> mlua::Result<bool> {
        let Some((topic, last)) = self.remove(ch) else {
            return Ok(false);
        };
        ch.close();
        if let Some(redis) = redis {
            let link = self.link.lock();
            if let Some(link) = link.as_ref() {
                if last {
                    let _ = link.cmds.send(Cmd::Unsubscribe(topic.clone()));
                }
                let id = link.client_id.load(Ordering::Acquire);
                let what = || format!("cluster.unsubscribe(\"{topic}\")");
                redis.call(lua, &what, &mut |c| {
                    let left: i64 = redis::cmd("HINCRBY")
                        .arg(keys::subs(&topic))
                        .arg(id)
                        .arg(-1)
                        .query(c)?;
                    if left <= 0 {
                        redis::cmd("HDEL")
                            .arg(keys::subs(&topic))
                            .arg(id)
                            .query::<()>(c)?;
                    }
                    Ok(())
                })?;
            }
        }
        Ok(true)
    }

    /// `cluster.publish(topic, value)` → subscribers reached (here and in other processes).
    pub fn publish(
        &self,
        lua: &Lua,
        redis: Option<&Arc<Redis>>,
        topic: &str,
        v: &LuaValue,
    ) -> mlua::Result<i64> {
        let root = format!("value published to topic '{topic}'");
        let Some(redis) = redis else {
            let value = msgpack::round_trip(lua, v, &root)?;
            return Ok(deliver(&self.subs, topic, &value) as i64);
        };
        let bytes = msgpack::encode_lua(lua, v, &root)?;
        let what = || format!("cluster.publish(\"{topic}\"): not published");
        let reply: Vec<i64> = redis.call(lua, &what, &mut |c| {
            redis
                .scripts
                .publish
                .key(keys::topic(topic))
                .key(keys::subs(topic))
                .arg(&bytes)
                .invoke(c)
        })?;
        let processes = reply.first().copied().unwrap_or(0);
        let counts: Vec<(i64, i64)> = reply[1.min(reply.len())..]
            .chunks_exact(2)
            .map(|p| (p[0], p[1]))
            .filter(|p| p.1 > 0)
            .collect();
        if counts.len() as i64 == processes {
            return Ok(counts.iter().map(|p| p.1).sum());
        }
        // Counts left by processes that died: keep those of live pub/sub connections only.
        let live = redis.with(&mut |c| {
            redis::cmd("CLIENT")
                .arg("LIST")
                .arg("TYPE")
                .arg("pubsub")
                .query::<String>(c)
        });
        let Ok(list) = live else {
            return Ok(counts.iter().map(|p| p.1).sum());
        };
        let ids: Vec<i64> = list
            .lines()
            .filter_map(|l| l.strip_prefix("id=")?.split(' ').next()?.parse().ok())
            .collect();
        let stale: Vec<i64> = counts
            .iter()
            .map(|p| p.0)
            .filter(|id| !ids.contains(id))
            .collect();
        if !stale.is_empty() {
            let _ = redis.with(&mut |c| {
                redis::cmd("HDEL")
                    .arg(keys::subs(topic))
                    .arg(&stale)
                    .query::<()>(c)
            });
        }
        Ok(counts
            .iter()
            .filter(|p| ids.contains(&p.0))
            .map(|p| p.1)
            .sum())
    }
}

/// Waits (cancellably) for the pub/sub thread to confirm a subscription.
fn wait_confirmed(
    lua: &Lua,
    redis: &Redis,
    topic: &str,
    rx: &Receiver<Result<(), String>>,
) -> mlua::Result<()> {
    let c = ctx(lua);
    let blocked = || Blocked {
        what: format!("cluster.subscribe(\"{topic}\")"),
        at: goroutine::caller_location(lua),
        has_timeout: true,
        waits_on: Vec::new(),
    };
    let got = goroutine::block_on(
        lua,
        &c,
        &blocked,
        Some(Instant::now() + CONFIRM_TIMEOUT),
        &mut |sel| {
            sel.recv(rx);
            1
        },
        &mut |_, op| op.recv(rx),
    )?;
    match got {
        Some(Ok(Ok(()))) => Ok(()),
        Some(Ok(Err(e))) => Err(mlua::Error::runtime(format!(
            "cluster.subscribe(\"{topic}\"): Redis at {}: {e}",
            redis.shown
        ))),
        _ => Err(mlua::Error::runtime(format!(
            "cluster.subscribe(\"{topic}\"): Redis at {} did not confirm within {CONFIRM_TIMEOUT:?}",
            redis.shown
        ))),
    }
}

/// Hands `value` to every subscription of `topic` here; how many took it.
fn deliver(subs: &Subs, topic: &str, value: &Value) -> usize {
    let list = subs.lock().get(topic).cloned().unwrap_or_default();
    let mut reached = 0;
    for sub in list {
        let Some(tx) = sub.ch.sender() else { continue };
        match tx.try_send(value.clone()) {
            Ok(()) => reached += 1,
            Err(TrySendError::Full(_)) => {
                let n = sub.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    report::emit(&format!(
                        "cluster: a subscriber to '{topic}' is {} messages behind; {n} message{} dropped so far\n",
                        sub.ch.cap,
                        if n == 1 { "" } else { "s" }
                    ));
                }
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
    reached
}

fn start_link(redis: Arc<Redis>, subs: Arc<Subs>) -> Link {
    let (tx, rx) = crossbeam_channel::unbounded();
    let client_id = Arc::new(AtomicI64::new(0));
    let id = Arc::clone(&client_id);
    let spawned = std::thread::Builder::new()
        .name("solvm-cluster-pubsub".into())
        .stack_size(256 * 1024)
        .spawn(move || run_link(&redis, &subs, &rx, &id));
    if let Err(e) = spawned {
        report::emit(&format!("cluster: cannot start the pub/sub thread: {e}\n"));
    }
    Link {
        cmds: tx,
        client_id,
    }
}

/// The pub/sub thread: (re)connects, (re)subscribes every topic with local subscribers, then
/// reads messages, taking new subscriptions between reads. Ends when the run's cluster state is
/// gone (its command sender dropped).
fn run_link(redis: &Redis, subs: &Subs, cmds: &Receiver<Cmd>, client_id: &AtomicI64) {
    loop {
        let mut conn = match redis.connect() {
            Ok(c) => c,
            Err(e) => {
                redis.outage(&e);
                if !fail_pending(cmds, &e.to_string()) {
                    return;
                }
                std::thread::sleep(SLICE * 3);
                continue;
            }
        };
        // Where ACLs forbid `CLIENT ID`, any id unique to this connection does for the counts.
        let id: i64 = redis::cmd("CLIENT")
            .arg("ID")
            .query(&mut conn)
            .unwrap_or_else(|_| -((super::random_u64() >> 2) as i64) - 1);
        let old = client_id.swap(id, Ordering::AcqRel);
        let topics: Vec<(String, usize)> = subs
            .lock()
            .iter()
            .map(|(t, l)| (t.clone(), l.len()))
            .collect();
        if old != 0 && old != id {
            // A new connection: the counts move to its id.
            let _ = redis.with(&mut |c| {
                let mut p = redis::pipe();
                for (t, n) in &topics {
                    p.cmd("HDEL").arg(keys::subs(t)).arg(old).ignore();
                    p.cmd("HSET").arg(keys::subs(t)).arg(id).arg(*n).ignore();
                }
                p.query::<()>(c)
            });
        }
        let mut ps = conn.as_pubsub();
        let mut ok = topics
            .iter()
            .all(|(t, _)| ps.subscribe(keys::topic(t)).is_ok())
            && ps.set_read_timeout(Some(POLL)).is_ok();
        if ok {
            redis.answered();
        }
        while ok {
            loop {
                let cmd = match cmds.try_recv() {
                    Ok(cmd) => cmd,
                    Err(crossbeam_channel::TryRecvError::Empty) => break,
                    Err(crossbeam_channel::TryRecvError::Disconnected) => return,
                };
                // A confirmation may take longer than a poll: give it a reply's time.
                ok = ps.set_read_timeout(Some(REPLY_TIMEOUT)).is_ok();
                match cmd {
                    Cmd::Subscribe(topic, reply) => {
                        let r = ps.subscribe(keys::topic(&topic));
                        ok &= r.is_ok();
                        let _ = reply.send(r.map_err(|e| e.to_string()));
                    }
                    Cmd::Unsubscribe(topic) => ok &= ps.unsubscribe(keys::topic(&topic)).is_ok(),
                }
                ok &= ps.set_read_timeout(Some(POLL)).is_ok();
                if !ok {
                    break;
                }
            }
            if !ok {
                break;
            }
            match ps.get_message() {
                Ok(msg) => {
                    let topic = msg
                        .get_channel_name()
                        .strip_prefix(keys::TOPIC_PREFIX)
                        .unwrap_or("")
                        .to_string();
                    match msgpack::decode(msg.get_payload_bytes()) {
                        Ok(v) => {
                            deliver(subs, &topic, &v);
                        }
                        Err(e) => report::emit(&format!(
                            "cluster: a message published to '{topic}' is not a SolVM value ({e}); skipped\n"
                        )),
                    }
                }
                Err(e) if e.is_timeout() => {}
                Err(e) => {
                    redis.outage(&e);
                    ok = false;
                }
            }
        }
        std::thread::sleep(SLICE);
    }
}

/// While Redis is unreachable, subscriptions asked for fail at once. `false` once the run is gone.
fn fail_pending(cmds: &Receiver<Cmd>, err: &str) -> bool {
    loop {
        match cmds.try_recv() {
            Ok(Cmd::Subscribe(_, reply)) => {
                let _ = reply.send(Err(err.to_string()));
            }
            Ok(Cmd::Unsubscribe(_)) => {}
            Err(crossbeam_channel::TryRecvError::Empty) => return true,
            Err(crossbeam_channel::TryRecvError::Disconnected) => return false,
        }
    }
}
