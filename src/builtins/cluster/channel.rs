//! Cluster channels kept in Redis: a list of encoded values per channel plus a meta hash (capacity,
//! closed). Sends and takes are atomic scripts; a blocked receive waits with `BLPOP` in short slices
//! through `io_wait`, and a `select` that mixes local channels (`mixed.rs`) hands the Redis side to a helper
//! thread whose catch, if the select went elsewhere, is put back at the head of its list.

use super::pool::{is_unreachable, Redis, SLICE};
use super::{keys, Ids};
use crate::builtins::chan::{Channel, Picked, RemoteChannel};
use crate::runtime::ctx;
use crate::runtime::goroutine;
use crate::runtime::value::{msgpack, Value};
use mlua::{Lua, Value as LuaValue};
use redis::{Connection, RedisResult};
use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a wait pauses after Redis could not be reached, before trying again.
pub(super) const RETRY_PAUSE: Duration = Duration::from_millis(250);
/// The element `close` appends after the last value, so that receivers blocked in `BLPOP` wake
/// at once; whoever pops it puts it back (the `take` script does so itself).
const CLOSED_MARKER: &[u8] = b"\0";
/// How long an acknowledgement list lives (a rendezvous sender normally takes it at once).
const ACK_TTL_SECS: i64 = 60;

/// One cluster channel as this process sees it.
pub struct RedisChannel {
    name: String,
    cap: usize,
    list: String,
    meta: String,
    pub(super) redis: Arc<Redis>,
    ids: Arc<Ids>,
}

/// What one look at some channels found: channel `i` gave an element, or is closed and drained.
pub(super) type Found = (usize, Option<Vec<u8>>);

impl RedisChannel {
    /// `cluster.chan(name, size)`: records the capacity (the first process decides; asking for
    /// another is an error, as for local channels).
    pub fn open(
        lua: &Lua,
        redis: &Arc<Redis>,
        ids: &Arc<Ids>,
        name: &str,
        size: Option<usize>,
    ) -> mlua::Result<RedisChannel> {
        let meta = keys::chan_meta(name);
        let asked = size.unwrap_or(0);
        let what = || format!("cluster.chan(\"{name}\")");
        let cap: i64 = redis.call(lua, &what, &mut |c| {
            redis.scripts.chan_open.key(&meta).arg(asked).invoke(c)
        })?;
        let cap = usize::try_from(cap).unwrap_or(0);
        if size.is_some_and(|s| s != cap) {
            return Err(mlua::Error::runtime(format!(
                "cluster.chan: channel '{name}' already exists with capacity {cap}, not {asked}"
            )));
        }
        Ok(RedisChannel {
            name: name.to_string(),
            cap,
            list: keys::chan_list(name),
            meta,
            redis: Arc::clone(redis),
            ids: Arc::clone(ids),
        })
    }

    fn closed_error(&self, what: &str) -> mlua::Error {
        mlua::Error::runtime(format!("{what} closed channel \"{}\"", self.name))
    }

    /// A found element as a received value (a rendezvous element is acknowledged first).
    pub(super) fn finish(
        &self,
        chans: &[&RedisChannel],
        found: Found,
    ) -> mlua::Result<(Picked, Option<Value>)> {
        let (i, bytes) = found;
        let Some(bytes) = bytes else {
            return Ok((Picked::Remote(i), None));
        };
        if bytes == CLOSED_MARKER {
            // The end of a closed channel: it stays there for every other receiver.
            let list = &chans[i].list;
            let _ = self.redis.with(&mut |c| {
                redis::cmd("LPUSH")
                    .arg(list)
                    .arg(CLOSED_MARKER)
                    .query::<()>(c)
            });
            return Ok((Picked::Remote(i), None));
        }
        let (value, ack) = msgpack::decode_element(&bytes).map_err(|e| {
            mlua::Error::runtime(format!(
                "receive on cluster channel \"{}\": a message that is not a SolVM value ({e})",
                chans[i].name
            ))
        })?;
        if let Some(ack) = ack {
            // The sender also notices its element is gone on its own: a lost ack only slows it.
            let _ = self.redis.with(&mut |c| {
                redis::pipe()
                    .rpush(&ack, 1)
                    .ignore()
                    .expire(&ack, ACK_TTL_SECS)
                    .ignore()
                    .query::<()>(c)
            });
        }
        Ok((Picked::Remote(i), Some(value)))
    }

