//! Channels (SPEC §5): `chan`, `send`, `receive`, `try_receive`, `close`, `select`, and channel
//! objects with methods. Built on crossbeam channels; every blocking operation goes through
//! `goroutine::block_on`, so the timeout, shutdown and this goroutine's events reach it.

use crate::runtime::args::{self, arg_error, bad_argument, check_number, MISSING};
use crate::runtime::goroutine::{self, Blocked, ChannelState, WaitOn};
use crate::runtime::value::{self, SharedHandle, Value};
use crate::runtime::{ctx, Ctx};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use mlua::{Lua, MetaMethod, MultiValue, UserData, UserDataMethods, Value as LuaValue};
use parking_lot::RwLock;
use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The largest buffer allocated whole when the channel is made (1024 values: ~40 KB); larger
/// ones grow as they fill (`crossbeam_channel::bounded_growable`, a SolVM patch, vendor/README.md).
const PREALLOCATED_UP_TO: usize = 1024;

/// One channel. Closing drops the channel's own sender, so receivers drain what is buffered and then
/// see the end; senders blocked at that moment are woken through `closed_signal`.
pub struct Channel {
    pub name: Option<String>,
    pub cap: usize,
    tx: RwLock<Option<Sender<Value>>>,
    rx: Receiver<Value>,
    closed: AtomicBool,
    close_trigger: parking_lot::Mutex<Option<Sender<()>>>,
    closed_signal: Receiver<()>,
    /// Carries only what can cross processes (an in-process cluster channel, SPEC §15).
    data_only: bool,
}

impl Channel {
    pub fn new(name: Option<String>, cap: usize) -> Arc<Channel> {
        Channel::build(name, cap, false)
    }

    /// A channel that carries only data, exactly as it would arrive from another process: an
    /// in-process cluster channel (`cluster.chan` without `--cluster`).
    pub fn new_data_only(name: String, cap: usize) -> Arc<Channel> {
        Channel::build(Some(name), cap, true)
    }

    fn build(name: Option<String>, cap: usize, data_only: bool) -> Arc<Channel> {
        // A small buffer is allocated at once (the fastest flavor); a larger one grows block by
        // block as values arrive, so `chan(1e9)` costs nothing until it fills (SPEC §4).
        let (tx, rx) = if cap <= PREALLOCATED_UP_TO {
            crossbeam_channel::bounded(cap)
        } else {
            crossbeam_channel::bounded_growable(cap)
        };
        let (ct, cs) = crossbeam_channel::bounded(0);
        Arc::new(Channel {
            name,
            cap,
            tx: RwLock::new(Some(tx)),
            rx,
            closed: AtomicBool::new(false),
            close_trigger: parking_lot::Mutex::new(Some(ct)),
            closed_signal: cs,
            data_only,
        })
    }

    fn label(&self) -> String {
        match &self.name {
            Some(n) => format!("\"{n}\""),
            None => "channel".into(),
        }
    }

    /// Go's wording: `send on closed channel "jobs"` (`send on closed channel` when anonymous).
    fn closed_error(&self, what: &str) -> mlua::Error {
        match &self.name {
            Some(n) => mlua::Error::runtime(format!("{what} closed channel \"{n}\"")),
            None => mlua::Error::runtime(format!("{what} closed channel")),
        }
    }

    /// A sender for producers outside Lua (a listener thread feeding connections), or `None` once
    /// the channel is closed. A producer should stop when [`Channel::is_open`] turns false.
    pub fn sender(&self) -> Option<Sender<Value>> {
        self.tx.read().clone()
    }

    /// Whether the channel is still open.
    pub fn is_open(&self) -> bool {
        !self.closed.load(Ordering::Acquire)
    }

    /// Closes the channel from Rust (a producer that has ended); `false` if it already was.
    pub fn close(&self) -> bool {
        if self.closed.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.tx.write().take();
        self.close_trigger.lock().take();
        true
    }
}

