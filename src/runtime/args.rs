//! Shared helpers for builtins at the Lua boundary: Lua-style argument errors and the `nil, err`
//! convention for I/O-ish failures.

use mlua::{Lua, MultiValue, Value as LuaValue};

/// Lua's name for a value's type, as used in `bad argument` messages.
pub fn type_name(v: &LuaValue) -> &'static str {
    match v {
        LuaValue::Nil => "nil",
        LuaValue::Boolean(_) => "boolean",
        LuaValue::LightUserData(_) => "userdata",
        LuaValue::Integer(_) | LuaValue::Number(_) => "number",
        LuaValue::String(_) => "string",
        LuaValue::Table(_) => "table",
        LuaValue::Function(_) => "function",
        LuaValue::Thread(_) => "thread",
        LuaValue::UserData(_) => "userdata",
        LuaValue::Error(_) => "error",
        _ => "userdata",
    }
}

/// `bad argument #2 to 'send' (channel expected, got nil)`, exactly as Lua words it.
pub fn bad_argument(pos: usize, func: &str, expected: &str, got: &LuaValue) -> mlua::Error {
    mlua::Error::runtime(format!(
        "bad argument #{pos} to '{func}' ({expected} expected, got {})",
        if matches!(got, LuaValue::Nil) {
            "no value"
        } else {
            type_name(got)
        }
    ))
}

/// A free-form argument error: `bad argument #1 to 'sleep' (must not be negative)`.
pub fn arg_error(pos: usize, func: &str, msg: &str) -> mlua::Error {
    mlua::Error::runtime(format!("bad argument #{pos} to '{func}' ({msg})"))
}

/// Argument `pos` (1-based) of `args` as a string; numbers are accepted and converted, as Lua's
/// `luaL_checkstring` does.
pub fn check_string(
    lua: &Lua,
    args: &MultiValue,
    pos: usize,
    func: &str,
) -> mlua::Result<mlua::LuaString> {
    match args.get(pos - 1) {
        Some(LuaValue::String(s)) => Ok(s.clone()),
        Some(v @ (LuaValue::Integer(_) | LuaValue::Number(_))) => lua
            .coerce_string(v.clone())?
            .ok_or_else(|| bad_argument(pos, func, "string", v)),
        Some(v) => Err(bad_argument(pos, func, "string", v)),
        None => Err(bad_argument(pos, func, "string", &LuaValue::Nil)),
    }
}

/// Argument as a number (float), Lua style.
pub fn check_number(args: &MultiValue, pos: usize, func: &str) -> mlua::Result<f64> {
    match args.get(pos - 1) {
        Some(LuaValue::Integer(i)) => Ok(*i as f64),
        Some(LuaValue::Number(n)) => Ok(*n),
        Some(LuaValue::String(s)) => s
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .ok_or_else(|| bad_argument(pos, func, "number", &LuaValue::String(s.clone()))),
        Some(v) => Err(bad_argument(pos, func, "number", v)),
        None => Err(bad_argument(pos, func, "number", &LuaValue::Nil)),
    }
}

/// The Lua convention for I/O-ish failures: return `nil, message`.
pub fn nil_err(lua: &Lua, msg: impl AsRef<str>) -> mlua::Result<MultiValue> {
    let s = lua.create_string(msg.as_ref())?;
    Ok(MultiValue::from_iter([LuaValue::Nil, LuaValue::String(s)]))
}

/// An I/O error worded like Go's (`no such file or directory`), without Rust's `(os error 2)`.
pub fn io_error_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error") {
        Some(i) => &text[..i],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().collect::<String>() + chars.as_str(),
        None => String::new(),
    }
}

