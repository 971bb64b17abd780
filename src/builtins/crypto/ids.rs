//! `uuid` (the `uuid` crate: v4 random, v7 time-ordered) and `random` (the `rand` crate's
//! `ThreadRng`: ChaCha12 seeded and reseeded from the OS, a CSPRNG). Unlike the Go SolVM's,
//! `random.number()` is in [0, 1) and `random.int` stays in its range, without modulo bias.

use crate::builtins::catalog::{self, f, table};
use crate::runtime::args::{self, check_string};
use mlua::{Lua, MultiValue, Table, Value as LuaValue};
use rand::RngExt;

type Builtin = fn(&Lua, MultiValue) -> mlua::Result<MultiValue>;

/// Installs `uuid` and `random`.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    let globals = lua.globals();
    for (name, functions) in [("uuid", UUID), ("random", RANDOM)] {
        let t = lua.create_table()?;
        for (field, func) in functions {
            t.raw_set(*field, lua.create_function(*func)?)?;
        }
        globals.set(name, t)?;
    }
    Ok(())
}

const UUID: &[(&str, Builtin)] = &[
    ("v4", |lua, _| one(lua, uuid::Uuid::new_v4().to_string())),
    ("v7", |lua, _| one(lua, uuid::Uuid::now_v7().to_string())),
    ("v4_without_hyphens", |lua, _| {
        one(lua, uuid::Uuid::new_v4().simple().to_string())
    }),
    ("is_valid", is_valid),
];

const RANDOM: &[(&str, Builtin)] = &[
    ("number", |lua, _| one(lua, rand::rng().random::<f64>())),
    ("int", int),
    ("string", string),
    ("choice", choice),
    ("shuffle", shuffle),
];

/// Letters and digits: the Go SolVM's `random.string` alphabet.
const ALPHANUMERIC: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// Longest `random.string`.
const MAX_STRING: i64 = 64 << 20;

fn one(lua: &Lua, v: impl mlua::IntoLua) -> mlua::Result<MultiValue> {
    Ok(MultiValue::from_iter([v.into_lua(lua)?]))
}

/// `uuid.is_valid(s)`: hyphenated, simple, braced or `urn:uuid:` forms.
fn is_valid(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let ok = match a.front() {
        Some(LuaValue::String(s)) => uuid::Uuid::try_parse_ascii(&s.as_bytes()).is_ok(),
        _ => false,
    };
    one(lua, ok)
}

/// `random.int(min, max)`: uniform in [min, max], both included.
fn int(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let lo = args::check_integer(&a, 1, "int")?;
    let hi = args::check_integer(&a, 2, "int")?;
    if lo > hi {
        return Err(args::arg_error(2, "int", "max must not be less than min"));
    }
    one(lua, rand::rng().random_range(lo..=hi))
}

/// `random.string(len, [charset])`: `len` characters drawn from `charset` (UTF-8 characters; any
/// other string is taken byte by byte).
fn string(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let func = "string";
    let len = args::check_integer(&a, 1, func)?;
    if !(0..=MAX_STRING).contains(&len) {
        return Err(args::arg_error(
            1,
            func,
            &format!("length must be from 0 to {MAX_STRING}"),
        ));
    }
    let charset = match a.get(1) {
        None | Some(LuaValue::Nil) => ALPHANUMERIC.as_bytes().to_vec(),
        Some(_) => check_string(lua, &a, 2, func)?.as_bytes().to_vec(),
    };
    let symbols: Vec<&[u8]> = match std::str::from_utf8(&charset) {
        Ok(text) => text
            .char_indices()
            .map(|(i, c)| &charset[i..i + c.len_utf8()])
            .collect(),
        Err(_) => charset.chunks(1).collect(),
    };
    if symbols.is_empty() {
        return Err(args::arg_error(2, func, "charset must not be empty"));
    }
    let mut rng = rand::rng();
    let mut out = Vec::with_capacity(len as usize);
    for _ in 0..len {
        out.extend_from_slice(symbols[rng.random_range(0..symbols.len())]);
    }
    one(lua, lua.create_string(out)?)
}

fn table_arg(a: &MultiValue, func: &str) -> mlua::Result<Table> {
    match a.front() {
        Some(LuaValue::Table(t)) => Ok(t.clone()),
        other => Err(args::bad_argument(1, func, "table", other)),
    }
}

/// `random.choice(t)`: a uniformly chosen element of the array part `t[1..#t]`; nil when empty.
fn choice(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let t = table_arg(&a, "choice")?;
    let n = t.raw_len();
    if n == 0 {
        return one(lua, LuaValue::Nil);
    }
    let i = rand::rng().random_range(1..=n);
    one(lua, t.raw_get::<LuaValue>(i)?)
}

/// `random.shuffle(t)`: Fisher–Yates over `t[1..#t]`, in place; returns `t`.
fn shuffle(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let t = table_arg(&a, "shuffle")?;
    let mut rng = rand::rng();
    for i in (2..=t.raw_len()).rev() {
        let j = rng.random_range(1..=i);
        if i != j {
            let (x, y): (LuaValue, LuaValue) = (t.raw_get(i)?, t.raw_get(j)?);
            t.raw_set(i, y)?;
            t.raw_set(j, x)?;
        }
    }
    one(lua, t)
}

#[rustfmt::skip]
pub const CATALOG: &[catalog::Builtin] = &[
    table("uuid", "UUIDs."),
    f("uuid.v4", &[], &["string"], "A random (version 4) UUID, hyphenated."),
    f("uuid.v7", &[], &["string"], "A time-ordered (version 7) UUID: sorts by creation time."),
    f("uuid.v4_without_hyphens", &[], &["string"], "A version 4 UUID as 32 hex digits."),
    f("uuid.is_valid", &["s: string"], &["boolean"], "Whether `s` is a UUID (hyphenated, 32 hex digits, `{...}` or `urn:uuid:`)."),
    table("random", "Random values from a CSPRNG (ChaCha12, seeded from the OS)."),
    f("random.number", &[], &["number"], "A float in [0, 1)."),
    f("random.int", &["min: integer", "max: integer"], &["integer"], "An integer in [min, max], both included, without bias."),
    f("random.string", &["len: integer", "charset?: string"], &["string"], "`len` characters drawn from `charset` (default letters and digits)."),
    f("random.choice", &["t: any[]"], &["any"], "A random element of `t[1..#t]`, or nil when it is empty."),
    f("random.shuffle", &["t: any[]"], &["any[]"], "Shuffles `t[1..#t]` in place and returns `t`."),
];