impl ChannelState for Channel {
    fn id(&self) -> usize {
        self as *const Channel as usize
    }
    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
    fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }
    fn is_full(&self) -> bool {
        self.cap == 0 || self.rx.len() >= self.cap
    }
}

/// A channel as a Lua value; crosses goroutines by reference.
#[derive(Clone)]
pub struct ChanRef(pub Arc<Channel>);

impl SharedHandle for ChanRef {
    fn kind(&self) -> &'static str {
        "channel"
    }
    fn push(&self, lua: &Lua) -> mlua::Result<LuaValue> {
        // A channel can arrive before any channel builtin was looked up: the methods table must
        // exist before the first channel userdata (mlua reads it then, for `__index`).
        if lua
            .named_registry_value::<Option<mlua::Table>>(METHODS_KEY)?
            .is_none()
        {
            let methods =
                crate::runtime::lazy::placeholder_table(lua, crate::builtins::CHANNEL_METHODS)?;
            lua.set_named_registry_value(METHODS_KEY, methods)?;
        }
        Ok(LuaValue::UserData(lua.create_userdata(self.clone())?))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Registry key of the table of channel methods (the same functions as the globals, so
/// `ch:send(v)` and `send(ch, v)` behave and fail identically).
const METHODS_KEY: &str = "solvm.chan_methods";

impl UserData for ChanRef {
    fn add_fields<F: mlua::UserDataFields<Self>>(f: &mut F) {
        // `__index` is the state's methods table itself: a method call is a plain table lookup.
        f.add_meta_field_with("__index", |lua| {
            lua.named_registry_value::<mlua::Table>(METHODS_KEY)
        });
    }

    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::Len, |_, this, ()| Ok(this.0.rx.len()));
        m.add_meta_method(MetaMethod::Eq, |_, this, other: mlua::AnyUserData| {
            Ok(other
                .borrow::<ChanRef>()
                .map(|o| Arc::ptr_eq(&o.0, &this.0))
                .unwrap_or(false))
        });
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(match &this.0.name {
                Some(n) => format!("channel '{n}' (capacity {})", this.0.cap),
                None => format!(
                    "channel: {:p} (capacity {})",
                    Arc::as_ptr(&this.0),
                    this.0.cap
                ),
            })
        });
    }
}

/// The methods of channel objects, each made on its first call (`lazy::placeholder_table`) and
/// wrapped like every builtin so errors read as Lua's own. `send`, `receive`, `try_receive` and
/// `close` are the globals' functions, so `ch:send(v)` and `send(ch, v)` behave and fail alike.
pub const METHODS: &[(&str, crate::builtins::Maker)] = &[
    ("send", send_function),
    ("receive", receive_function),
    ("try_receive", try_receive_function),
    ("close", close_function),
    ("cap", |lua| {
        lua.create_function(|lua, a: MultiValue| match remote_arg(&a) {
            Some(r) => Ok(r.cap()),
            None => Ok(channel_arg(lua, &a, 1, "cap")?.cap),
        })
    }),
    ("len", |lua| {
        lua.create_function(|lua, a: MultiValue| match remote_arg(&a) {
            Some(r) => r.len(lua),
            None => Ok(channel_arg(lua, &a, 1, "len")?.rx.len()),
        })
    }),
    ("name", |lua| {
        lua.create_function(|lua, a: MultiValue| match remote_arg(&a) {
            Some(r) => Ok(Some(r.name().to_string())),
            None => Ok(channel_arg(lua, &a, 1, "name")?.name.clone()),
        })
    }),
    ("is_closed", |lua| {
        lua.create_function(|lua, a: MultiValue| match remote_arg(&a) {
            Some(r) => r.is_closed(lua),
            None => Ok(channel_arg(lua, &a, 1, "is_closed")?.is_closed()),
        })
    }),
];

