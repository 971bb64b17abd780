//! Helpers shared by the batteries of issue 16 (process, regex, datetime, template, text, tablex,
//! types): whole-number and size arguments that never panic, allocation that fails with a Lua error
//! instead of aborting, and methods for userdata objects wrapped for Lua-style errors.

use crate::runtime::args::{self, arg_error, bad_argument, MISSING};
use mlua::{AnyUserData, Lua, MultiValue, Table, UserData, Value as LuaValue};

/// Largest string or table a battery builds in one piece (Lua's own strings could be larger, but
/// a script asking for more is surely mistaken, and the process must not abort on it).
pub const MAX_RESULT: usize = 1 << 30;

/// Argument `pos` as a whole number (an integer, or a float with an integral value that fits).
pub fn check_integer(args: &MultiValue, pos: usize, func: &str) -> mlua::Result<i64> {
    match args.get(pos - 1) {
        Some(LuaValue::Integer(i)) => Ok(*i),
        Some(_) => {
            let n = args::check_number(args, pos, func)?;
            // `i64::MAX as f64` rounds up to 2^63, which does not fit: compare strictly.
            if n.fract() != 0.0 || !n.is_finite() || n < i64::MIN as f64 || n >= i64::MAX as f64 {
                return Err(arg_error(pos, func, "number has no integer representation"));
            }
            Ok(n as i64)
        }
        None => Err(bad_argument(pos, func, "number", MISSING)),
    }
}

/// An optional whole number argument (`nil` or absent: `default`).
pub fn opt_integer(args: &MultiValue, pos: usize, func: &str, default: i64) -> mlua::Result<i64> {
    match args.get(pos - 1) {
        None | Some(LuaValue::Nil) => Ok(default),
        Some(_) => check_integer(args, pos, func),
    }
}

/// An optional string argument as bytes.
pub fn opt_bytes(
    lua: &Lua,
    args: &MultiValue,
    pos: usize,
    func: &str,
) -> mlua::Result<Option<Vec<u8>>> {
    match args.get(pos - 1) {
        None | Some(LuaValue::Nil) => Ok(None),
        Some(_) => Ok(Some(
            args::check_string(lua, args, pos, func)?
                .as_bytes()
                .to_vec(),
        )),
    }
}

/// Argument `pos` as a table.
pub fn check_table(args: &MultiValue, pos: usize, func: &str) -> mlua::Result<Table> {
    match args.get(pos - 1) {
        Some(LuaValue::Table(t)) => Ok(t.clone()),
        other => Err(bad_argument(pos, func, "table", other)),
    }
}

/// Argument `pos` as a function.
pub fn check_function(args: &MultiValue, pos: usize, func: &str) -> mlua::Result<mlua::Function> {
    match args.get(pos - 1) {
        Some(LuaValue::Function(f)) => Ok(f.clone()),
        other => Err(bad_argument(pos, func, "function", other)),
    }
}

/// An empty buffer with room for `n` bytes, or a Lua error when `n` is beyond [`MAX_RESULT`] or
/// the memory is not there (instead of aborting the process).
pub fn buffer(n: usize, func: &str) -> mlua::Result<Vec<u8>> {
    if n > MAX_RESULT {
        return Err(mlua::Error::runtime(format!(
            "{func}: resulting string too large"
        )));
    }
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| mlua::Error::runtime(format!("{func}: not enough memory")))?;
    Ok(v)
}

/// Appends `data` to `buf`, failing with a Lua error instead of aborting when memory runs out.
pub fn append(buf: &mut Vec<u8>, data: &[u8], func: &str) -> mlua::Result<()> {
    if buf.len().saturating_add(data.len()) > MAX_RESULT {
        return Err(mlua::Error::runtime(format!(
            "{func}: resulting string too large"
        )));
    }
    buf.try_reserve(data.len())
        .map_err(|_| mlua::Error::runtime(format!("{func}: not enough memory")))?;
    buf.extend_from_slice(data);
    Ok(())
}

/// A method of an object class: gets every argument, `self` first.
pub type Method = fn(&Lua, MultiValue) -> mlua::Result<MultiValue>;

/// The table of `class`'s methods in this state (made once, kept in the registry), each wrapped
/// so its errors read like Lua's own. Used as (or by) the class's `__index`.
pub fn method_table(lua: &Lua, class: &str, methods: &[(&str, Method)]) -> mlua::Result<Table> {
    let key = format!("solvm.methods.{class}");
    if let Ok(t) = lua.named_registry_value::<Table>(&key) {
        return Ok(t);
    }
    let t = lua.create_table_with_capacity(0, methods.len())?;
    for &(name, method) in methods {
        let f = lua.create_function(move |lua, args: MultiValue| method(lua, args))?;
        t.raw_set(name, args::wrap_function(lua, f)?)?;
    }
    lua.set_named_registry_value(&key, &t)?;
    Ok(t)
}

/// `self` of a method call: the first argument as a `T` (a `:` call), or a Lua-style error.
pub fn this<T: UserData + Clone + 'static>(
    args: &MultiValue,
    method: &str,
    class: &str,
) -> mlua::Result<T> {
    let ud: Option<&AnyUserData> = match args.front() {
        Some(LuaValue::UserData(ud)) => Some(ud),
        _ => None,
    };
    match ud.and_then(|ud| ud.borrow::<T>().ok()) {
        Some(t) => Ok(t.clone()),
        None => Err(bad_argument(1, method, class, args.front())),
    }
}

/// Turns a list of Lua values into a [`MultiValue`].
pub fn multi<I: IntoIterator<Item = LuaValue>>(values: I) -> MultiValue {
    MultiValue::from_iter(values)
}

/// A Lua string value made from bytes.
pub fn string(lua: &Lua, bytes: impl AsRef<[u8]>) -> mlua::Result<LuaValue> {
    Ok(LuaValue::String(lua.create_string(bytes)?))
}
