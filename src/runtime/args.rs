//! Shared helpers for builtins at the Lua boundary: Lua-style argument errors, the one conversion
//! from a Lua number of seconds to a `Duration`, and the `nil, err` convention for I/O-ish failures.

use mlua::{Lua, MultiValue, Value as LuaValue};
use std::time::{Duration, Instant};

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

/// What a `bad argument` message says was given: a value's type (`nil` included), or `no value`
/// when the argument was not passed at all, as Lua words it.
pub trait Got {
    fn got(&self) -> &'static str;
}

impl Got for &LuaValue {
    fn got(&self) -> &'static str {
        type_name(self)
    }
}

impl Got for Option<&LuaValue> {
    fn got(&self) -> &'static str {
        self.map_or("no value", type_name)
    }
}

/// An argument that was not passed at all (`got no value`).
pub const MISSING: Option<&LuaValue> = None;

/// `bad argument #2 to 'send' (channel expected, got nil)`, exactly as Lua words it.
pub fn bad_argument(pos: usize, func: &str, expected: &str, got: impl Got) -> mlua::Error {
    mlua::Error::runtime(format!(
        "bad argument #{pos} to '{func}' ({expected} expected, got {})",
        got.got()
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
        None => Err(bad_argument(pos, func, "string", MISSING)),
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
        None => Err(bad_argument(pos, func, "number", MISSING)),
    }
}

/// Argument as an integer, Lua style: an integral float or a numeric string converts; any other
/// number raises `number has no integer representation`, as Lua's `luaL_checkinteger` does.
pub fn check_integer(args: &MultiValue, pos: usize, func: &str) -> mlua::Result<i64> {
    if let Some(LuaValue::Integer(i)) = args.get(pos - 1) {
        return Ok(*i);
    }
    let n = check_number(args, pos, func)?;
    // 2^63 is the first float past i64::MAX; every float below it in magnitude converts exactly.
    if n.fract() == 0.0 && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&n) {
        Ok(n as i64)
    } else {
        Err(arg_error(pos, func, "number has no integer representation"))
    }
}

/// An optional table argument (an options table): `None` when absent or nil.
pub fn opt_table(args: &MultiValue, pos: usize, func: &str) -> mlua::Result<Option<mlua::Table>> {
    match args.get(pos - 1) {
        None | Some(LuaValue::Nil) => Ok(None),
        Some(LuaValue::Table(t)) => Ok(Some(t.clone())),
        Some(v) => Err(bad_argument(pos, func, "table", v)),
    }
}

/// Boolean field `name` of options table `opts` (argument `pos`), `default` when absent.
pub fn bool_option(
    opts: Option<&mlua::Table>,
    name: &str,
    default: bool,
    pos: usize,
    func: &str,
) -> mlua::Result<bool> {
    let Some(opts) = opts else {
        return Ok(default);
    };
    match opts.get::<LuaValue>(name)? {
        LuaValue::Nil => Ok(default),
        LuaValue::Boolean(b) => Ok(b),
        _ => Err(arg_error(pos, func, &format!("{name} must be a boolean"))),
    }
}

/// The longest duration a script can ask for: a century. Longer ones (`1e300`, `math.huge`,
/// `math.maxinteger`) are clamped to it, and a builtin taking a timeout reads it as "no timeout"
/// (SPEC §4). Adding it to `Instant::now()` cannot overflow, so nothing downstream has to check.
pub const NO_LIMIT: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A script's number of seconds (a delay, a timeout, a TTL) as a `Duration`: the one conversion
/// every builtin uses, so no number reaches `Duration`'s panicking constructors or overflows an
/// `Instant`. NaN and negative numbers are refused (`Err` says why, for the argument error);
/// anything beyond [`NO_LIMIT`] is clamped to it.
pub fn seconds_to_duration(secs: f64) -> Result<Duration, &'static str> {
    if secs.is_nan() {
        Err("NaN")
    } else if secs < 0.0 {
        Err("negative")
    } else if secs >= NO_LIMIT.as_secs_f64() {
        Ok(NO_LIMIT)
    } else {
        // Finite and within 0..NO_LIMIT: cannot fail.
        Ok(Duration::try_from_secs_f64(secs).unwrap_or(NO_LIMIT))
    }
}

/// Argument `pos` as a number of seconds, Lua style (a numeric string is accepted):
/// `bad argument #2 to 'sleep' (expected a non-negative number of seconds, got -1)`. With
/// `allow_zero = false`, 0 is refused too (an interval).
pub fn check_seconds(
    args: &MultiValue,
    pos: usize,
    func: &str,
    allow_zero: bool,
) -> mlua::Result<Duration> {
    let secs = check_number(args, pos, func)?;
    let what = if allow_zero {
        "a non-negative"
    } else {
        "a positive"
    };
    match seconds_to_duration(secs) {
        Ok(d) if allow_zero || !d.is_zero() => Ok(d),
        _ => Err(arg_error(
            pos,
            func,
            &format!(
                "expected {what} number of seconds, got {}",
                show_number(secs)
            ),
        )),
    }
}