fn send_function(lua: &Lua) -> mlua::Result<mlua::Function> {
    lua.create_function(|lua, args: MultiValue| {
        let nil = LuaValue::Nil;
        if let Some(r) = remote_arg(&args) {
            let timeout = timeout_value(&args, 3, "send")?;
            return r.send(lua, args.get(1).unwrap_or(&nil), deadline(timeout));
        }
        let ch = channel_arg(lua, &args, 1, "send")?;
        let timeout = timeout_value(&args, 3, "send")?;
        send_value(lua, &ch, args.get(1).unwrap_or(&nil), timeout)
    })
}

fn receive_function(lua: &Lua) -> mlua::Result<mlua::Function> {
    lua.create_function(|lua, args: MultiValue| {
        if let Some(r) = remote_arg(&args) {
            let timeout = timeout_value(&args, 2, "receive")?;
            return match r.select(lua, &[], &[&r], deadline(timeout))? {
                Some((_, v)) => received(lua, v),
                None => timed_out(lua),
            };
        }
        let ch = channel_arg(lua, &args, 1, "receive")?;
        let timeout = timeout_value(&args, 2, "receive")?;
        receive_value(lua, &ch, timeout)
    })
}

fn try_receive_function(lua: &Lua) -> mlua::Result<mlua::Function> {
    lua.create_function(|lua, args: MultiValue| {
        if let Some(r) = remote_arg(&args) {
            return match r.try_receive(lua)? {
                Some(v) => received(lua, v),
                None => received(lua, None),
            };
        }
        let ch = channel_arg(lua, &args, 1, "try_receive")?;
        try_receive_value(lua, &ch)
    })
}

fn close_function(lua: &Lua) -> mlua::Result<mlua::Function> {
    lua.create_function(|lua, args: MultiValue| {
        if let Some(r) = remote_arg(&args) {
            return r.close(lua);
        }
        let ch = channel_arg(lua, &args, 1, "close")?;
        close_channel(&ch)
    })
}

/// Installs the channel builtins.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    value::register_handle_type::<ChanRef>(lua);
    value::register_handle_type::<RemoteRef>(lua);
    let g = lua.globals();
    g.set("chan", lua.create_function(make_chan)?)?;
    g.set("send", send_function(lua)?)?;
    g.set("receive", receive_function(lua)?)?;
    g.set("try_receive", try_receive_function(lua)?)?;
    g.set("close", close_function(lua)?)?;
    Ok(())
}

/// The channel half of `select` (it replaces the stock one): a wait on several channels. Stock
/// Lua's `select(n, ...)` never gets here: `builtins::stock::select` answers it in C and hands over
/// only a call whose first argument is a channel object or name.
pub fn select_function(lua: &Lua) -> mlua::Result<mlua::Function> {
    lua.create_function(select_channels)
}

fn make_chan(lua: &Lua, args: MultiValue) -> mlua::Result<LuaValue> {
    let (name, size) = match (args.front(), args.get(1)) {
        (None | Some(LuaValue::Nil), _) => (None, 0),
        (Some(LuaValue::Integer(_) | LuaValue::Number(_)), _) => (None, size_arg(&args, 1)?),
        (Some(LuaValue::String(s)), _) => (Some(s.to_str()?.to_string()), size_arg(&args, 2)?),
        (Some(other), _) => return Err(bad_argument(1, "chan", "string or number", other)),
    };
    let ch = match name {
        None => Channel::new(None, size),
        Some(name) => {
            let rt = ctx(lua).rt;
            let mut reg = rt.channels.lock();
            match reg
                .get(&name)
                .and_then(|c| Arc::clone(c).downcast::<Channel>().ok())
            {
                Some(existing) if existing.cap == size || args.len() < 2 => existing,
                Some(existing) => {
                    return Err(mlua::Error::runtime(format!(
                        "chan: channel '{name}' already exists with capacity {}, not {size}",
                        existing.cap
                    )))
                }
                None => {
                    let ch = Channel::new(Some(name.clone()), size);
                    reg.insert(name, ch.clone());
                    ch
                }
            }
        }
    };
    ChanRef(ch).push(lua)
}

