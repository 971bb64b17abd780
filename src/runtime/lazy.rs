//! Builtins and most stock libraries on first use. Making all ~60 builtin functions and every stock
//! library in each fresh state cost more than the rest of a goroutine's start (issue 3), and most
//! goroutines touch a handful. So a state starts with the stock library `base`, the stock functions
//! SolVM replaces (`print`, `select`, `os.exit`: each made on its first call), and a metatable on
//! `_G` whose `__index` installs a family the first time one of its names is read: a builtin family
//! (`builtins::FAMILIES`) or one of the stock libraries [`LIBS`] (`package.loaded` gets the same
//! metatable for those). Strings get a stand-in metatable until `string` is installed: the stock
//! arithmetic metamethods (string coercion), and an `__index` that installs `string` on a string's
//! first method call. Scripts see the same globals as if everything were there:
//! - assigning to a family's name installs it first, so the script's value replaces the builtin
//!   exactly as it would have replaced an installed one (`go = nil` removes `go`);
//! - `rawget(t, k)` and `rawset(t, k, v)` on `_G` or `package.loaded` install the family owning `k`
//!   first;
//! - `pairs`, `next`, `getmetatable` and `setmetatable` (and `debug.`'s) on either table install
//!   every family first and drop the metatables: both are then plain tables holding everything;
//! - `getmetatable` and `debug.getmetatable`/`debug.setmetatable` on a string install `string`
//!   first, so they see (and change) the real metatable of strings.
//!
//! The first state of a run learns which names each family adds by registering each aside once.

use super::{args, value, Shared};
use crate::builtins::{C_REPLACED, FAMILIES, MADE_ON_FIRST_CALL, REPLACED, REPLACED_FRONT};
use mlua::ffi;
use mlua::{Lua, StdLib, Table, Value as LuaValue};
use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::c_int;
use std::rc::Rc;
use std::sync::Arc;

/// Which family adds which globals, learned by the first state of a run.
pub struct Layout {
    by_name: HashMap<Box<[u8]>, usize, std::hash::BuildHasherDefault<value::NameHasher>>,
    /// Every global a fresh state has (stock and builtin): everything else is the script's.
    pub global_names: Arc<value::NameSet>,
    /// The stock metatable of strings, but `__index`: its C functions (the same in every state).
    string_meta: Vec<(std::ffi::CString, ffi::lua_CFunction)>,
}

/// Stock libraries opened on first use, and the globals each adds.
pub const LIBS: &[(&str, StdLib, &[&str])] = &[
    ("string", StdLib::STRING, &["string"]),
    ("io", StdLib::IO, &["io"]),
    ("math", StdLib::MATH, &["math"]),
    ("os", StdLib::OS, &["os"]),
    ("utf8", StdLib::UTF8, &["utf8"]),
    ("package", StdLib::PACKAGE, &["package", "require"]),
    ("debug", StdLib::DEBUG, &["debug"]),
    ("table", StdLib::TABLE, &["table"]),
    ("coroutine", StdLib::COROUTINE, &["coroutine"]),
];

/// The libraries every state opens when it is created.
pub fn eager_libs() -> StdLib {
    LIBS.iter().fold(StdLib::ALL, |all, (_, lib, _)| all ^ *lib)
}

// Families are numbered [`LIBS`] first, then `FAMILIES`; a bit each in `Globals::loaded`.
const FAMILY_COUNT: usize = LIBS.len() + FAMILIES.len();
const _: () = assert!(FAMILY_COUNT <= 64);
const ALL_FAMILIES: u64 = u64::MAX >> (64 - FAMILY_COUNT);

fn family_name(family: usize) -> &'static str {
    match family.checked_sub(LIBS.len()) {
        None => LIBS[family].0,
        Some(i) => FAMILIES[i].name,
    }
}

/// One state's globals: which families are in, and whether `_G` still has the loading metatable.
struct Globals {
    layout: Arc<Layout>,
    /// The state's `_G` (while a family is being installed, `lua.globals()` is a scratch table).
    globals: Table,
    loaded: Cell<u64>,
    lazy: Cell<bool>,
}

