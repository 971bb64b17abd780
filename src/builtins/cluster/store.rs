//! `store` with `--cluster`: the same functions, kept in Redis so that every process shares them.
//! Each is one Redis command or one script, so `add` and `incr` stay atomic across processes, and
//! TTLs are Redis's own (`PX`). Values are data only (SPEC §15), integers stored as decimal text.

use super::{keys, redis_of};
use crate::builtins::store::{incr_number, key_arg, ttl_arg};
use crate::runtime::value::{msgpack, Value};
use mlua::{Lua, Value as LuaValue};

/// A TTL for Redis's `PX`: whole milliseconds, at least one.
fn ttl_ms(ttl: Option<f64>, func: &str) -> mlua::Result<Option<u64>> {
    Ok(ttl_arg(ttl, func)?.map(|d| (d.as_millis().min(u64::MAX as u128) as u64).max(1)))
}

fn encoded(lua: &Lua, key: &str, v: &LuaValue) -> mlua::Result<Vec<u8>> {
    let root = format!("value stored under '{key}'");
    msgpack::encode_stored(&msgpack::from_lua(lua, v, &root)?, &root)
}

fn decoded(lua: &Lua, func: &str, key: &str, bytes: &[u8]) -> mlua::Result<LuaValue> {
    msgpack::decode_stored(bytes)
        .map_err(|e| {
            mlua::Error::runtime(format!(
                "store.{func}: the value under '{key}' is not a SolVM value ({e})"
            ))
        })?
        .to_lua(lua)
}

/// `SET key value [NX] [PX ms]`.
fn set_cmd(key: &str, bytes: &[u8], nx: bool, ms: Option<u64>) -> redis::Cmd {
    let mut cmd = redis::cmd("SET");
    cmd.arg(keys::store(key)).arg(bytes);
    if nx {
        cmd.arg("NX");
    }
    if let Some(ms) = ms {
        cmd.arg("PX").arg(ms);
    }
    cmd
}

/// Installs the Redis-backed `store` table.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    let store = lua.create_table()?;
    store.set(
        "get",
        lua.create_function(|lua, k: LuaValue| {
            let key = key_arg(&k, "get")?;
            let redis = redis_of(lua)?;
            let what = || format!("store.get('{key}')");
            let got: Option<Vec<u8>> = redis.call(lua, &what, &mut |c| {
                redis::cmd("GET").arg(keys::store(&key)).query(c)
            })?;
            match got {
                Some(bytes) => decoded(lua, "get", &key, &bytes),
                None => Ok(LuaValue::Nil),
            }
        })?,
    )?;
    store.set(
        "set",
        lua.create_function(|lua, (k, v, ttl): (LuaValue, LuaValue, Option<f64>)| {
            let key = key_arg(&k, "set")?;
            let ms = ttl_ms(ttl, "set")?;
            let redis = redis_of(lua)?;
            let what = || format!("store.set('{key}'): not stored");
            if v.is_nil() {
                redis.call(lua, &what, &mut |c| {
                    redis::cmd("DEL").arg(keys::store(&key)).query::<()>(c)
                })?;
            } else {
                let bytes = encoded(lua, &key, &v)?;
                redis.call(lua, &what, &mut |c| {
                    set_cmd(&key, &bytes, false, ms).query::<()>(c)
                })?;
            }
            Ok(true)
        })?,
    )?;
    store.set(
        "add",
        lua.create_function(|lua, (k, v, ttl): (LuaValue, LuaValue, Option<f64>)| {
            let key = key_arg(&k, "add")?;
            let ms = ttl_ms(ttl, "add")?;
            let bytes = encoded(lua, &key, &v)?;
            let redis = redis_of(lua)?;
            let what = || format!("store.add('{key}'): not stored");
            let done: Option<String> = redis.call(lua, &what, &mut |c| {
                set_cmd(&key, &bytes, true, ms).query(c)
            })?;
            Ok(done.is_some())
        })?,
    )?;
    store.set(
        "incr",
        lua.create_function(
            |lua, (k, n, init): (LuaValue, Option<LuaValue>, Option<LuaValue>)| {
                let key = key_arg(&k, "incr")?;
                let by = incr_number(n, 2)?;
                let init = incr_number(init, 3)?;
                incr(lua, &key, &by, &init)
            },
        )?,
    )?;
    store.set(
        "delete",
        lua.create_function(|lua, k: LuaValue| {
            let key = key_arg(&k, "delete")?;
            let redis = redis_of(lua)?;
            let what = || format!("store.delete('{key}')");
            let n: i64 = redis.call(lua, &what, &mut |c| {
                redis::cmd("DEL").arg(keys::store(&key)).query(c)
            })?;
            Ok(n > 0)
        })?,
    )?;
    store.set(
        "keys",
        lua.create_function(|lua, ()| {
            let redis = redis_of(lua)?;
            let what = || "store.keys()".to_string();
            let pattern = format!("{}*", keys::STORE_PREFIX);
            let mut found: Vec<String> = redis.call(lua, &what, &mut |c| {
                let mut cursor = 0u64;
                let mut all = Vec::new();
                loop {
                    let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(1000)
                        .query(c)?;
                    all.extend(batch);
                    if next == 0 {
                        return Ok(all);
                    }
                    cursor = next;
                }
            })?;
            for k in &mut found {
                k.drain(..keys::STORE_PREFIX.len());
            }
            found.sort();
            found.dedup();
            lua.create_sequence_from(found)
        })?,
    )?;
    lua.globals().set("store", store)
}