fn size_arg(args: &MultiValue, pos: usize) -> mlua::Result<usize> {
    match args.get(pos - 1) {
        None | Some(LuaValue::Nil) => Ok(0),
        Some(_) => {
            if let Some(LuaValue::Integer(n)) = args.get(pos - 1) {
                if *n >= 0 {
                    return Ok(*n as usize);
                }
            }
            // Floats up to 2^63 (`math.maxinteger` as a float); NaN, infinities, 1e300 and
            // fractions are refused.
            let n = check_number(args, pos, "chan")?;
            if !(0.0..i64::MAX as f64).contains(&n) || n.fract() != 0.0 {
                return Err(arg_error(
                    pos,
                    "chan",
                    "size must be a whole number from 0 to math.maxinteger",
                ));
            }
            Ok(n as usize)
        }
    }
}

fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(args::deadline_after)
}

/// A channel from a name (registry) or a channel object.
fn channel_arg(lua: &Lua, args: &MultiValue, pos: usize, func: &str) -> mlua::Result<Arc<Channel>> {
    match args.get(pos - 1) {
        Some(v) => channel_value(lua, v, pos, func),
        None => Err(bad_argument(pos, func, "channel", MISSING)),
    }
}

/// Argument `pos` as a timeout in seconds: `nil` and a century or more (`math.huge`) are none, so a
/// goroutine waiting that long can still be found deadlocked.
fn timeout_value(args: &MultiValue, pos: usize, func: &str) -> mlua::Result<Option<Duration>> {
    if let Some(v @ (LuaValue::Boolean(_) | LuaValue::Table(_) | LuaValue::Function(_))) =
        args.get(pos - 1)
    {
        return Err(bad_argument(pos, func, "number", v));
    }
    Ok(args::opt_seconds(args, pos, func)?.filter(|d| *d < args::NO_LIMIT))
}

/// A channel from a value: a name (registry) or a channel object.
fn channel_value(lua: &Lua, v: &LuaValue, pos: usize, func: &str) -> mlua::Result<Arc<Channel>> {
    channel_of(lua, v).ok_or_else(|| match v {
        LuaValue::String(s) => mlua::Error::runtime(format!(
            "{func}: no channel named '{}' (create it with chan(\"{}\", size))",
            s.to_string_lossy(),
            s.to_string_lossy()
        )),
        other => bad_argument(pos, func, "channel", other),
    })
}

fn channel_of(lua: &Lua, v: &LuaValue) -> Option<Arc<Channel>> {
    match v {
        LuaValue::String(s) => {
            let name = s.to_str().ok()?.to_string();
            let rt = ctx(lua).rt;
            let reg = rt.channels.lock();
            reg.get(&name)
                .and_then(|c| Arc::clone(c).downcast::<Channel>().ok())
        }
        LuaValue::UserData(ud) => ud.borrow::<ChanRef>().ok().map(|c| Arc::clone(&c.0)),
        _ => None,
    }
}