impl Globals {
    /// The family that adds global `name` (a library only, for `package.loaded`), if it is not in
    /// yet.
    fn pending(&self, name: &[u8], libs_only: bool) -> Option<usize> {
        if !self.lazy.get() {
            return None;
        }
        let &family = self.layout.by_name.get(name)?;
        if libs_only && family >= LIBS.len() {
            return None;
        }
        (self.loaded.get() & (1u64 << family) == 0).then_some(family)
    }
}

/// Registry key of this state's loader (see [`loader`]).
const LOADER_KEY: &std::ffi::CStr = c"solvm.lazy";
/// What the loader is asked to do.
const LOAD_FAMILY: i64 = 0;
const LOAD_ALL: i64 = 1;
const MAKE_REPLACEMENT: i64 = 2;
/// Install the family owning a key of `_G` (`package.loaded` with `LOAD_LIB_NAMED`).
const LOAD_NAMED: i64 = 3;
const LOAD_LIB_NAMED: i64 = 4;

/// Sets up a fresh state's builtins, each family to be installed on first use. The first state of
/// the run learns the run's [`Layout`] first.
pub fn install(lua: &Lua, rt: &Shared) -> mlua::Result<Arc<Layout>> {
    let globals = lua.globals();
    let layout = match rt.builtins.get() {
        Some(layout) => Arc::clone(layout),
        None => {
            let layout = learn(lua, &globals)?;
            Arc::clone(rt.builtins.get_or_init(|| layout))
        }
    };
    let state = Rc::new(Globals {
        layout: Arc::clone(&layout),
        globals: globals.clone(),
        loaded: Cell::new(0),
        lazy: Cell::new(true),
    });
    lua.set_app_data(state);
    let loader = lua.create_function(loader)?;
    // Safety: `install_raw` only uses the C API on `_G` and the loader (pushed by `exec_raw`), in
    // protected mode; `install_string_meta` pushes C functions of the stock library.
    unsafe {
        lua.exec_raw::<()>((globals, loader), |state| {
            install_raw(state);
            install_string_meta(state, &layout.string_meta);
        })
    }?;
    Ok(layout)
}

/// The stock metatable of strings but its `__index`, read from a bare scratch state (plain C API,
/// no mlua: ~15 µs) with `string` open.
fn stock_string_meta() -> mlua::Result<Vec<(std::ffi::CString, ffi::lua_CFunction)>> {
    let mut entries = Vec::new();
    // Safety: a state of our own, used only here through the C API and closed before returning.
    // Nothing here raises a Lua error but running out of memory, which ends the process anyway.
    unsafe {
        let scratch = ffi::luaL_newstate();
        if scratch.is_null() {
            return Err(mlua::Error::runtime("cannot create a Lua state"));
        }
        ffi::luaL_requiref(scratch, c"string".as_ptr(), ffi::luaopen_string, 0);
        ffi::lua_settop(scratch, 0);
        push_str(scratch, "");
        if ffi::lua_getmetatable(scratch, 1) != 0 {
            ffi::lua_pushnil(scratch);
            while ffi::lua_next(scratch, 2) != 0 {
                let f = ffi::lua_tocfunction(scratch, -1);
                ffi::lua_settop(scratch, -2);
                if ffi::lua_type(scratch, -1) != ffi::LUA_TSTRING {
                    continue;
                }
                let mut len = 0;
                let p = ffi::lua_tolstring(scratch, -1, &mut len);
                let name = std::slice::from_raw_parts(p as *const u8, len);
                if let (Some(f), false) = (f, name == b"__index") {
                    if let Ok(name) = std::ffi::CString::new(name) {
                        entries.push((name, f));
                    }
                }
            }
        }
        ffi::lua_close(scratch);
    }
    Ok(entries)
}

/// Gives strings their stand-in metatable: the stock arithmetic metamethods `meta` and an
/// `__index` that installs `string` first.
unsafe fn install_string_meta(
    state: *mut ffi::lua_State,
    meta: &[(std::ffi::CString, ffi::lua_CFunction)],
) {
    ffi::lua_createtable(state, 0, meta.len() as c_int + 1);
    for (name, f) in meta {
        ffi::lua_pushcfunction(state, *f);
        ffi::lua_setfield(state, -2, name.as_ptr());
    }
    ffi::lua_pushcfunction(state, string_index);
    ffi::lua_setfield(state, -2, c"__index".as_ptr());
    push_str(state, "");
    ffi::lua_rotate(state, -2, 1);
    ffi::lua_setmetatable(state, -2);
    ffi::lua_settop(state, -2);
}