    /// Waits on cluster channels only, on this goroutine's thread.
    fn receive_any(
        &self,
        lua: &Lua,
        chans: &[&RedisChannel],
        deadline: Option<Instant>,
    ) -> mlua::Result<Option<(Picked, Option<Value>)>> {
        let keys = key_pairs(chans);
        let redis = &self.redis;
        let mut pause = false;
        let c = ctx(lua);
        let found = goroutine::io_wait(lua, &c, &mut || {
            if std::mem::take(&mut pause) {
                std::thread::sleep(RETRY_PAUSE);
            }
            match redis.with(&mut |conn| look(redis, conn, &keys, deadline)) {
                Ok(Look::Found(f)) => {
                    redis.answered();
                    Ok(Some(Some(f)))
                }
                Ok(Look::Deadline) => Ok(Some(None)),
                Ok(Look::Nothing) => {
                    redis.answered();
                    Ok(None)
                }
                Err(e) if is_unreachable(Some(&e)) => {
                    redis.outage(&e);
                    pause = true;
                    Ok(deadline
                        .is_some_and(|d| Instant::now() >= d)
                        .then_some(None))
                }
                Err(e) => Err(redis.error(&format!("receive on {}", label(chans)), &e)),
            }
        })?;
        found.map(|f| self.finish(chans, f)).transpose()
    }
}

