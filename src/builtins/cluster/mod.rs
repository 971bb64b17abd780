//! `cluster` (SPEC §15): channels and pub/sub shared by every solvm process started with the same
//! `--cluster redis://...`, and (see `store.rs`) the shared `store`. Without `--cluster` the same
//! calls work inside the process with the same semantics, carrying only what could cross processes.
//! The Redis keys and the value encoding are in docs/cluster.md.

mod channel;
mod mixed;
pub mod pool;
mod pubsub;
mod scripts;
pub mod store;

use crate::builtins::catalog::{self, f};
use crate::builtins::chan::{ChanRef, Channel, RemoteChannel, RemoteRef};
use crate::runtime::args::{arg_error, bad_argument, MISSING};
use crate::runtime::ctx;
use crate::runtime::value::SharedHandle;
use mlua::{Lua, MultiValue, Value as LuaValue};
use parking_lot::Mutex;
use pool::Redis;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The cluster family's catalog rows.
pub const CATALOG: &[catalog::Builtin] = &[
    catalog::table("cluster", "Channels and pub/sub shared by every process of a `--cluster` (in-process without it)."),
    f("cluster.chan", &["name: string", "size?: integer"], &["Channel"], "A channel shared by every process of the cluster; the first to create it sets its capacity."),
    f("cluster.publish", &["topic: string", "value: any"], &["integer reached"], "Sends `value` (data only) to every subscriber of `topic`, in any process; returns how many were reached."),
    f("cluster.subscribe", &["topic: string", "size?: integer"], &["Channel"], "A channel receiving every value published to `topic` from now on (buffer `size`, default 1024)."),
    f("cluster.unsubscribe", &["ch: Channel"], &["boolean"], "Ends a subscription and closes its channel; false if `ch` was not one."),
    f("cluster.url", &[], &["string?"], "The `--cluster` URL (password hidden), or nil when the cluster is this process only."),
];

/// Redis key names (docs/cluster.md lists them).
pub mod keys {
    pub const STORE_PREFIX: &str = "solvm:store:";
    pub const TOPIC_PREFIX: &str = "solvm:topic:";

    /// A `store` entry.
    pub fn store(key: &str) -> String {
        format!("{STORE_PREFIX}{key}")
    }
    /// A cluster channel's list of encoded values.
    pub fn chan_list(name: &str) -> String {
        format!("solvm:chan:{name}")
    }
    /// A cluster channel's hash: `cap`, and `closed` once closed.
    pub fn chan_meta(name: &str) -> String {
        format!("solvm:chanmeta:{name}")
    }
    /// The Redis pub/sub channel of a topic.
    pub fn topic(topic: &str) -> String {
        format!("{TOPIC_PREFIX}{topic}")
    }
    /// A topic's subscriber counts: pub/sub connection id → subscriptions in that process.
    pub fn subs(topic: &str) -> String {
        format!("solvm:subs:{topic}")
    }
}

/// Names unique to this process (acknowledgement lists of rendezvous sends).
pub struct Ids {
    token: String,
    next: AtomicU64,
}

impl Ids {
    fn new() -> Ids {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Ids {
            token: format!("{:x}.{:x}.{:x}", std::process::id(), nanos, random_u64()),
            next: AtomicU64::new(1),
        }
    }

    /// A fresh acknowledgement list name.
    pub fn ack_key(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("solvm:ack:{}:{n}", self.token)
    }
}

pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

/// A random index below `n` (0 when `n` ≤ 1): where a select starts looking, for fairness.
pub fn random_below(n: usize) -> usize {
    if n <= 1 {
        0
    } else {
        (random_u64() % n as u64) as usize
    }
}

/// The run's cluster: Redis (or not), the channels this process opened, its subscriptions.
struct Cluster {
    redis: Option<Result<Arc<Redis>, String>>,
    ids: Arc<Ids>,
    local: Mutex<HashMap<String, Arc<Channel>>>,
    remote: Mutex<HashMap<String, Arc<dyn RemoteChannel>>>,
    topics: pubsub::Topics,
}

fn cluster(lua: &Lua) -> Arc<Cluster> {
    let rt = ctx(lua).rt;
    rt.extension(|| Cluster {
        redis: rt
            .config
            .cluster
            .as_deref()
            .map(|url| Redis::open(url).map(Arc::new)),
        ids: Arc::new(Ids::new()),
        local: Mutex::new(HashMap::new()),
        remote: Mutex::new(HashMap::new()),
        topics: pubsub::Topics::default(),
    })
}

impl Cluster {
    fn redis(&self) -> mlua::Result<Option<&Arc<Redis>>> {
        match &self.redis {
            None => Ok(None),
            Some(Ok(r)) => Ok(Some(r)),
            Some(Err(e)) => Err(mlua::Error::runtime(e.clone())),
        }
    }
}

