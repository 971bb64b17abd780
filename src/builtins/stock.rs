//! Stock Lua, kept (SPEC §16): what `lua5.4` (Debian's `lua.c`) gives a script that an embedded Lua
//! state does not have by itself: `require`'s system search paths for Lua and C modules, the warning
//! system (`warn`, `@on`/`@off`, errors in finalizers), and the stock halves of `select` and `os.exit`
//! (plain C functions with stock argument checks; only a channel `select` and the run-ending part of
//! `os.exit` reach Rust).

use crate::runtime::lazy;
use mlua::ffi;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::io::Write;

/// Lua's version directory, as in `LUA_VDIR`.
const VDIR: &str = "5.4";

/// Debian's multiarch directory name for this target (`lib/<triplet>/lua/5.4/` holds its C modules).
fn multiarch_triplet() -> Option<&'static str> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    Some(match std::env::consts::ARCH {
        "x86_64" => "x86_64-linux-gnu",
        "x86" => "i386-linux-gnu",
        "aarch64" => "aarch64-linux-gnu",
        "arm" => "arm-linux-gnueabihf",
        "riscv64" => "riscv64-linux-gnu",
        "powerpc64" if cfg!(target_endian = "little") => "powerpc64le-linux-gnu",
        "s390x" => "s390x-linux-gnu",
        "loongarch64" => "loongarch64-linux-gnu",
        _ => return None,
    })
}

/// `package.path` as Debian's `lua5.4` has it when no environment variable says otherwise.
pub fn default_path() -> String {
    let mut dirs = vec![
        format!("/usr/local/share/lua/{VDIR}/"),
        format!("/usr/local/lib/lua/{VDIR}/"),
        format!("/usr/share/lua/{VDIR}/"),
    ];
    dirs.push("./".into());
    dirs.iter()
        .flat_map(|d| [format!("{d}?.lua"), format!("{d}?/init.lua")])
        .collect::<Vec<_>>()
        .join(";")
}

/// `package.cpath` as Debian's `lua5.4` has it when no environment variable says otherwise.
pub fn default_cpath() -> String {
    let mut parts = vec![format!("/usr/local/lib/lua/{VDIR}/?.so")];
    if let Some(triplet) = multiarch_triplet() {
        parts.push(format!("/usr/lib/{triplet}/lua/{VDIR}/?.so"));
    }
    parts.push(format!("/usr/lib/lua/{VDIR}/?.so"));
    parts.push(format!("/usr/local/lib/lua/{VDIR}/loadall.so"));
    parts.push("./?.so".into());
    parts.join(";")
}

/// What Lua's `setpath` makes of environment variable `var` (first `<var>_5_4`, then `<var>`) and
/// the default.
fn setpath(var: &str, default: &str) -> String {
    let value = std::env::var_os(format!("{var}_5_4")).or_else(|| std::env::var_os(var));
    expand_path(
        value.as_deref().map(|v| v.to_string_lossy()).as_deref(),
        default,
    )
}

/// The variable's value as it is, with its first `;;` replaced by the default; the default when the
/// variable is not set.
fn expand_path(value: Option<&str>, default: &str) -> String {
    let Some(value) = value else {
        return default.to_string();
    };
    let Some(mark) = value.find(";;") else {
        return value.to_string();
    };
    let mut out = String::new();
    if mark > 0 {
        out.push_str(&value[..mark]);
        out.push(';');
    }
    out.push_str(default);
    let suffix = &value[mark + 2..];
    if !suffix.is_empty() {
        out.push(';');
        out.push_str(suffix);
    }
    out
}

/// Sets `package.path` and `package.cpath` as Debian's `lua5.4` computes them (system folders of
/// pure-Lua and C modules, `LUA_PATH`/`LUA_CPATH` with `;;`), replacing what the embedded library
/// computed from Lua's upstream defaults, which lack the distribution's folders.
pub fn set_package_paths(package: &mlua::Table) -> mlua::Result<()> {
    package.set("path", setpath("LUA_PATH", &default_path()))?;
    package.set("cpath", setpath("LUA_CPATH", &default_cpath()))
}

/// Installs the warning function `lua.c` gets from `luaL_newstate`: warnings start off;
/// `warn("@on")` / `warn("@off")` switch them; each is written to stderr as `Lua warning: ...`.
/// Errors in `__gc` finalizers reach it as warnings, as in stock Lua.
pub fn install_warnings(lua: &mlua::Lua) {
    // Safety: `lua_setwarnf` only stores the function and its data in the global state; the data is
    // the state's main thread, which lives as long as the warning function can be called.
    unsafe {
        let state = lua.current_thread().state();
        ffi::lua_setwarnf(state, Some(warn_off), state as *mut c_void);
    }
}

/// Writes part of a warning to stderr, unbuffered (stdout first, so the two stay in order).
fn write_warning(part: &[u8]) {
    crate::runtime::output::flush();
    let _ = std::io::stderr().write_all(part);
}

