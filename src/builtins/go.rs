//! Goroutine builtins: `go`, `wait`, `get_goroutines`, `check_memory`, and `os.exit` that ends the
//! whole run from any goroutine.

use crate::runtime::args::bad_argument;
use crate::runtime::goroutine::{self, Blocked, Spawn, WaitOn};
use crate::runtime::value::{GlobalsSnapshot, Value};
use crate::runtime::{ctx, output};
use mlua::{ffi, Lua, MultiValue, Value as LuaValue};

/// Installs `go`, `wait`, `get_goroutines` and `check_memory`.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    let g = lua.globals();
    g.set("go", lua.create_function(go)?)?;
    g.set("wait", lua.create_function(wait)?)?;
    g.set(
        "get_goroutines",
        lua.create_function(|lua, ()| {
            let t = lua.create_table()?;
            for info in ctx(lua).rt.registry.live.lock().values() {
                t.raw_set(info.id, info.name.as_str())?;
            }
            Ok(t)
        })?,
    )?;
    g.set("check_memory", lua.create_function(check_memory)?)?;
    Ok(())
}

/// The run-ending half of `os.exit` (`builtins::stock::os_exit` checked the arguments as stock Lua
/// does and passes `(code, close)`): ends the process with `code` at once from any goroutine, as
/// stock `os.exit` does, so no `pcall`/`xpcall` (nor its message handler) sees anything. Output is
/// flushed; the operating system closes servers and listeners with the process. With `close`, this
/// goroutine's state is closed first, as `lua_close` does in stock Lua: its pending `<close>`
/// variables and its finalizers run.
pub fn exit_function(lua: &Lua) -> mlua::Result<mlua::Function> {
    lua.create_function(|lua, (code, close): (i64, bool)| -> mlua::Result<()> {
        output::flush();
        let rt = ctx(lua).rt;
        if close {
            let c = ctx(lua);
            // No cancellation may hook the state while it closes, nor after.
            c.interrupt.detach();
            // Safety: this call never returns (the process ends below), so nothing touches the
            // closed state again; no other thread ever touches it (SPEC §1).
            unsafe { ffi::lua_close(lua.current_thread().state()) };
        }
        crate::runtime::exit_now(Some(&rt), code as i32)
    })
}

fn go(lua: &Lua, args: MultiValue) -> mlua::Result<u64> {
    let mut it = args.into_iter();
    let f = match it.next() {
        Some(LuaValue::Function(f)) => f,
        other => return Err(bad_argument(1, "go", "function", other.as_ref())),
    };
    let info = f.info();
    let name = match &info.name {
        Some(n) => n.clone(),
        None => format!(
            "function@{}:{}",
            info.short_src.as_deref().unwrap_or("?"),
            info.line_defined.unwrap_or(0)
        ),
    };
    let func = Value::from_lua(lua, &LuaValue::Function(f), "argument #1 to 'go'")?;
    let mut values = Vec::new();
    for (i, a) in it.enumerate() {
        values.push(Value::from_lua(
            lua,
            &a,
            &format!("argument #{} to 'go'", i + 2),
        )?);
    }
    let c = ctx(lua);
    let spawn = Spawn {
        func,
        args: values,
        globals: GlobalsSnapshot::take(lua)?,
        name,
        spawned_at: goroutine::caller_location(lua),
    };
    goroutine::spawn(&c.rt, c.gid, spawn)
}

/// Waits until every goroutine started by this one (transitively) has finished.
fn wait(lua: &Lua, (): ()) -> mlua::Result<()> {
    let c = ctx(lua);
    let blocked = || Blocked {
        what: "wait()".into(),
        at: goroutine::caller_location(lua),
        has_timeout: false,
        waits_on: vec![WaitOn::Children],
    };
    while c.rt.registry.has_descendants(c.gid) {
        // The last descendant to finish wakes the wait; a short deadline guards against a missed
        // wake-up.
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(50);
        goroutine::block_until_children_done(lua, &c, &blocked, deadline)?;
    }
    goroutine::drain_events(lua, &c)
}

fn check_memory(lua: &Lua, (): ()) -> mlua::Result<mlua::Table> {
    let c = ctx(lua);
    let (alloc, total) = crate::runtime::alloc::counters();
    let rss = crate::runtime::alloc::rss_bytes();
    let now = [alloc as i64, total as i64, rss as i64];
    let prev = c.rt.memory_sample.lock().replace(now).unwrap_or([0, 0, 0]);
    let t = lua.create_table()?;
    t.set("alloc_diff", now[0] - prev[0])?;
    t.set("total_alloc_diff", now[1] - prev[1])?;
    t.set("sys_diff", now[2] - prev[2])?;
    t.set("goroutines", c.rt.registry.live.lock().len())?;
    t.set("lua_bytes", lua.used_memory())?;
    t.set("rss_bytes", rss)?;
    t.set("alloc_bytes", alloc)?;
    t.set("total_alloc_bytes", total)?;
    Ok(t)
}
