//! The everyday builtins: line-atomic `print`, interruptible `sleep`, `trace`, and `on_error`.

use crate::runtime::{args, ctx, output, report};
use mlua::{ffi, Lua, MultiValue, Value as LuaValue};
use std::ffi::c_int;

/// Registry key of the `on_error` handler of this state.
pub const ON_ERROR_KEY: &str = "solvm.on_error";

/// The line-atomic `print` (it replaces the stock one), showing values as stock `print` does
/// (`luaL_tolstring`: `__tostring`, `__name`, never the global `tostring`).
///
/// A plain C function rather than an mlua callback: a `__gc` finalizer that runs while its state
/// closes (an object still reachable at the end) can still print, as in stock Lua, when mlua can no
/// longer call into Rust. Only the Lua C API runs until the line is complete, so a Lua error (a
/// failing `__tostring`) never unwinds over a Rust value.
///
/// # Safety
/// A `lua_CFunction`: only Lua calls it, with a valid state.
pub unsafe extern "C-unwind" fn print(state: *mut ffi::lua_State) -> c_int {
    let n = ffi::lua_gettop(state);
    ffi::luaL_checkstack(state, n + 2, c"too many arguments to print".as_ptr());
    // Every value's text first (a `__tostring` may raise: nothing may be locked then).
    for i in 1..=n {
        ffi::luaL_tolstring(state, i, std::ptr::null_mut());
    }
    let piece = |k: c_int| {
        let mut len = 0;
        let p = ffi::lua_tolstring(state, n + 1 + k, &mut len);
        std::slice::from_raw_parts(p as *const u8, len)
    };
    match output::line_writer() {
        Some(mut line) => {
            // Piece by piece under the lock, as stock `print` writes (no joined copy); no Lua
            // error can happen until the writer is dropped (the values are strings now).
            for k in 0..n {
                if k > 0 {
                    line.write(b"\t");
                }
                line.write(piece(k));
            }
            line.write(b"\n");
        }
        None => {
            // The REPL's prompt is waiting: one joined line for its printer.
            let mut text = Vec::new();
            for k in 0..n {
                if k > 0 {
                    text.push(b'\t');
                }
                text.extend_from_slice(piece(k));
            }
            text.push(b'\n');
            output::write_line(&text);
        }
    }
    0
}

/// Installs `sleep`, `trace`, `reload_script` and `on_error`.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    let g = lua.globals();
    g.set(
        "sleep",
        lua.create_function(|lua, vals: MultiValue| {
            let dur = args::check_seconds(&vals, 1, "sleep", true)?;
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