fn send_value(
    lua: &Lua,
    ch: &Arc<Channel>,
    v: &LuaValue,
    timeout: Option<Duration>,
) -> mlua::Result<bool> {
    let value = if ch.data_only {
        let root = format!("value sent on cluster channel {}", ch.label());
        value::msgpack::round_trip(lua, v, &root)?
    } else {
        Value::from_lua(lua, v, &format!("value sent on {}", ch.label()))?
    };
    let tx = ch.tx.read().clone();
    let Some(tx) = tx else {
        return Err(ch.closed_error("send on"));
    };
    let pending = match tx.try_send(value) {
        Ok(()) => return Ok(true),
        Err(TrySendError::Disconnected(_)) => return Err(ch.closed_error("send on")),
        Err(TrySendError::Full(v)) => v,
    };
    let c = ctx(lua);
    let deadline = deadline(timeout);
    let blocked = || Blocked {
        what: format!("send({})", ch.label()),
        at: goroutine::caller_location(lua),
        has_timeout: timeout.is_some(),
        waits_on: vec![WaitOn::Send(ch.clone() as Arc<dyn ChannelState>)],
    };
    let mut pending = Some(pending);
    let closed = || ch.closed_error("send on");
    loop {
        let outcome = goroutine::block_on(
            lua,
            &c,
            &blocked,
            deadline,
            &mut |sel| {
                sel.send(&tx);
                sel.recv(&ch.closed_signal);
                2
            },
            &mut |i, op| {
                if i == 0 {
                    match pending.take() {
                        Some(v) => match op.send(&tx, v) {
                            Ok(()) => SendEnd::Sent,
                            Err(e) => {
                                pending = Some(e.into_inner());
                                SendEnd::Closed
                            }
                        },
                        None => SendEnd::Sent,
                    }
                } else {
                    let _ = op.recv(&ch.closed_signal);
                    SendEnd::Closed
                }
            },
        )?;
        match outcome {
            Some(SendEnd::Sent) => return Ok(true),
            Some(SendEnd::Closed) if ch.is_closed() => return Err(closed()),
            Some(SendEnd::Closed) => continue,
            None => return Ok(false),
        }
    }
}

enum SendEnd {
    Sent,
    Closed,
}

/// Waits for a value from one of `chans`; `None` on timeout, `Some((index, value-or-closed))`.
fn receive_any(
    lua: &Lua,
    c: &Ctx,
    chans: &[&Arc<Channel>],
    blocked: &dyn Fn() -> Blocked,
    deadline: Option<Instant>,
) -> mlua::Result<Option<(usize, Option<Value>)>> {
    goroutine::block_on(
        lua,
        c,
        blocked,
        deadline,
        &mut |sel| {
            for ch in chans {
                sel.recv(&ch.rx);
            }
            chans.len()
        },
        &mut |i, op| (i, op.recv(&chans[i].rx).ok()),
    )
}

fn receive_value(
    lua: &Lua,
    ch: &Arc<Channel>,
    timeout: Option<Duration>,
) -> mlua::Result<MultiValue> {
    if let Some(v) = try_take(ch) {
        return received(lua, v);
    }
    let c = ctx(lua);
    let deadline = deadline(timeout);
    let blocked = || Blocked {
        what: format!("receive({})", ch.label()),
        at: goroutine::caller_location(lua),
        has_timeout: timeout.is_some(),
        waits_on: vec![WaitOn::Receive(ch.clone() as Arc<dyn ChannelState>)],
    };
    match receive_any(lua, &c, &[ch], &blocked, deadline)? {
        Some((_, v)) => received(lua, v),
        None => timed_out(lua),
    }
}

/// `receive`'s result on timeout.
fn timed_out(lua: &Lua) -> mlua::Result<MultiValue> {
    Ok(MultiValue::from_iter([
        LuaValue::Nil,
        LuaValue::Boolean(false),
        LuaValue::String(lua.create_string("timeout")?),
    ]))
}

/// `Some(Some(v))` a value, `Some(None)` closed and drained, `None` nothing yet.
fn try_take(ch: &Channel) -> Option<Option<Value>> {
    match ch.rx.try_recv() {
        Ok(v) => Some(Some(v)),
        Err(crossbeam_channel::TryRecvError::Disconnected) => Some(None),
        Err(crossbeam_channel::TryRecvError::Empty) => None,
    }
}

fn received(lua: &Lua, v: Option<Value>) -> mlua::Result<MultiValue> {
    Ok(match v {
        Some(v) => MultiValue::from_iter([v.to_lua(lua)?, LuaValue::Boolean(true)]),
        None => MultiValue::from_iter([LuaValue::Nil, LuaValue::Boolean(false)]),
    })
}