/// Notes what each family adds: a library's globals are listed in [`LIBS`]; a builtin family is
/// registered aside (its globals are not kept).
fn learn(lua: &Lua, globals: &Table) -> mlua::Result<Arc<Layout>> {
    let mut names = value::global_names(lua)?;
    let mut by_name = HashMap::default();
    for family in 0..FAMILY_COUNT {
        let added = match LIBS.get(family) {
            Some((_, _, globals)) => globals.iter().map(|g| g.as_bytes().to_vec()).collect(),
            None => run_family(lua, globals, family, false)?,
        };
        for name in added {
            names.insert(name.clone());
            by_name.insert(name.into_boxed_slice(), family);
        }
    }
    Ok(Arc::new(Layout {
        by_name,
        global_names: Arc::new(names),
        string_meta: stock_string_meta()?,
    }))
}

/// A table of the functions of list `list` of `MADE_ON_FIRST_CALL`, each a placeholder until its
/// first call makes it (the methods of channel objects).
pub fn placeholder_table(lua: &Lua, list: usize) -> mlua::Result<Table> {
    let makers = MADE_ON_FIRST_CALL
        .get(list)
        .ok_or_else(|| mlua::Error::runtime("internal error: no such list of builtins"))?;
    // Safety: only the C API on a new table, in protected mode.
    unsafe {
        lua.exec_raw::<Table>((), |state| {
            ffi::lua_createtable(state, 0, makers.len() as c_int);
            for (item, (name, _)) in makers.iter().enumerate() {
                push_str(state, name);
                ffi::lua_pushinteger(state, ((list << 8) | item) as ffi::lua_Integer);
                ffi::lua_pushcclosure(state, replacement, 1);
                ffi::lua_rawset(state, -3);
            }
        })
    }
}

/// Installs builtin family `family_name` if it is not in yet (a WebSocket connection arriving from
/// another goroutine needs the server family's methods).
pub fn ensure(lua: &Lua, family_name: &str) -> mlua::Result<()> {
    match FAMILIES.iter().position(|f| f.name == family_name) {
        Some(family) => load_family(lua, LIBS.len() + family),
        None => Err(mlua::Error::runtime(format!(
            "internal error: no builtin family '{family_name}'"
        ))),
    }
}

/// Global `name` as a script reading it would get it (installing its family if needed), without
/// metamethods otherwise. Used to resolve builtins that arrive from another goroutine by name.
pub fn global(lua: &Lua, name: &str) -> mlua::Result<LuaValue> {
    let globals = lua.globals();
    let v: LuaValue = globals.raw_get(name)?;
    if !v.is_nil() {
        return Ok(v);
    }
    let Some(family) = state(lua).and_then(|g| g.pending(name.as_bytes(), false)) else {
        return Ok(v);
    };
    load_family(lua, family)?;
    globals.raw_get(name)
}

/// Installs every family not in yet; `_G` becomes a plain table.
pub fn load_all(lua: &Lua) -> mlua::Result<()> {
    for family in 0..FAMILY_COUNT {
        load_family(lua, family)?;
    }
    Ok(())
}

fn state(lua: &Lua) -> Option<Rc<Globals>> {
    lua.app_data_ref::<Rc<Globals>>().map(|g| Rc::clone(&g))
}