/// Wraps every builtin function that `register_all` added (globals not in `stock`, and the functions
/// of builtin tables such as `store`) so its errors reach Lua as plain strings with the caller's
/// `file:line:`, exactly like errors of Lua's own C functions (`luaL_error`). Without this, mlua hands
/// `pcall` a userdata whose text starts with "runtime error:" and carries a traceback.
pub fn wrap_builtins(lua: &Lua, stock: &std::collections::HashSet<Vec<u8>>) -> mlua::Result<()> {
    let globals = lua.globals();
    let mut updates: Vec<(mlua::Table, LuaValue, mlua::Function)> = Vec::new();
    for pair in globals.pairs::<LuaValue, LuaValue>() {
        let (k, v) = pair?;
        let LuaValue::String(name) = &k else { continue };
        if stock.contains(name.as_bytes().as_ref()) {
            continue;
        }
        match v {
            LuaValue::Function(f) if f.info().what == "C" => {
                updates.push((globals.clone(), k, wrap_function(lua, f)?))
            }
            LuaValue::Table(t) => {
                for field in t.pairs::<LuaValue, LuaValue>() {
                    if let (fk, LuaValue::Function(f)) = field? {
                        if f.info().what == "C" {
                            updates.push((t.clone(), fk, wrap_function(lua, f)?));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    // Builtins that live in stock tables (`os.exit`).
    let os: mlua::Table = globals.get("os")?;
    updates.push((
        os.clone(),
        LuaValue::String(lua.create_string("exit")?),
        wrap_function(lua, os.get("exit")?)?,
    ));
    for (t, k, f) in updates {
        t.raw_set(k, f)?;
    }
    Ok(())
}

/// Wraps one builtin function so its errors read like Lua's own (see [`wrap_builtins`]).
pub fn wrap_function(lua: &Lua, f: mlua::Function) -> mlua::Result<mlua::Function> {
    // Safety: `exec_raw` pushes `f`; we replace it with a C closure holding it as its upvalue.
    unsafe {
        lua.exec_raw::<mlua::Function>(f, |state| {
            mlua::ffi::lua_pushcclosure(state, lua_style_errors, 1)
        })
    }
}

/// Calls upvalue 1 with the arguments; an mlua error becomes `"file:line: message"`.
unsafe extern "C-unwind" fn lua_style_errors(
    state: *mut mlua::ffi::lua_State,
) -> std::os::raw::c_int {
    use mlua::ffi;
    let nargs = ffi::lua_gettop(state);
    ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
    ffi::lua_insert(state, 1);
    if ffi::lua_pcall(state, nargs, ffi::LUA_MULTRET, 0) == ffi::LUA_OK {
        return ffi::lua_gettop(state);
    }
    if ffi::lua_type(state, -1) == ffi::LUA_TUSERDATA
        && ffi::luaL_getmetafield(state, -1, c"__type".as_ptr()) != ffi::LUA_TNIL
    {
        ffi::lua_settop(state, -2);
        let mut len = 0usize;
        let text = ffi::luaL_tolstring(state, -1, &mut len);
        let has_location = {
            let bytes = std::slice::from_raw_parts(text as *const u8, len);
            let msg = clean_mlua_message(&String::from_utf8_lossy(bytes));
            let located = super::report::split_location(&msg).is_some();
            ffi::lua_pushlstring(state, msg.as_ptr() as *const _, msg.len());
            located
            // `msg` is dropped here, before any longjmp below.
        };
        if !has_location {
            ffi::luaL_where(state, 1);
            ffi::lua_rotate(state, -2, 1);
            ffi::lua_concat(state, 2);
        }
    }
    ffi::lua_error(state)
}

/// The message inside mlua's rendering of an error: the innermost `caused by:`, without the
/// `runtime error: ` prefix and without a traceback.
pub fn clean_mlua_message(text: &str) -> String {
    let mut msg = match text.rfind("caused by: ") {
        Some(i) => &text[i + "caused by: ".len()..],
        None => text,
    };
    if let Some(i) = msg.find("\nstack traceback:") {
        msg = &msg[..i];
    }
    let msg = msg.trim();
    msg.strip_prefix("runtime error: ")
        .unwrap_or(msg)
        .to_string()
}