/// Optional argument `pos` as a number of seconds (`nil` or absent: `None`); see [`check_seconds`].
pub fn opt_seconds(args: &MultiValue, pos: usize, func: &str) -> mlua::Result<Option<Duration>> {
    match args.get(pos - 1) {
        None | Some(LuaValue::Nil) => Ok(None),
        Some(_) => check_seconds(args, pos, func, true).map(Some),
    }
}

/// When a wait of `d` from now ends; `None` for [`NO_LIMIT`] (no deadline at all).
pub fn deadline_after(d: Duration) -> Option<Instant> {
    if d >= NO_LIMIT {
        None
    } else {
        Instant::now().checked_add(d)
    }
}

/// A number as Lua prints it in a message (`nan`, `inf`, `-1`, `0.5`).
fn show_number(n: f64) -> String {
    if n.is_nan() {
        "nan".into()
    } else if n.is_infinite() {
        if n > 0.0 { "inf" } else { "-inf" }.into()
    } else if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else if n.abs() >= 1e-4 && n.abs() < 1e15 {
        format!("{n}")
    } else {
        // Lua's `%.14g` exponent form: `1e+300`, `1e-05`.
        let text = format!("{n:e}");
        match text.split_once('e') {
            Some((m, e)) if e.starts_with('-') => format!("{m}e-{:0>2}", &e[1..]),
            Some((m, e)) => format!("{m}e+{e:0>2}"),
            None => text,
        }
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

/// `v` as stock `print` and `tostring` show it (`luaL_tolstring`: `__tostring`, `__name`), without
/// going through the global `tostring`, which a script may have replaced.
pub fn display_string(lua: &Lua, v: &LuaValue) -> mlua::Result<mlua::LuaString> {
    // Safety: `exec_raw` runs in protected mode with `v` pushed; we replace it with its text.
    unsafe {
        lua.exec_raw::<mlua::LuaString>(v, |state| {
            mlua::ffi::luaL_tolstring(state, -1, std::ptr::null_mut());
            mlua::ffi::lua_replace(state, -2);
        })
    }
}

/// Wraps one builtin function so its errors reach Lua as plain strings with the caller's
/// `file:line:`, exactly like errors of Lua's own C functions (`luaL_error`). Without this, mlua hands
/// `pcall` a userdata whose text starts with "runtime error:" and carries a traceback.
pub fn wrap_function(lua: &Lua, f: mlua::Function) -> mlua::Result<mlua::Function> {
    // Safety: `exec_raw` pushes `f`; we replace it with a C closure holding it as its upvalue.
    unsafe {
        lua.exec_raw::<mlua::Function>(f, |state| {
            mlua::ffi::lua_pushcclosure(state, lua_style_errors, 1)
        })
    }
}

/// Calls upvalue 1 with the arguments; an mlua error becomes `"file:line: message"`.
pub(crate) unsafe extern "C-unwind" fn lua_style_errors(
    state: *mut mlua::ffi::lua_State,
) -> std::os::raw::c_int {
    use mlua::ffi;
    let nargs = ffi::lua_gettop(state);
    ffi::lua_pushcfunction(state, remember_traceback);
    ffi::lua_insert(state, 1);
    ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
    ffi::lua_insert(state, 2);
    if ffi::lua_pcall(state, nargs, ffi::LUA_MULTRET, 1) == ffi::LUA_OK {
        ffi::lua_remove(state, 1);
        return ffi::lua_gettop(state);
    }
    if ffi::lua_type(state, -1) == ffi::LUA_TUSERDATA
        && ffi::luaL_getmetafield(state, -1, c"__type".as_ptr()) != ffi::LUA_TNIL
    {
        ffi::lua_settop(state, -2);
        let mut len = 0usize;
        let text = ffi::luaL_tolstring(state, -1, &mut len);
        let (has_location, has_inner_traceback) = {
            let bytes = std::slice::from_raw_parts(text as *const u8, len);
            let (msg, inner_tb) = split_mlua_message(&String::from_utf8_lossy(bytes));
            let located = super::report::split_location(&msg).is_some();
            if let Some(tb) = &inner_tb {
                ffi::lua_pushlstring(state, tb.as_ptr() as *const _, tb.len());
            }
            ffi::lua_pushlstring(state, msg.as_ptr() as *const _, msg.len());
            (located, inner_tb.is_some())
            // `msg` and `inner_tb` are dropped here, before any longjmp below.
        };
        if !has_location {
            ffi::luaL_where(state, 1);
            ffi::lua_rotate(state, -2, 1);
            ffi::lua_concat(state, 2);
        }
        if has_inner_traceback {
            // Stack: ..., traceback, message. Remember both for the report, raise the message.
            ffi::lua_pushvalue(state, -1);
            ffi::lua_setfield(state, ffi::LUA_REGISTRYINDEX, c"solvm.inner_error".as_ptr());
            ffi::lua_rotate(state, -2, 1);
            ffi::lua_setfield(
                state,
                ffi::LUA_REGISTRYINDEX,
                c"solvm.inner_traceback".as_ptr(),
            );
        }
    }
    ffi::lua_error(state)
}

/// Registry keys of the last Lua error that passed through a builtin, and the traceback taken where
/// it was raised (the frames below the builtin are gone by the time the error reaches the top).
pub const INNER_ERROR_KEY: &str = "solvm.inner_error";
pub const INNER_TRACEBACK_KEY: &str = "solvm.inner_traceback";

/// Message handler of [`lua_style_errors`]: for an error raised by Lua code called from a builtin
/// (a module's chunk, a callback), remembers the full traceback at the point of error.
unsafe extern "C-unwind" fn remember_traceback(
    state: *mut mlua::ffi::lua_State,
) -> std::os::raw::c_int {
    use mlua::ffi;
    if ffi::lua_type(state, 1) == ffi::LUA_TSTRING && ffi::lua_checkstack(state, 4) != 0 {
        ffi::luaL_traceback(state, state, std::ptr::null(), 1);
        ffi::lua_setfield(
            state,
            ffi::LUA_REGISTRYINDEX,
            c"solvm.inner_traceback".as_ptr(),
        );
        ffi::lua_pushvalue(state, 1);
        ffi::lua_setfield(state, ffi::LUA_REGISTRYINDEX, c"solvm.inner_error".as_ptr());
    }
    ffi::lua_settop(state, 1);
    1
}

/// The traceback taken where `info`'s error was raised, if it passed through a builtin.
pub fn inner_traceback(lua: &Lua, info: &super::report::ErrorInfo) -> Option<String> {
    let msg: String = lua.named_registry_value(INNER_ERROR_KEY).ok()?;
    if msg != info.one_line() && msg != info.message {
        return None;
    }
    let tb: String = lua.named_registry_value(INNER_TRACEBACK_KEY).ok()?;
    Some(
        tb.trim_start_matches("stack traceback:")
            .trim_start_matches('\n')
            .to_string(),
    )
}

/// The message inside mlua's rendering of an error: the innermost `caused by:`, without the
/// `runtime error: ` prefix and without a traceback.
pub fn clean_mlua_message(text: &str) -> String {
    split_mlua_message(text).0
}

/// The message inside mlua's rendering of an error, and the traceback of Lua frames that mlua
/// appended to it when the error was raised by Lua code the builtin called (a module, a callback).
fn split_mlua_message(text: &str) -> (String, Option<String>) {
    let inner = match text.rfind("caused by: ") {
        Some(i) => &text[i + "caused by: ".len()..],
        None => text,
    };
    let (msg, tb) = match inner.find("\nstack traceback:") {
        Some(i) => {
            let frames = &inner[i + "\nstack traceback:".len()..];
            // mlua may append the callback's own traceback after the inner one.
            let frames = frames.split("stack traceback:").next().unwrap_or(frames);
            (&inner[..i], Some(frames.trim_matches('\n').to_string()))
        }
        None => (inner, None),
    };
    let msg = msg.trim();
    let msg = msg
        .strip_prefix("runtime error: ")
        .unwrap_or(msg)
        .to_string();
    (msg, tb.filter(|t| !t.trim().is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_become_durations_without_panicking() {
        assert_eq!(seconds_to_duration(0.0), Ok(Duration::ZERO));
        assert_eq!(seconds_to_duration(1.5), Ok(Duration::from_millis(1500)));
        assert!(seconds_to_duration(f64::NAN).is_err());
        assert!(seconds_to_duration(-1.0).is_err());
        assert!(seconds_to_duration(f64::NEG_INFINITY).is_err());
        for huge in [
            f64::INFINITY,
            1e300,
            i64::MAX as f64,
            1e19,
            NO_LIMIT.as_secs_f64(),
        ] {
            assert_eq!(seconds_to_duration(huge), Ok(NO_LIMIT), "{huge}");
        }
        // Just under the limit is kept as it is, and still fits in an `Instant`.
        let d = seconds_to_duration(NO_LIMIT.as_secs_f64() - 1.0).unwrap();
        assert!(d < NO_LIMIT);
        assert!(deadline_after(d).is_some());
        assert_eq!(deadline_after(NO_LIMIT), None);
    }

    #[test]
    fn numbers_in_messages_read_like_lua() {
        assert_eq!(show_number(f64::NAN), "nan");
        assert_eq!(show_number(f64::INFINITY), "inf");
        assert_eq!(show_number(-1.0), "-1");
        assert_eq!(show_number(0.25), "0.25");
        assert_eq!(show_number(1e300), "1e+300");
        assert_eq!(show_number(1e-5), "1e-05");
    }
}