/// Installs family `family` in this state's `_G`, if it is not in yet.
fn load_family(lua: &Lua, family: usize) -> mlua::Result<()> {
    let Some(g) = state(lua) else {
        return Ok(());
    };
    let bit = 1u64 << family;
    if g.loaded.get() & bit != 0 {
        return Ok(());
    }
    // Marked first: installing a family must not start installing it again.
    g.loaded.set(g.loaded.get() | bit);
    if let Err(e) = run_family(lua, &g.globals, family, true) {
        g.loaded.set(g.loaded.get() & !bit);
        return Err(e);
    }
    // Builtins found by pointer (value transfer) must include the new ones.
    value::builtins_changed(lua);
    if g.loaded.get() == ALL_FAMILIES && g.lazy.get() {
        g.lazy.set(false);
        g.globals.set_metatable(None)?;
        lua.named_registry_value::<Table>("_LOADED")?
            .set_metatable(None)?;
    }
    Ok(())
}

/// Runs family `family`'s `register` (or opens the library) with a scratch table as the globals (so
/// a script's values are never overwritten, and the family's names are easy to find), then, when
/// `keep`, moves what it made into `globals`, each builtin function wrapped for Lua-style errors.
/// Returns the names it added.
fn run_family(lua: &Lua, globals: &Table, family: usize, keep: bool) -> mlua::Result<Vec<Vec<u8>>> {
    let scratch = lua.create_table()?;
    let meta = lua.create_table()?;
    // Reads of stock globals (`os`, `package`) still work while registering.
    meta.raw_set("__index", globals.clone())?;
    scratch.set_metatable(Some(meta))?;
    let lib = LIBS.get(family).map(|(_, lib, _)| *lib);
    {
        // `_G`, or the scratch table of a family being installed; put back however this ends.
        let _restore = RestoreGlobals(lua, lua.globals());
        lua.set_globals(scratch.clone())?;
        match lib {
            Some(lib) => lua.load_std_libs(lib)?,
            None => (FAMILIES[family - LIBS.len()].register)(lua)?,
        }
    }
    let mut entries = Vec::new();
    scratch.for_each(|k: LuaValue, v: LuaValue| {
        entries.push((k, v));
        Ok(())
    })?;
    let mut added = Vec::with_capacity(entries.len());
    if !keep {
        for (k, _) in entries {
            if let LuaValue::String(name) = &k {
                added.push(name.as_bytes().to_vec());
            }
        }
        return Ok(added);
    }
    for (k, v) in entries {
        let LuaValue::String(name) = &k else { continue };
        // Only the raw C API could have put a script's value here; it stays.
        if !globals.raw_get::<LuaValue>(&k)?.is_nil() {
            continue;
        }
        added.push(name.as_bytes().to_vec());
        let v = match lib {
            Some(_) => v,
            None => wrap_builtins(lua, family_name(family), v)?,
        };
        globals.raw_set(k, v)?;
    }
    if lib.is_some() {
        // The library's replaced functions (`os.exit`), and what builtins add to it.
        let name = family_name(family);
        // Safety: only the C API on `_G` (pushed), in protected mode.
        unsafe {
            lua.exec_raw::<()>(globals, |state| {
                let g = ffi::lua_absindex(state, -1);
                install_replacements(state, g, Some(name));
                // `debug.getmetatable` and `debug.setmetatable` see `_G` raw.
                if name == "debug" && ffi::lua_getmetatable(state, g) != 0 {
                    guard_debug(state, g, ffi::lua_absindex(state, -1));
                }
            })
        }?;
        if name == "coroutine" {
            super::coroutines::install(lua, globals)?;
        }
        crate::builtins::library_opened(lua, name)?;
    }
    Ok(added)
}

/// Sets the globals back to the table it holds when dropped.
struct RestoreGlobals<'a>(&'a Lua, Table);

impl Drop for RestoreGlobals<'_> {
    fn drop(&mut self) {
        // Only fails when the Lua stack cannot grow by one slot; nothing better to do then.
        let _ = self.0.set_globals(self.1.clone());
    }
}

/// A builtin function wrapped for Lua-style errors (`args::wrap_function`); a table of them (`store`)
/// with its functions wrapped; other values as they are.
fn wrap_builtins(lua: &Lua, family: &str, v: LuaValue) -> mlua::Result<LuaValue> {
    match v {
        LuaValue::Function(f) => Ok(LuaValue::Function(wrap_c_function(lua, family, f)?)),
        LuaValue::Table(t) => {
            let mut functions = Vec::new();
            t.for_each(|k: LuaValue, v: LuaValue| {
                if let LuaValue::Function(f) = v {
                    functions.push((k, f));
                }
                Ok(())
            })?;
            for (k, f) in functions {
                t.raw_set(k, wrap_c_function(lua, family, f)?)?;
            }
            Ok(LuaValue::Table(t))
        }
        other => Ok(other),
    }
}