fn try_receive_value(lua: &Lua, ch: &Arc<Channel>) -> mlua::Result<MultiValue> {
    match try_take(ch) {
        Some(v) => received(lua, v),
        None => Ok(MultiValue::from_iter([
            LuaValue::Nil,
            LuaValue::Boolean(false),
        ])),
    }
}

fn close_channel(ch: &Arc<Channel>) -> mlua::Result<bool> {
    if ch.close() {
        Ok(true)
    } else {
        Err(ch.closed_error("close of"))
    }
}

/// `select(ch1, ch2, ..., [timeout])` → `value, channel, ok`; on timeout `nil, nil, false`.
fn select_channels(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let mut chans = Vec::new();
    let mut remotes: Vec<(Arc<dyn RemoteChannel>, LuaValue)> = Vec::new();
    let mut timeout = None;
    let n = args.len();
    for (i, a) in args.iter().enumerate() {
        if i + 1 == n && matches!(a, LuaValue::Integer(_) | LuaValue::Number(_)) {
            timeout = timeout_value(&args, i + 1, "select")?;
            continue;
        }
        if let Some(r) = remote_of(a) {
            remotes.push((r, a.clone()));
            continue;
        }
        let ch = channel_arg(lua, &args, i + 1, "select")?;
        chans.push((ch, a.clone()));
    }
    if chans.is_empty() && remotes.is_empty() {
        return Err(mlua::Error::runtime(
            "select: expected at least one channel",
        ));
    }
    let deliver = |lua: &Lua, v: Option<Value>, label: &LuaValue| -> mlua::Result<MultiValue> {
        Ok(match v {
            Some(v) => {
                MultiValue::from_iter([v.to_lua(lua)?, label.clone(), LuaValue::Boolean(true)])
            }
            None => MultiValue::from_iter([LuaValue::Nil, label.clone(), LuaValue::Boolean(false)]),
        })
    };
    let deadline = deadline(timeout);
    if let Some((first, _)) = remotes.first() {
        // Cluster channels among them: their implementation waits on all of them.
        let locals: Vec<&Arc<Channel>> = chans.iter().map(|(c, _)| c).collect();
        let others: Vec<&Arc<dyn RemoteChannel>> = remotes.iter().map(|(r, _)| r).collect();
        return match first.select(lua, &locals, &others, deadline)? {
            Some((Picked::Local(i), v)) => deliver(lua, v, &chans[i].1),
            Some((Picked::Remote(i), v)) => deliver(lua, v, &remotes[i].1),
            None => Ok(MultiValue::from_iter([
                LuaValue::Nil,
                LuaValue::Nil,
                LuaValue::Boolean(false),
            ])),
        };
    }
    let c = ctx(lua);
    let blocked = || Blocked {
        what: format!(
            "select({})",
            chans
                .iter()
                .map(|(c, _)| c.label())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        at: goroutine::caller_location(lua),
        has_timeout: timeout.is_some(),
        waits_on: chans
            .iter()
            .map(|(c, _)| WaitOn::Receive(c.clone() as Arc<dyn ChannelState>))
            .collect(),
    };
    // Crossbeam's select picks among ready channels at random, which keeps select fair.
    let refs: Vec<&Arc<Channel>> = chans.iter().map(|(c, _)| c).collect();
    match receive_any(lua, &c, &refs, &blocked, deadline)? {
        Some((i, v)) => deliver(lua, v, &chans[i].1),
        None => Ok(MultiValue::from_iter([
            LuaValue::Nil,
            LuaValue::Nil,
            LuaValue::Boolean(false),
        ])),
    }
}

/// Which channel a select took its value from: the n-th local or the n-th remote one.
pub enum Picked {
    Local(usize),
    Remote(usize),
}

/// A channel kept outside this process (a cluster channel in Redis, SPEC §15). The channel
/// builtins hand it their calls, so `send(ch, v)`, `ch:send(v)`, `#ch` and `select` work on it as
/// on a local channel; its implementation lives with its family.
pub trait RemoteChannel: Send + Sync + 'static {
    fn name(&self) -> &str;
    fn cap(&self) -> usize;
    /// Values waiting in it.
    fn len(&self, lua: &Lua) -> mlua::Result<usize>;
    fn is_closed(&self, lua: &Lua) -> mlua::Result<bool>;
    /// `send`: `true` once stored, `false` when `deadline` passed first.
    fn send(&self, lua: &Lua, v: &LuaValue, deadline: Option<Instant>) -> mlua::Result<bool>;
    /// Without waiting: `Some(Some(v))` a value, `Some(None)` closed and drained, `None` nothing.
    fn try_receive(&self, lua: &Lua) -> mlua::Result<Option<Option<Value>>>;
    /// `close`: an error if it already was.
    fn close(&self, lua: &Lua) -> mlua::Result<bool>;
    /// Waits for the first value from `locals` or `remotes` (`self` is one of them; every remote
    /// is of its kind): `None` when `deadline` passed first, a `None` value when that channel is
    /// closed and drained. Fair when several are ready.
    fn select(
        &self,
        lua: &Lua,
        locals: &[&Arc<Channel>],
        remotes: &[&Arc<dyn RemoteChannel>],
        deadline: Option<Instant>,
    ) -> mlua::Result<Option<(Picked, Option<Value>)>>;
    /// For the implementation to recognise its own channels among `remotes`.
    fn as_any(&self) -> &dyn Any;
}

