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