pub(super) fn label(chans: &[&RedisChannel]) -> String {
    chans
        .iter()
        .map(|c| format!("cluster channel \"{}\"", c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// (list, meta) keys, rotated by a random offset so that no channel is always looked at first.
pub(super) fn key_pairs(chans: &[&RedisChannel]) -> Vec<(usize, String, String)> {
    let n = chans.len();
    let start = super::random_below(n);
    (0..n)
        .map(|k| {
            let i = (start + k) % n;
            (i, chans[i].list.clone(), chans[i].meta.clone())
        })
        .collect()
}

pub(super) enum Look {
    Found(Found),
    Nothing,
    Deadline,
}

/// Takes an element (or notices a closed channel) without waiting.
pub(super) fn take(
    redis: &Redis,
    conn: &mut Connection,
    keys: &[(usize, String, String)],
) -> RedisResult<Option<Found>> {
    let mut inv = redis.scripts.take.prepare_invoke();
    for (_, list, meta) in keys {
        inv.key(list).key(meta);
    }
    // {i, element} or {i} (closed): an array of one or two.
    let reply: Option<Vec<redis::Value>> = inv.invoke(conn)?;
    let mut reply = reply.unwrap_or_default().into_iter();
    let pos = match reply.next() {
        Some(redis::Value::Int(i)) => i,
        _ => return Ok(None),
    };
    let bytes = match reply.next() {
        Some(redis::Value::BulkString(b)) => Some(b),
        _ => None,
    };
    Ok(usize::try_from(pos - 1)
        .ok()
        .and_then(|p| keys.get(p))
        .map(|k| (k.0, bytes)))
}

/// One look: wait one slice with `BLPOP` (never past `deadline`), which returns at once when an
/// element is there, so a receive is one round trip; after an empty slice, `take` looks at the
/// closed flags (a closed channel normally wakes `BLPOP` at once, through its closed marker).
pub(super) fn look(
    redis: &Redis,
    conn: &mut Connection,
    keys: &[(usize, String, String)],
    deadline: Option<Instant>,
) -> RedisResult<Look> {
    let slice = match deadline {
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            if left < Duration::from_millis(1) {
                // No time to wait: one look without waiting.
                return Ok(take(redis, conn, keys)?.map_or(Look::Deadline, Look::Found));
            }
            left.min(SLICE)
        }
        None => SLICE,
    };
    let mut cmd = redis::cmd("BLPOP");
    for (_, list, _) in keys {
        cmd.arg(list);
    }
    cmd.arg(format!("{:.3}", slice.as_secs_f64()));
    let popped: Option<(String, Vec<u8>)> = cmd.query(conn)?;
    Ok(match popped {
        Some((key, bytes)) => match keys.iter().find(|k| k.1 == key) {
            Some(k) => Look::Found((k.0, Some(bytes))),
            None => Look::Nothing,
        },
        None => take(redis, conn, keys)?.map_or(Look::Nothing, Look::Found),
    })
}

impl RemoteChannel for RedisChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn cap(&self) -> usize {
        self.cap
    }

    fn len(&self, lua: &Lua) -> mlua::Result<usize> {
        if self.cap == 0 {
            // As for a local rendezvous channel; waiting senders' elements are not a buffer.
            return Ok(0);
        }
        let what = || format!("#cluster channel \"{}\"", self.name);
        let (len, closed): (usize, bool) = self.redis.call(lua, &what, &mut |c| {
            redis::pipe()
                .cmd("LLEN")
                .arg(&self.list)
                .cmd("HEXISTS")
                .arg(&self.meta)
                .arg("closed")
                .query(c)
        })?;
        // The closed marker is not a value.
        Ok(len.saturating_sub(closed as usize))
    }

    fn is_closed(&self, lua: &Lua) -> mlua::Result<bool> {
        let what = || format!("is_closed(cluster channel \"{}\")", self.name);
        self.redis.call(lua, &what, &mut |c| {
            redis::cmd("HEXISTS").arg(&self.meta).arg("closed").query(c)
        })
    }

    fn send(&self, lua: &Lua, v: &LuaValue, deadline: Option<Instant>) -> mlua::Result<bool> {
        let root = format!("value sent on cluster channel \"{}\"", self.name);
        let value = msgpack::from_lua(lua, v, &root)?;
        let ack = (self.cap == 0).then(|| self.ids.ack_key());
        let bytes = match &ack {
            Some(ack) => msgpack::encode_rendezvous(ack, &value, &root)?,
            None => msgpack::encode(&value, &root)?,
        };
        drop(value);
        let what = || format!("send on cluster channel \"{}\": not sent", self.name);
        let c = ctx(lua);
        let mut pause = Duration::from_millis(1);
        loop {
            let stored: i64 = self.redis.call(lua, &what, &mut |conn| {
                self.redis
                    .scripts
                    .send
                    .key(&self.list)
                    .key(&self.meta)
                    .arg(&bytes)
                    .arg(self.cap)
                    .invoke(conn)
            })?;
            match stored {
                1 => break,
                -1 => return Err(self.closed_error("send on")),
                _ => {
                    // Full: look again soon (no event tells a sender that room was made).
                    let now = Instant::now();
                    if deadline.is_some_and(|d| now >= d) {
                        return Ok(false);
                    }
                    let wait = deadline.map_or(pause, |d| pause.min(d - now));
                    goroutine::sleep(lua, &c, wait)?;
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
            }
        }
        match ack {
            Some(ack) => self.await_taken(lua, &ack, &bytes, deadline),
            None => Ok(true),
        }
    }

    fn try_receive(&self, lua: &Lua) -> mlua::Result<Option<Option<Value>>> {
        let chans = [self];
        let keys = key_pairs(&chans);
        let what = || format!("try_receive on cluster channel \"{}\"", self.name);
        let redis = &self.redis;
        match redis.call(lua, &what, &mut |conn| take(redis, conn, &keys))? {
            Some(found) => Ok(Some(self.finish(&chans, found)?.1)),
            None => Ok(None),
        }
    }

    fn close(&self, lua: &Lua) -> mlua::Result<bool> {
        let what = || format!("close of cluster channel \"{}\"", self.name);
        let done: i64 = self.redis.call(lua, &what, &mut |c| {
            self.redis
                .scripts
                .close
                .key(&self.meta)
                .key(&self.list)
                .invoke(c)
        })?;
        if done == 1 {
            Ok(true)
        } else {
            Err(self.closed_error("close of"))
        }
    }

    fn select(
        &self,
        lua: &Lua,
        locals: &[&Arc<Channel>],
        remotes: &[&Arc<dyn RemoteChannel>],
        deadline: Option<Instant>,
    ) -> mlua::Result<Option<(Picked, Option<Value>)>> {
        let chans = remotes
            .iter()
            .map(|r| r.as_any().downcast_ref::<RedisChannel>())
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| mlua::Error::runtime("select: a cluster channel of another cluster"))?;
        if locals.is_empty() {
            self.receive_any(lua, &chans, deadline)
        } else {
            self.select_mixed(lua, locals, &chans, deadline)
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl RedisChannel {
    /// A rendezvous send waits until its element is taken: the receiver pushes onto `ack`; the
    /// sender also sees the element gone from the list. On its deadline, or when the channel is
    /// closed, it withdraws the element if it is still there.
    fn await_taken(
        &self,
        lua: &Lua,
        ack: &str,
        bytes: &[u8],
        deadline: Option<Instant>,
    ) -> mlua::Result<bool> {
        enum End {
            Taken,
            Withdrawn,
            Closed,
        }
        let redis = &self.redis;
        let withdraw = |conn: &mut Connection| -> RedisResult<bool> {
            let removed: i64 = redis::cmd("LREM")
                .arg(&self.list)
                .arg(1)
                .arg(bytes)
                .query(conn)?;
            Ok(removed == 1)
        };
        let mut pause = false;
        let c = ctx(lua);
        let end = goroutine::io_wait(lua, &c, &mut || {
            if std::mem::take(&mut pause) {
                std::thread::sleep(RETRY_PAUSE);
            }
            let slice = deadline.map_or(SLICE, |d| {
                d.saturating_duration_since(Instant::now())
                    .clamp(Duration::from_millis(1), SLICE)
            });
            let r = redis.with(&mut |conn| {
                let acked: Option<(String, String)> = redis::cmd("BLPOP")
                    .arg(ack)
                    .arg(format!("{:.3}", slice.as_secs_f64()))
                    .query(conn)?;
                if acked.is_some() {
                    return Ok(Some(End::Taken));
                }
                let (closed, pos): (bool, Option<i64>) = redis::pipe()
                    .cmd("HEXISTS")
                    .arg(&self.meta)
                    .arg("closed")
                    .cmd("LPOS")
                    .arg(&self.list)
                    .arg(bytes)
                    .query(conn)?;
                if pos.is_none() {
                    return Ok(Some(End::Taken));
                }
                let late = deadline.is_some_and(|d| Instant::now() >= d);
                if !(closed || late) {
                    return Ok(None);
                }
                Ok(Some(match withdraw(conn)? {
                    true if closed => End::Closed,
                    true => End::Withdrawn,
                    false => End::Taken,
                }))
            });
            match r {
                Ok(v) => {
                    redis.answered();
                    Ok(v)
                }
                Err(e) if is_unreachable(Some(&e)) => {
                    // The element is stored: wait for Redis to come back, as receivers do.
                    redis.outage(&e);
                    pause = true;
                    Ok(None)
                }
                Err(e) => {
                    Err(redis.error(&format!("send on cluster channel \"{}\"", self.name), &e))
                }
            }
        });
        match end {
            Ok(End::Taken) => Ok(true),
            Ok(End::Withdrawn) => Ok(false),
            Ok(End::Closed) => Err(self.closed_error("send on")),
            Err(e) => {
                // Cancelled while waiting: nobody will wait for this element any more.
                let _ = redis.with(&mut |conn| withdraw(conn));
                Err(e)
            }
        }
    }
}
