//! `coroutine.resume` and `coroutine.wrap` that record which Lua thread is running, so the interrupt
//! hook (set asynchronously when the run is cancelled) can reach a coroutine stuck in a tight loop.
//! They are stock Lua 5.4's own (`lcorolib.c`: `auxresume`, `luaB_auxwrap`) with that bookkeeping
//! around `lua_resume`, so results and error messages are the stock ones. As C functions they cost
//! little to set up (the former mlua closure and Lua wrapper took ~30k instructions per state).

use super::Ctx;
use mlua::{ffi, Lua};
use std::ffi::c_int;

/// Replaces `coroutine.resume` and `coroutine.wrap` of `globals` (the `coroutine` library has just
/// been opened).
pub fn install(lua: &Lua, globals: &mlua::Table) -> mlua::Result<()> {
    // Safety: only the C API on `_G` (pushed by `exec_raw`), in protected mode.
    unsafe {
        lua.exec_raw::<()>(globals, |state| {
            push_key(state, "coroutine");
            if ffi::lua_rawget(state, -2) != ffi::LUA_TTABLE {
                return;
            }
            // Each keeps the stock function: `resume` for its argument errors, `wrap` to create.
            ffi::lua_getfield(state, -1, c"resume".as_ptr());
            ffi::lua_pushcclosure(state, resume, 1);
            ffi::lua_setfield(state, -2, c"resume".as_ptr());
            ffi::lua_getfield(state, -1, c"create".as_ptr());
            ffi::lua_pushcclosure(state, wrap, 1);
            ffi::lua_setfield(state, -2, c"wrap".as_ptr());
        })
    }
}

unsafe fn push_key(state: *mut ffi::lua_State, s: &str) {
    ffi::lua_pushlstring(state, s.as_ptr() as *const _, s.len());
}

/// `lua_resume(co, state, narg)` with `co` recorded as running meanwhile.
///
/// Safety: `co` is a coroutine of this state with `narg` arguments on its stack. `lua_resume`
/// returns every error as a status, so the `Arc` held here is always dropped.
unsafe fn tracked_resume(
    state: *mut ffi::lua_State,
    co: *mut ffi::lua_State,
    narg: c_int,
) -> (c_int, c_int) {
    // The handle is looked up at call time: a pooled state gets its goroutine's handle later.
    let lua = Lua::get_or_init_from_ptr(state);
    let handle = lua
        .try_app_data_ref::<Ctx>()
        .ok()
        .flatten()
        .map(|ctx| std::sync::Arc::clone(&ctx.interrupt));
    if let Some(h) = &handle {
        h.push(co);
    }
    let mut nres = 0;
    let status = ffi::lua_resume(co, state, narg, &mut nres);
    if let Some(h) = &handle {
        h.pop();
    }
    (status, nres)
}

/// Stock `auxresume`: the number of results, or -1 with the error message on top.
unsafe fn auxresume(state: *mut ffi::lua_State, co: *mut ffi::lua_State, narg: c_int) -> c_int {
    if ffi::lua_checkstack(co, narg) == 0 {
        ffi::lua_pushstring(state, c"too many arguments to resume".as_ptr());
        return -1;
    }
    ffi::lua_xmove(state, co, narg);
    let (status, nres) = tracked_resume(state, co, narg);
    if status == ffi::LUA_OK || status == ffi::LUA_YIELD {
        if ffi::lua_checkstack(state, nres + 1) == 0 {
            ffi::lua_settop(co, -nres - 1);
            ffi::lua_pushstring(state, c"too many results to resume".as_ptr());
            return -1;
        }
        ffi::lua_xmove(co, state, nres);
        nres
    } else {
        ffi::lua_xmove(co, state, 1);
        -1
    }
}

/// `coroutine.resume(co, ...)`; stock `resume` (upvalue 1) reports a bad argument.
unsafe extern "C-unwind" fn resume(state: *mut ffi::lua_State) -> c_int {
    let co = ffi::lua_tothread(state, 1);
    if co.is_null() {
        return match ffi::lua_tocfunction(state, ffi::lua_upvalueindex(1)) {
            Some(stock) => stock(state),
            None => 0,
        };
    }
    let r = auxresume(state, co, ffi::lua_gettop(state) - 1);
    if r < 0 {
        ffi::lua_pushboolean(state, 0);
        ffi::lua_rotate(state, -2, 1);
        2
    } else {
        ffi::lua_pushboolean(state, 1);
        ffi::lua_rotate(state, -(r + 1), 1);
        r + 1
    }
}

/// `coroutine.wrap(f)`: stock `coroutine.create` (upvalue 1), then a function resuming it.
unsafe extern "C-unwind" fn wrap(state: *mut ffi::lua_State) -> c_int {
    let Some(create) = ffi::lua_tocfunction(state, ffi::lua_upvalueindex(1)) else {
        return 0;
    };
    create(state);
    ffi::lua_pushcclosure(state, auxwrap, 1);
    1
}

/// A function made by `coroutine.wrap`: resumes its coroutine (upvalue 1), raising its errors.
unsafe extern "C-unwind" fn auxwrap(state: *mut ffi::lua_State) -> c_int {
    let co = ffi::lua_tothread(state, ffi::lua_upvalueindex(1));
    if co.is_null() {
        return 0;
    }
    let r = auxresume(state, co, ffi::lua_gettop(state));
    if r < 0 {
        let mut stat = ffi::lua_status(co);
        if stat != ffi::LUA_OK && stat != ffi::LUA_YIELD {
            // Close its to-be-closed variables; the error they end with is the one raised.
            stat = ffi::lua_closethread(co, state);
            ffi::lua_xmove(co, state, 1);
        }
        if stat != ffi::LUA_ERRMEM && ffi::lua_type(state, -1) == ffi::LUA_TSTRING {
            ffi::luaL_where(state, 1);
            ffi::lua_rotate(state, -2, 1);
            ffi::lua_concat(state, 2);
        }
        ffi::lua_error(state);
    }
    r
}