fn wrap_c_function(lua: &Lua, family: &str, f: mlua::Function) -> mlua::Result<mlua::Function> {
    // A Lua function made while registering would keep the scratch table as its `_ENV`.
    if f.info().what != "C" {
        return Err(mlua::Error::runtime(format!(
            "internal error: builtin family '{family}' registered a Lua function"
        )));
    }
    args::wrap_function(lua, f)
}

/// The loader the C functions below call: installs a family (`LOAD_FAMILY, index`), every family
/// (`LOAD_ALL`), the family owning a name (`LOAD_NAMED, name`), or makes replacement `index` of
/// `REPLACED` (`MAKE_REPLACEMENT`).
fn loader(lua: &Lua, (op, arg): (i64, LuaValue)) -> mlua::Result<LuaValue> {
    if let (LOAD_NAMED | LOAD_LIB_NAMED, LuaValue::String(name)) = (op, &arg) {
        let family = state(lua).and_then(|g| g.pending(&name.as_bytes(), op == LOAD_LIB_NAMED));
        return match family {
            Some(family) => load_family(lua, family).map(|_| LuaValue::Nil),
            None => Ok(LuaValue::Nil),
        };
    }
    let index = match arg {
        LuaValue::Integer(i) => usize::try_from(i).unwrap_or(usize::MAX),
        _ => usize::MAX,
    };
    match op {
        LOAD_FAMILY if index < FAMILY_COUNT => load_family(lua, index).map(|_| LuaValue::Nil),
        LOAD_ALL => load_all(lua).map(|_| LuaValue::Nil),
        MAKE_REPLACEMENT => {
            let (list, item) = (index >> 8, index & 0xff);
            match MADE_ON_FIRST_CALL.get(list).and_then(|l| l.get(item)) {
                Some((_, make)) => make(lua).map(LuaValue::Function),
                None => Err(mlua::Error::runtime(
                    "internal error: bad builtin loader call",
                )),
            }
        }
        _ => Err(mlua::Error::runtime(
            "internal error: bad builtin loader call",
        )),
    }
}

/// Stores the loader in the registry, replaces the stock functions of `REPLACED` with placeholders,
/// guards the stock functions that see `_G` raw, and sets the loading metatable on `_G` and
/// `package.loaded`. The stack holds `_G` and the loader on top.
unsafe fn install_raw(state: *mut ffi::lua_State) {
    ffi::lua_setfield(state, ffi::LUA_REGISTRYINDEX, LOADER_KEY.as_ptr());
    let g = ffi::lua_absindex(state, -1);
    install_replacements(state, g, None);
    for (name, f) in C_REPLACED {
        ffi::lua_pushcfunction(state, *f);
        ffi::lua_setfield(state, g, name.as_ptr());
    }
    ffi::lua_createtable(state, 0, 3);
    let meta = ffi::lua_absindex(state, -1);
    ffi::lua_pushcfunction(state, index);
    ffi::lua_setfield(state, meta, c"__index".as_ptr());
    ffi::lua_pushcfunction(state, newindex);
    ffi::lua_setfield(state, meta, c"__newindex".as_ptr());
    push_str(state, "pairs");
    ffi::lua_rawget(state, g);
    ffi::lua_pushcclosure(state, pairs, 1);
    ffi::lua_setfield(state, meta, c"__pairs".as_ptr());
    for (name, key_only) in [
        ("rawget", true),
        ("rawset", true),
        ("next", false),
        ("getmetatable", false),
        ("setmetatable", false),
    ] {
        guard(state, g, name, key_only, meta);
    }
    guard_debug(state, g, meta);
    ffi::lua_settop(state, meta);
    ffi::lua_getfield(state, ffi::LUA_REGISTRYINDEX, ffi::LUA_LOADED_TABLE);
    ffi::lua_pushvalue(state, meta);
    ffi::lua_setmetatable(state, -2);
    ffi::lua_settop(state, meta);
    ffi::lua_setmetatable(state, g);
    ffi::lua_settop(state, g);
}

