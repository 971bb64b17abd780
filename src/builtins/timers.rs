//! Timers, cron jobs and file watches (SPEC §6): `set_timeout`, `set_interval`, `cron`,
//! `watch_file` and their `clear_*` / `unwatch_file`. Callbacks run on the goroutine that registered
//! them, in its own state, at its blocking points (see `runtime::events`).

use crate::runtime::args::{bad_argument, check_seconds};
use crate::runtime::cron::CronSchedule;
use crate::runtime::events::{self, Kind};
use crate::runtime::goroutine::Event;
use crate::runtime::value::Value;
use crate::runtime::{ctx, watch};
use mlua::{Function, Lua, MultiValue, Value as LuaValue};
use std::sync::atomic::Ordering;

fn func_arg(args: &MultiValue, pos: usize, name: &str) -> mlua::Result<Function> {
    match args.get(pos - 1) {
        Some(LuaValue::Function(f)) => Ok(f.clone()),
        other => Err(bad_argument(pos, name, "function", other)),
    }
}

fn id_arg(args: &MultiValue, name: &str) -> mlua::Result<u64> {
    match args.front() {
        Some(LuaValue::Integer(i)) if *i > 0 => Ok(*i as u64),
        other => Err(bad_argument(1, name, "id", other)),
    }
}

/// Installs the timer, cron and watch builtins.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    let g = lua.globals();
    g.set(
        "set_timeout",
        lua.create_function(|lua, args: MultiValue| {
            let f = func_arg(&args, 1, "set_timeout")?;
            let delay = check_seconds(&args, 2, "set_timeout", true)?;
            let c = ctx(lua);
            let id = c.rt.next_callback_id.fetch_add(1, Ordering::Relaxed);
            events::add_timeout(lua, &c, id, delay, f)?;
            Ok(id)
        })?,
    )?;
    g.set(
        "set_interval",
        lua.create_function(|lua, args: MultiValue| {
            let f = func_arg(&args, 1, "set_interval")?;
            let period = check_seconds(&args, 2, "set_interval", false)?;
            let c = ctx(lua);
            let id = c.rt.next_callback_id.fetch_add(1, Ordering::Relaxed);
            events::add(lua, &c, id, Kind::Every(period), f)?;
            Ok(id)
        })?,
    )?;
    g.set(
        "cron",
        lua.create_function(|lua, args: MultiValue| {
            let expr = match args.front() {
                Some(LuaValue::String(s)) => s.to_str()?.to_string(),
                other => return Err(bad_argument(1, "cron", "string", other)),
            };
            let f = func_arg(&args, 2, "cron")?;
            let schedule = CronSchedule::parse(&expr)
                .map_err(|e| mlua::Error::runtime(format!("cron: {e}")))?;
            let c = ctx(lua);
            let id = c.rt.next_callback_id.fetch_add(1, Ordering::Relaxed);
            events::add(lua, &c, id, Kind::Cron(Box::new(schedule)), f)?;
            Ok(id)
        })?,
    )?;
    g.set(
        "watch_file",
        lua.create_function(|lua, args: MultiValue| {
            let path = match args.front() {
                Some(LuaValue::String(s)) => s.to_str()?.to_string(),
                other => return Err(bad_argument(1, "watch_file", "string", other)),
            };
            let f = func_arg(&args, 2, "watch_file")?;
            let c = ctx(lua);
            let id = c.rt.next_callback_id.fetch_add(1, Ordering::Relaxed);
            let to = events::callback_sender(&c);
            let handle = watch::watch(
                std::path::Path::new(&path),
                Box::new(move |changed, event| {
                    let args = vec![
                        Value::Str(changed.to_string_lossy().as_bytes().into()),
                        Value::Str(event.as_bytes().into()),
                    ];
                    let _ = to.send(Event::Callback { id, args });
                }),
            );
            match handle {
                Ok(h) => {
                    events::add(lua, &c, id, Kind::Watch(Box::new(h)), f)?;
                    Ok(MultiValue::from_iter([LuaValue::Integer(id as i64)]))
                }
                Err(e) => crate::runtime::args::nil_err(lua, e),
            }
        })?,
    )?;
    for name in [
        "clear_timeout",
        "clear_interval",
        "clear_cron",
        "unwatch_file",
    ] {
        g.set(
            name,
            lua.create_function(move |lua, args: MultiValue| {
                let id = id_arg(&args, name)?;
                events::clear(lua, id)
            })?,
        )?;
    }
    Ok(())
}