impl Channel {
    /// The receiving end, for a [`RemoteChannel::select`] that waits on local channels too.
    pub fn receiver(&self) -> &Receiver<Value> {
        &self.rx
    }
}

/// A [`RemoteChannel`] as a Lua value: the same methods as a channel; crosses goroutines by
/// reference.
#[derive(Clone)]
pub struct RemoteRef(pub Arc<dyn RemoteChannel>);

impl SharedHandle for RemoteRef {
    fn kind(&self) -> &'static str {
        "cluster channel"
    }
    fn push(&self, lua: &Lua) -> mlua::Result<LuaValue> {
        if lua
            .named_registry_value::<Option<mlua::Table>>(METHODS_KEY)?
            .is_none()
        {
            let methods =
                crate::runtime::lazy::placeholder_table(lua, crate::builtins::CHANNEL_METHODS)?;
            lua.set_named_registry_value(METHODS_KEY, methods)?;
        }
        Ok(LuaValue::UserData(lua.create_userdata(self.clone())?))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl UserData for RemoteRef {
    fn add_fields<F: mlua::UserDataFields<Self>>(f: &mut F) {
        f.add_meta_field_with("__index", |lua| {
            lua.named_registry_value::<mlua::Table>(METHODS_KEY)
        });
    }

    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::Len, |lua, this, ()| this.0.len(lua));
        m.add_meta_method(MetaMethod::Eq, |_, this, other: mlua::AnyUserData| {
            Ok(other
                .borrow::<RemoteRef>()
                .map(|o| std::ptr::addr_eq(Arc::as_ptr(&o.0), Arc::as_ptr(&this.0)))
                .unwrap_or(false))
        });
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(format!(
                "cluster channel '{}' (capacity {})",
                this.0.name(),
                this.0.cap()
            ))
        });
    }
}

fn remote_of(v: &LuaValue) -> Option<Arc<dyn RemoteChannel>> {
    match v {
        LuaValue::UserData(ud) => ud.borrow::<RemoteRef>().ok().map(|r| Arc::clone(&r.0)),
        _ => None,
    }
}

/// The first argument as a remote channel, if it is one.
fn remote_arg(args: &MultiValue) -> Option<Arc<dyn RemoteChannel>> {
    args.front().and_then(remote_of)
}