/// Guards `debug.getmetatable` and `debug.setmetatable` (stack index `meta`: the loading metatable),
/// if `debug` is open.
unsafe fn guard_debug(state: *mut ffi::lua_State, g: c_int, meta: c_int) {
    push_str(state, "debug");
    if ffi::lua_rawget(state, g) == ffi::LUA_TTABLE {
        let debug = ffi::lua_absindex(state, -1);
        guard(state, debug, "getmetatable", false, meta);
        guard(state, debug, "setmetatable", false, meta);
    }
    ffi::lua_settop(state, -2);
}

/// Puts the placeholders of `REPLACED` in place: those in `_G` (stack index `g`) or a table of it
/// when `table` is `None`, else only those in global table `table` (a library just opened).
unsafe fn install_replacements(state: *mut ffi::lua_State, g: c_int, only: Option<&str>) {
    for (slot, (path, _)) in REPLACED.iter().enumerate() {
        let (table, key) = match path.split_once('.') {
            Some((t, k)) => {
                if only.is_some_and(|o| o != t) {
                    continue;
                }
                push_str(state, t);
                if ffi::lua_rawget(state, g) != ffi::LUA_TTABLE {
                    ffi::lua_settop(state, g);
                    continue;
                }
                (ffi::lua_absindex(state, -1), k)
            }
            None if only.is_some() => continue,
            None => (g, *path),
        };
        push_str(state, key);
        // List 0 of `MADE_ON_FIRST_CALL`.
        ffi::lua_pushinteger(state, slot as ffi::lua_Integer);
        let f = REPLACED_FRONT
            .iter()
            .find(|(p, _)| p == path)
            .map_or(replacement as ffi::lua_CFunction, |(_, f)| *f);
        ffi::lua_pushcclosure(state, f, 1);
        ffi::lua_rawset(state, table);
        ffi::lua_settop(state, g);
    }
}

/// Replaces C function `table[name]` with a guard holding it (upvalue 1) and the loading metatable
/// (upvalue 2, from stack index `meta`).
unsafe fn guard(state: *mut ffi::lua_State, table: c_int, name: &str, key_only: bool, meta: c_int) {
    push_str(state, name);
    if ffi::lua_rawget(state, table) != ffi::LUA_TFUNCTION
        || ffi::lua_tocfunction(state, -1).is_none()
    {
        ffi::lua_settop(state, -2);
        return;
    }
    ffi::lua_pushvalue(state, meta);
    let f = if key_only { guard_key } else { guard_all };
    ffi::lua_pushcclosure(state, f, 2);
    push_str(state, name);
    ffi::lua_rotate(state, -2, 1);
    ffi::lua_rawset(state, table);
}

unsafe fn push_str(state: *mut ffi::lua_State, s: &str) {
    ffi::lua_pushlstring(state, s.as_ptr() as *const _, s.len());
}

/// Whether `pending` holds for the string at stack index `idx`, as a key of the table at index 1
/// (`_G`, or `package.loaded` for a library). Called from C functions: no Rust value with a
/// destructor outlives it.
unsafe fn pending_at(state: *mut ffi::lua_State, idx: c_int) -> Option<usize> {
    if ffi::lua_type(state, idx) != ffi::LUA_TSTRING {
        return None;
    }
    let libs_only = is_loaded_table(state, 1);
    let mut len = 0;
    let p = ffi::lua_tolstring(state, idx, &mut len);
    let name = std::slice::from_raw_parts(p as *const u8, len);
    let lua = Lua::get_or_init_from_ptr(state);
    let g = lua.try_app_data_ref::<Rc<Globals>>().ok().flatten()?;
    g.pending(name, libs_only)
}

/// Whether stack index `idx` holds this state's `package.loaded` (the registry's).
unsafe fn is_loaded_table(state: *mut ffi::lua_State, idx: c_int) -> bool {
    ffi::lua_getfield(state, ffi::LUA_REGISTRYINDEX, ffi::LUA_LOADED_TABLE);
    let same = ffi::lua_rawequal(state, idx, -1) != 0;
    ffi::lua_settop(state, -2);
    same
}