/// Handles `@on`/`@off` (only at the start of a message); returns whether it was a control message.
unsafe fn check_control(ud: *mut c_void, msg: *const c_char, tocont: c_int) -> bool {
    if tocont != 0 || msg.is_null() || *msg != b'@' as c_char {
        return false;
    }
    let state = ud as *mut ffi::lua_State;
    match CStr::from_ptr(msg.add(1)).to_bytes() {
        b"off" => ffi::lua_setwarnf(state, Some(warn_off), ud),
        b"on" => ffi::lua_setwarnf(state, Some(warn_on), ud),
        _ => {}
    }
    true
}

unsafe extern "C-unwind" fn warn_off(ud: *mut c_void, msg: *const c_char, tocont: c_int) {
    check_control(ud, msg, tocont);
}

unsafe extern "C-unwind" fn warn_on(ud: *mut c_void, msg: *const c_char, tocont: c_int) {
    if check_control(ud, msg, tocont) {
        return;
    }
    write_warning(b"Lua warning: ");
    warn_cont(ud, msg, tocont);
}

unsafe extern "C-unwind" fn warn_cont(ud: *mut c_void, msg: *const c_char, tocont: c_int) {
    if !msg.is_null() {
        write_warning(CStr::from_ptr(msg).to_bytes());
    }
    let state = ud as *mut ffi::lua_State;
    if tocont != 0 {
        ffi::lua_setwarnf(state, Some(warn_cont), ud);
    } else {
        write_warning(b"\n");
        ffi::lua_setwarnf(state, Some(warn_on), ud);
    }
}

/// `select`: stock Lua's `luaB_select` when the first argument is a number, a string that converts
/// to one, a string starting with `#`, or anything that is neither a string nor a userdata (which
/// then fails with stock's message). A channel object or any other string (a channel's name) is a
/// wait on channels: the replacement made on first call (`chan::select_function`, through
/// `lazy::replacement`, whose upvalue this closure shares).
///
/// # Safety
/// A `lua_CFunction` closure with `lazy::replacement`'s upvalue; only Lua calls it.
pub unsafe extern "C-unwind" fn select(state: *mut ffi::lua_State) -> c_int {
    let n = ffi::lua_gettop(state);
    match ffi::lua_type(state, 1) {
        ffi::LUA_TSTRING => {
            let s = ffi::lua_tolstring(state, 1, std::ptr::null_mut());
            if *s == b'#' as c_char {
                ffi::lua_pushinteger(state, (n - 1) as ffi::lua_Integer);
                return 1;
            }
            if ffi::lua_isnumber(state, 1) == 0 {
                return lazy::replacement(state);
            }
        }
        ffi::LUA_TUSERDATA => return lazy::replacement(state),
        _ => {}
    }
    let n = n as ffi::lua_Integer;
    let mut i = ffi::luaL_checkinteger(state, 1);
    if i < 0 {
        i += n;
    } else if i > n {
        i = n;
    }
    if i < 1 {
        ffi::luaL_argerror(state, 1, c"index out of range".as_ptr());
    }
    (n - i) as c_int
}

/// `os.exit([code [, close]])`: stock `os_exit`'s argument rules and messages (`true` → 0,
/// `false` → 1, an integer or a string that converts to one, `close` any truthy value), then the
/// replacement made on first call (`go::exit_function`) ends the run with `(code, close)`.
///
/// # Safety
/// A `lua_CFunction` closure with `lazy::replacement`'s upvalue; only Lua calls it.
pub unsafe extern "C-unwind" fn os_exit(state: *mut ffi::lua_State) -> c_int {
    let code = if ffi::lua_type(state, 1) == ffi::LUA_TBOOLEAN {
        if ffi::lua_toboolean(state, 1) != 0 {
            0
        } else {
            1
        }
    } else {
        ffi::luaL_optinteger(state, 1, 0)
    };
    let close = ffi::lua_toboolean(state, 2) != 0;
    ffi::lua_settop(state, 0);
    ffi::lua_pushinteger(state, code);
    ffi::lua_pushboolean(state, close as c_int);
    lazy::replacement(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn double_semicolon_stands_for_the_default() {
        assert_eq!(expand_path(None, "D"), "D");
        assert_eq!(expand_path(Some("a;b"), "D"), "a;b");
        assert_eq!(expand_path(Some("a;;"), "D"), "a;D");
        assert_eq!(expand_path(Some(";;b"), "D"), "D;b");
        assert_eq!(expand_path(Some("a;;b;;c"), "D"), "a;D;b;;c");
        assert_eq!(expand_path(Some(";;"), "D"), "D");
    }

    #[test]
    fn defaults_match_debian_lua54() {
        // `lua5.4 -e 'print(package.path); print(package.cpath)'` on Debian 12 (x86_64).
        assert_eq!(
            default_path(),
            "/usr/local/share/lua/5.4/?.lua;/usr/local/share/lua/5.4/?/init.lua;\
             /usr/local/lib/lua/5.4/?.lua;/usr/local/lib/lua/5.4/?/init.lua;\
             /usr/share/lua/5.4/?.lua;/usr/share/lua/5.4/?/init.lua;./?.lua;./?/init.lua"
        );
        if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
            assert_eq!(
                default_cpath(),
                "/usr/local/lib/lua/5.4/?.so;/usr/lib/x86_64-linux-gnu/lua/5.4/?.so;\
                 /usr/lib/lua/5.4/?.so;/usr/local/lib/lua/5.4/loadall.so;./?.so"
            );
        }
    }
}
