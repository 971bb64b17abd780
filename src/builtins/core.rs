//! The everyday builtins: line-atomic `print`, interruptible `sleep`, `trace`, and `on_error`.

use crate::runtime::{args, ctx, output, report};
use mlua::{Function, Lua, MultiValue, Value as LuaValue};
use std::time::Duration;

/// Registry key of the `on_error` handler of this state.
pub const ON_ERROR_KEY: &str = "solvm.on_error";

/// The line-atomic `print` (it replaces the stock one). Values are shown as stock `print` shows
/// them (`luaL_tolstring`: `__tostring`, `__name`), whatever the global `tostring` is.
pub fn print_function(lua: &Lua) -> mlua::Result<Function> {
    lua.create_function(|lua, vals: MultiValue| {
        let mut line = Vec::with_capacity(64);
        for (i, v) in vals.iter().enumerate() {
            if i > 0 {
                line.push(b'\t');
            }
            match v {
                LuaValue::String(s) => line.extend_from_slice(&s.as_bytes()),
                LuaValue::Integer(n) => line.extend_from_slice(n.to_string().as_bytes()),
                LuaValue::Nil => line.extend_from_slice(b"nil"),
                LuaValue::Boolean(b) => line.extend_from_slice(if *b { b"true" } else { b"false" }),
                other => line.extend_from_slice(&args::display_string(lua, other)?.as_bytes()),
            }
        }
        line.push(b'\n');
        output::write_line(&line);
        Ok(())
    })
}

/// Installs `sleep`, `trace`, `reload_script` and `on_error`.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    let g = lua.globals();
    g.set(
        "sleep",
        lua.create_function(|lua, vals: MultiValue| {
            let secs = args::check_number(&vals, 1, "sleep")?;
            if secs.is_nan() || secs < 0.0 {
                return Err(args::arg_error(
                    1,
                    "sleep",
                    "must be a non-negative number of seconds",
                ));
            }
            let dur = Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX);
            crate::runtime::goroutine::sleep(lua, &ctx(lua), dur)
        })?,
    )?;
    g.set(
        "trace",
        lua.create_function(|lua, msg: Option<String>| {
            let tb = lua.traceback(msg.as_deref(), 2)?;
            let text = tb.to_string_lossy();
            report::emit(&format!(
                "trace: {}\n",
                text.replace("stack traceback:", "").trim_start()
            ));
            Ok(())
        })?,
    )?;
    g.set(
        "reload_script",
        lua.create_function(|lua, ()| {
            let c = ctx(lua);
            match c.rt.request_reload() {
                // The run is being replaced: unwind this goroutine now.
                Ok(true) => c.rt.cancel.check().map(|_| false),
                Ok(false) => Ok(false),
                Err(e) => Err(mlua::Error::runtime(format!("reload_script: {e}"))),
            }
        })?,
    )?;
    g.set(
        "on_error",
        lua.create_function(|lua, f: LuaValue| {
            let c = ctx(lua);
            match f {
                LuaValue::Function(f) => {
                    lua.set_named_registry_value(ON_ERROR_KEY, f)?;
                    // Uncaught errors of every goroutine are delivered to this one from now on.
                    *c.rt.on_error_owner.lock() = Some(c.gid);
                    Ok(())
                }
                LuaValue::Nil => {
                    let mut owner = c.rt.on_error_owner.lock();
                    if *owner == Some(c.gid) {
                        *owner = None;
                    }
                    lua.unset_named_registry_value(ON_ERROR_KEY)
                }
                other => Err(args::bad_argument(1, "on_error", "function", &other)),
            }
        })?,
    )?;
    Ok(())
}