/// Whether the table at stack index 1 has the loading metatable (upvalue 2 of a guard): it is `_G`
/// or `package.loaded` of a state whose families are not all in.
unsafe fn has_loading_metatable(state: *mut ffi::lua_State) -> bool {
    if ffi::lua_getmetatable(state, 1) == 0 {
        return false;
    }
    let same = ffi::lua_rawequal(state, -1, ffi::lua_upvalueindex(2)) != 0;
    ffi::lua_settop(state, -2);
    same
}

/// Pushes this state's [`loader`].
unsafe fn push_loader(state: *mut ffi::lua_State) {
    ffi::lua_getfield(state, ffi::LUA_REGISTRYINDEX, LOADER_KEY.as_ptr());
}

/// Calls this state's [`loader`] with `(op, index)`, leaving `nresults` results. Errors propagate as
/// Lua errors (no Rust value with a destructor is alive in the callers at that point).
unsafe fn call_loader(state: *mut ffi::lua_State, op: i64, index: i64, nresults: c_int) {
    push_loader(state);
    ffi::lua_pushinteger(state, op);
    ffi::lua_pushinteger(state, index);
    ffi::lua_call(state, 2, nresults);
}

/// Calls this state's [`loader`] with `(LOAD_NAMED, key)` for the key at stack index `idx` of the
/// table at index 1.
unsafe fn load_named(state: *mut ffi::lua_State, idx: c_int) {
    let op = if is_loaded_table(state, 1) {
        LOAD_LIB_NAMED
    } else {
        LOAD_NAMED
    };
    push_loader(state);
    ffi::lua_pushinteger(state, op);
    ffi::lua_pushvalue(state, idx);
    ffi::lua_call(state, 2, 0);
}

/// Calls the stock C function in upvalue 1 on this call's arguments, as if it had been called.
unsafe fn call_stock(state: *mut ffi::lua_State) -> c_int {
    match ffi::lua_tocfunction(state, ffi::lua_upvalueindex(1)) {
        Some(f) => f(state),
        None => 0,
    }
}

/// `__index(t, k)` of `_G` and `package.loaded`: installs the family owning `k`, then reads `k` raw.
unsafe extern "C-unwind" fn index(state: *mut ffi::lua_State) -> c_int {
    if let Some(family) = pending_at(state, 2) {
        call_loader(state, LOAD_FAMILY, family as i64, 0);
    }
    ffi::lua_settop(state, 2);
    ffi::lua_rawget(state, 1);
    1
}

/// `__newindex(t, k, v)` of `_G` and `package.loaded`: installs the family owning `k` (so `v`
/// replaces it), then sets `k` raw.
unsafe extern "C-unwind" fn newindex(state: *mut ffi::lua_State) -> c_int {
    if let Some(family) = pending_at(state, 2) {
        call_loader(state, LOAD_FAMILY, family as i64, 0);
    }
    ffi::lua_settop(state, 3);
    ffi::lua_rawset(state, 1);
    0
}

/// `__pairs(t)` of `_G` and `package.loaded`: installs every family (which drops the metatables),
/// then stock `pairs` (upvalue 1).
unsafe extern "C-unwind" fn pairs(state: *mut ffi::lua_State) -> c_int {
    call_loader(state, LOAD_ALL, 0, 0);
    call_stock(state)
}

/// `rawget`/`rawset` on `_G` or `package.loaded`: installs the family owning the key first.
unsafe extern "C-unwind" fn guard_key(state: *mut ffi::lua_State) -> c_int {
    if has_loading_metatable(state) && ffi::lua_type(state, 2) == ffi::LUA_TSTRING {
        load_named(state, 2);
    }
    call_stock(state)
}

/// `next`, `getmetatable`, `setmetatable` on `_G` or `package.loaded`: installs every family first;
/// on a string (`getmetatable`, `debug.setmetatable`), installs `string` first.
unsafe extern "C-unwind" fn guard_all(state: *mut ffi::lua_State) -> c_int {
    if ffi::lua_type(state, 1) == ffi::LUA_TSTRING {
        load_string(state);
    } else if has_loading_metatable(state) {
        call_loader(state, LOAD_ALL, 0, 0);
    }
    call_stock(state)
}