/// A number for the increment script: its kind and its bytes (floats bit-exact).
fn script_number(v: &Value) -> (&'static str, Vec<u8>) {
    match v {
        Value::Int(i) => ("i", i.to_string().into_bytes()),
        Value::Num(f) => ("f", f.to_be_bytes().to_vec()),
        _ => ("i", b"0".to_vec()),
    }
}

/// `store.incr`: plain `INCRBY` for the usual integer step from 0, the script otherwise (or when
/// the value turns out to be a float).
fn incr(lua: &Lua, key: &str, by: &Value, init: &Value) -> mlua::Result<LuaValue> {
    let redis = redis_of(lua)?;
    let what = || format!("store.incr('{key}')");
    let not_number = || {
        mlua::Error::runtime(format!(
            "store.incr: the value under '{key}' is not a number"
        ))
    };
    if let (Value::Int(step), Value::Int(0)) = (by, init) {
        let r = redis.wait(lua, &mut |c| {
            redis::cmd("INCRBY")
                .arg(keys::store(key))
                .arg(*step)
                .query::<i64>(c)
        })?;
        match r {
            Ok(n) => return Ok(LuaValue::Integer(n)),
            // Not an integer: a float (the script handles it) or not a number at all.
            Err(e) if e.detail().is_some_and(|d| d.contains("not an integer")) => {}
            Err(e) => return Err(redis.error(&what(), &e)),
        }
    }
    let (bk, bv) = script_number(by);
    let (ik, iv) = script_number(init);
    let reply: redis::RedisResult<redis::Value> = redis.wait(lua, &mut |c| {
        redis
            .scripts
            .incr
            .key(keys::store(key))
            .arg(bk)
            .arg(&bv)
            .arg(ik)
            .arg(&iv)
            .invoke(c)
    })?;
    match reply {
        Ok(redis::Value::Int(n)) => Ok(LuaValue::Integer(n)),
        Ok(redis::Value::BulkString(bytes)) => decoded(lua, "incr", key, &bytes),
        Ok(_) => Err(not_number()),
        Err(e) if e.code() == Some("NOTNUMBER") => Err(not_number()),
        Err(e) => Err(redis.error(&what(), &e)),
    }
}
