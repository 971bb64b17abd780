//! `store`: one key/value store shared by every goroutine and server worker (like `ngx.shared.DICT`).
//! Values are transferable values (SPEC §3); `incr` and `add` are atomic; entries may expire (TTL).

use crate::runtime::args::{
    arg_error, bad_argument, deadline_after, seconds_to_duration, NO_LIMIT,
};
use crate::runtime::ctx;
use crate::runtime::value::Value;
use mlua::{Lua, Value as LuaValue};
use std::time::{Duration, Instant};

/// A key: a string, or an integer used as its decimal text.
pub fn key_arg(v: &LuaValue, func: &str) -> mlua::Result<String> {
    match v {
        LuaValue::String(s) => Ok(s.to_string_lossy()),
        LuaValue::Integer(i) => Ok(i.to_string()),
        other => Err(bad_argument(1, func, "string", other)),
    }
}

/// A TTL argument (#3) as a duration; `None` for none, and for one beyond what `Instant` holds.
pub fn ttl_arg(ttl: Option<f64>, func: &str) -> mlua::Result<Option<Duration>> {
    match ttl {
        None => Ok(None),
        // A century or more never expires.
        Some(t) => match seconds_to_duration(t) {
            Ok(d) if !d.is_zero() => Ok(Some(d).filter(|d| *d < NO_LIMIT)),
            _ => Err(arg_error(
                3,
                func,
                "ttl must be a positive number of seconds",
            )),
        },
    }
}

fn expiry(ttl: Option<f64>, func: &str) -> mlua::Result<Option<Instant>> {
    Ok(ttl_arg(ttl, func)?.and_then(deadline_after))
}

/// Argument `pos` of `store.incr` (the step, #2, or the start, #3) with its default.
pub fn incr_number(v: Option<LuaValue>, pos: usize) -> mlua::Result<Value> {
    match v {
        None | Some(LuaValue::Nil) => Ok(Value::Int(if pos == 2 { 1 } else { 0 })),
        Some(LuaValue::Integer(i)) => Ok(Value::Int(i)),
        Some(LuaValue::Number(f)) => Ok(Value::Num(f)),
        Some(other) => Err(bad_argument(pos, "incr", "number", &other)),
    }
}

fn live(entry: &(Value, Option<Instant>)) -> bool {
    entry.1.is_none_or(|e| Instant::now() < e)
}

/// Installs the global `store` table: with `--cluster`, the one shared through Redis.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    if ctx(lua).rt.config.cluster.is_some() {
        return crate::builtins::cluster::store::register(lua);
    }
    let store = lua.create_table()?;
    store.set(
        "get",
        lua.create_function(|lua, k: LuaValue| {
            let key = key_arg(&k, "get")?;
            let rt = ctx(lua).rt;
            let v = rt
                .store
                .lock()
                .get(&key)
                .filter(|e| live(e))
                .map(|e| e.0.clone());
            match v {
                Some(v) => v.to_lua(lua),
                None => Ok(LuaValue::Nil),
            }
        })?,
    )?;
    store.set(
        "set",
        lua.create_function(|lua, (k, v, ttl): (LuaValue, LuaValue, Option<f64>)| {
            let key = key_arg(&k, "set")?;
            let exp = expiry(ttl, "set")?;
            let rt = ctx(lua).rt;
            if v.is_nil() {
                rt.store.lock().remove(&key);
            } else {
                let val = Value::from_lua(lua, &v, &format!("value stored under '{key}'"))?;
                rt.store.lock().insert(key, (val, exp));
            }
            Ok(true)
        })?,
    )?;
    store.set(
        "add",
        lua.create_function(|lua, (k, v, ttl): (LuaValue, LuaValue, Option<f64>)| {
            let key = key_arg(&k, "add")?;
            let exp = expiry(ttl, "add")?;
            let val = Value::from_lua(lua, &v, &format!("value stored under '{key}'"))?;
            let rt = ctx(lua).rt;
            let mut s = rt.store.lock();
            if s.get(&key).is_some_and(live) {
                return Ok(false);
            }
            s.insert(key, (val, exp));
            Ok(true)
        })?,
    )?;
    store.set(
        "incr",
        lua.create_function(
            |lua, (k, n, init): (LuaValue, Option<LuaValue>, Option<LuaValue>)| {
                let key = key_arg(&k, "incr")?;
                let by = incr_number(n, 2)?;
                let init = incr_number(init, 3)?;
                let rt = ctx(lua).rt;
                let mut s = rt.store.lock();
                // An expired entry counts as absent: its value and its deadline are both gone
                // (as Redis's INCR on an expired key: a new key, without TTL).
                let (current, exp) = match s.get(&key).filter(|e| live(e)) {
                    Some((v, exp)) => (v.clone(), *exp),
                    None => (init, None),
                };
                let next = match (&current, &by) {
                    (Value::Int(a), Value::Int(b)) => Value::Int(a.wrapping_add(*b)),
                    (Value::Int(a), Value::Num(b)) => Value::Num(*a as f64 + b),
                    (Value::Num(a), Value::Int(b)) => Value::Num(a + *b as f64),
                    (Value::Num(a), Value::Num(b)) => Value::Num(a + b),
                    _ => {
                        return Err(mlua::Error::runtime(format!(
                            "store.incr: the value under '{key}' is not a number"
                        )))
                    }
                };
                s.insert(key, (next.clone(), exp));
                drop(s);
                next.to_lua(lua)
            },
        )?,
    )?;
    store.set(
        "delete",
        lua.create_function(|lua, k: LuaValue| {
            let key = key_arg(&k, "delete")?;
            Ok(ctx(lua).rt.store.lock().remove(&key).is_some())
        })?,
    )?;
    store.set(
        "keys",
        lua.create_function(|lua, ()| {
            let rt = ctx(lua).rt;
            let mut keys: Vec<String> = rt
                .store
                .lock()
                .iter()
                .filter(|(_, e)| live(e))
                .map(|(k, _)| k.clone())
                .collect();
            keys.sort();
            lua.create_sequence_from(keys)
        })?,
    )?;
    lua.globals().set("store", store)
}