/// Installs the `string` library if it is not in yet (its metatable replaces the stand-in).
unsafe fn load_string(state: *mut ffi::lua_State) {
    push_loader(state);
    ffi::lua_pushinteger(state, LOAD_NAMED);
    push_str(state, "string");
    ffi::lua_call(state, 2, 0);
}

/// `__index(s, k)` of the stand-in metatable of strings: installs `string`, whose metatable then
/// answers.
unsafe extern "C-unwind" fn string_index(state: *mut ffi::lua_State) -> c_int {
    load_string(state);
    ffi::lua_settop(state, 2);
    ffi::lua_gettable(state, 1);
    1
}

/// A function of `MADE_ON_FIRST_CALL` (upvalue 1: list << 8 | index) until its first call makes it;
/// from then on upvalue 1 is that function, called with Lua-style errors.
///
/// # Safety
/// A `lua_CFunction` closure with that upvalue (see `builtins::REPLACED_FRONT`); only Lua calls it.
pub(crate) unsafe extern "C-unwind" fn replacement(state: *mut ffi::lua_State) -> c_int {
    if ffi::lua_type(state, ffi::lua_upvalueindex(1)) == ffi::LUA_TNUMBER {
        let slot = ffi::lua_tointeger(state, ffi::lua_upvalueindex(1));
        call_loader(state, MAKE_REPLACEMENT, slot, 1);
        ffi::lua_copy(state, -1, ffi::lua_upvalueindex(1));
        ffi::lua_settop(state, -2);
    }
    args::lua_style_errors(state)
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::runtime::state::GoState;
    use crate::runtime::Shared;
    use mlua::Value;

    /// The first state of a run (which learns what each family adds) and a later one.
    fn states() -> (std::sync::Arc<Shared>, GoState, GoState) {
        let rt = Shared::new(Config::default(), ".".into());
        let first = GoState::new(&rt, rt.next_goroutine_id()).expect("first state");
        let lazy = GoState::new(&rt, rt.next_goroutine_id()).expect("lazy state");
        (rt, first, lazy)
    }

    fn sorted_globals(lua: &mlua::Lua) -> Vec<(String, String)> {
        let mut all = Vec::new();
        lua.globals()
            .for_each(|k: Value, v: Value| {
                if let Value::String(k) = k {
                    all.push((k.to_string_lossy(), v.type_name().to_string()));
                }
                Ok(())
            })
            .expect("globals");
        all.sort();
        all
    }

    #[test]
    fn states_end_up_with_the_same_globals() {
        let (rt, first, lazy) = states();
        for s in [&first, &lazy] {
            assert!(s.lua.globals().metatable().is_some());
            super::load_all(&s.lua).expect("load all");
            assert!(s.lua.globals().metatable().is_none());
        }
        assert_eq!(sorted_globals(&first.lua), sorted_globals(&lazy.lua));
        let names: Vec<String> = sorted_globals(&lazy.lua)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        for name in [
            "print",
            "json_encode",
            "store",
            "io",
            "math",
            "utf8",
            "go",
            "create_server",
        ] {
            assert!(names.iter().any(|n| n == name), "{name} missing");
        }
        for s in [&first, &lazy] {
            crate::runtime::goroutine::unregister(&rt, s.ctx.gid);
        }
    }

    #[test]
    fn reading_a_builtin_installs_only_its_family() {
        let (rt, _first, lazy) = states();
        let lua = &lazy.lua;
        assert!(lua
            .globals()
            .raw_get::<Value>("json_encode")
            .unwrap()
            .is_nil());
        let s: String = lua.load("return json_encode({1})").eval().unwrap();
        assert_eq!(s, "[1]");
        assert!(lua
            .globals()
            .raw_get::<Value>("json_decode")
            .unwrap()
            .is_function());
        assert!(lua
            .globals()
            .raw_get::<Value>("read_file")
            .unwrap()
            .is_nil());
        let _ = rt;
    }
}