/// The cluster's Redis (for `store`); an error when the run has no `--cluster`.
pub fn redis_of(lua: &Lua) -> mlua::Result<Arc<Redis>> {
    cluster(lua)
        .redis()?
        .cloned()
        .ok_or_else(|| mlua::Error::runtime("the run has no --cluster"))
}

/// `--cluster URL` at start: can Redis be reached? The message names the URL (password hidden).
pub fn check_reachable(url: &str) -> Result<(), String> {
    Redis::open(url)?.ping()
}

fn string_arg(args: &MultiValue, pos: usize, func: &str) -> mlua::Result<String> {
    match args.get(pos - 1) {
        Some(LuaValue::String(s)) => Ok(s.to_str()?.to_string()),
        Some(LuaValue::Integer(i)) => Ok(i.to_string()),
        Some(other) => Err(bad_argument(pos, func, "string", other)),
        None => Err(bad_argument(pos, func, "string", MISSING)),
    }
}

fn size_arg(args: &MultiValue, pos: usize, func: &str) -> mlua::Result<Option<usize>> {
    let n = match args.get(pos - 1) {
        None | Some(LuaValue::Nil) => return Ok(None),
        Some(LuaValue::Integer(i)) => *i as f64,
        Some(LuaValue::Number(n)) => *n,
        Some(other) => return Err(bad_argument(pos, func, "number", other)),
    };
    if !(0.0..=1e9).contains(&n) || n.fract() != 0.0 {
        return Err(arg_error(
            pos,
            func,
            "size must be a whole number from 0 up",
        ));
    }
    Ok(Some(n as usize))
}

/// `cluster.chan(name, [size])`.
fn chan(lua: &Lua, args: MultiValue) -> mlua::Result<LuaValue> {
    let name = string_arg(&args, 1, "chan")?;
    let size = size_arg(&args, 2, "chan")?;
    let cl = cluster(lua);
    let mismatch = |cap: usize| {
        mlua::Error::runtime(format!(
            "cluster.chan: channel '{name}' already exists with capacity {cap}, not {}",
            size.unwrap_or(0)
        ))
    };
    let Some(redis) = cl.redis()? else {
        let mut local = cl.local.lock();
        let ch = match local.get(&name) {
            Some(ch) if size.is_none_or(|s| s == ch.cap) => Arc::clone(ch),
            Some(ch) => return Err(mismatch(ch.cap)),
            None => {
                let ch = Channel::new_data_only(name.clone(), size.unwrap_or(0));
                local.insert(name, Arc::clone(&ch));
                ch
            }
        };
        drop(local);
        return ChanRef(ch).push(lua);
    };
    let known = cl.remote.lock().get(&name).cloned();
    let ch = match known {
        Some(ch) if size.is_none_or(|s| s == ch.cap()) => ch,
        Some(ch) => return Err(mismatch(ch.cap())),
        None => {
            let opened: Arc<dyn RemoteChannel> = Arc::new(channel::RedisChannel::open(
                lua, redis, &cl.ids, &name, size,
            )?);
            Arc::clone(cl.remote.lock().entry(name).or_insert(opened))
        }
    };
    RemoteRef(ch).push(lua)
}

/// Installs the global `cluster` table.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    let t = lua.create_table()?;
    t.set("chan", lua.create_function(chan)?)?;
    t.set(
        "publish",
        lua.create_function(|lua, args: MultiValue| {
            let topic = string_arg(&args, 1, "publish")?;
            let cl = cluster(lua);
            cl.topics.publish(
                lua,
                cl.redis()?,
                &topic,
                args.get(1).unwrap_or(&LuaValue::Nil),
            )
        })?,
    )?;
    t.set(
        "subscribe",
        lua.create_function(|lua, args: MultiValue| {
            let topic = string_arg(&args, 1, "subscribe")?;
            let size = size_arg(&args, 2, "subscribe")?.unwrap_or(pubsub::DEFAULT_SIZE);
            let cl = cluster(lua);
            cl.topics.subscribe(lua, cl.redis()?, &topic, size)
        })?,
    )?;
    t.set(
        "unsubscribe",
        lua.create_function(|lua, ch: LuaValue| {
            let sub = match &ch {
                LuaValue::UserData(ud) => ud.borrow::<ChanRef>().ok().map(|c| Arc::clone(&c.0)),
                _ => None,
            };
            let Some(sub) = sub else {
                return Err(bad_argument(1, "unsubscribe", "channel", &ch));
            };
            let cl = cluster(lua);
            cl.topics.unsubscribe(lua, cl.redis()?, &sub)
        })?,
    )?;
    t.set(
        "url",
        lua.create_function(|lua, ()| Ok(ctx(lua).rt.config.cluster.as_deref().map(pool::redact)))?,
    )?;
    lua.globals().set("cluster", t)
}
