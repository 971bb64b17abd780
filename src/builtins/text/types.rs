//! `types`: type predicates (SPEC §14; `is_callable` checks `__call`, unlike the Go SolVM), and the
//! readable text of a value that `tablex.pretty` prints.

use crate::builtins::catalog::{self, f};
use crate::builtins::support::multi;
use mlua::{Lua, MultiValue, Table, Value as LuaValue};

/// The types family's catalog rows.
pub const CATALOG: &[catalog::Builtin] = &[
    catalog::table("types", "Type predicates."),
    f(
        "types.is_integer",
        &["v: any"],
        &["boolean"],
        "A number with an integral value (`3` and `3.0`).",
    ),
    f("types.is_number", &["v: any"], &["boolean"], "A number."),
    f(
        "types.is_string",
        &["v: any"],
        &["boolean"],
        "A string (numbers are not).",
    ),
    f("types.is_table", &["v: any"], &["boolean"], "A table."),
    f(
        "types.is_function",
        &["v: any"],
        &["boolean"],
        "A function.",
    ),
    f(
        "types.is_boolean",
        &["v: any"],
        &["boolean"],
        "`true` or `false`.",
    ),
    f(
        "types.is_nil",
        &["v: any"],
        &["boolean"],
        "`nil` (or no value).",
    ),
    f(
        "types.is_callable",
        &["v: any"],
        &["boolean"],
        "A function, or a table or userdata whose metatable has `__call`.",
    ),
    f(
        "types.type",
        &["v: any"],
        &["string"],
        "`type(v)`, but the metatable's `__name` for tables and userdata that have one.",
    ),
];

type Predicate = fn(&LuaValue) -> bool;

const PREDICATES: &[(&str, Predicate)] = &[
    ("is_integer", |v| match v {
        LuaValue::Integer(_) => true,
        LuaValue::Number(n) => n.is_finite() && n.fract() == 0.0,
        _ => false,
    }),
    ("is_number", |v| {
        matches!(v, LuaValue::Integer(_) | LuaValue::Number(_))
    }),
    ("is_string", |v| matches!(v, LuaValue::String(_))),
    ("is_table", |v| matches!(v, LuaValue::Table(_))),
    ("is_function", |v| matches!(v, LuaValue::Function(_))),
    ("is_boolean", |v| matches!(v, LuaValue::Boolean(_))),
    ("is_nil", |v| v.is_nil()),
    ("is_callable", is_callable),
];

/// Installs the `types` table.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    let t = lua.create_table_with_capacity(0, PREDICATES.len() + 1)?;
    for &(name, test) in PREDICATES {
        t.raw_set(
            name,
            lua.create_function(move |_, args: MultiValue| {
                Ok(test(args.front().unwrap_or(&LuaValue::Nil)))
            })?,
        )?;
    }
    t.raw_set(
        "type",
        lua.create_function(|lua, args: MultiValue| {
            let v = args.front().cloned().unwrap_or(LuaValue::Nil);
            let name = match meta_name(&v) {
                Some(n) => n,
                None => crate::runtime::args::type_name(&v).to_string(),
            };
            Ok(multi([LuaValue::String(lua.create_string(name)?)]))
        })?,
    )?;
    lua.globals().set("types", t)
}

fn metatable(v: &LuaValue) -> Option<Table> {
    match v {
        LuaValue::Table(t) => t.metatable(),
        _ => None,
    }
}

fn meta_field(v: &LuaValue, field: &str) -> LuaValue {
    match v {
        LuaValue::UserData(ud) => ud
            .metatable()
            .and_then(|m| m.get::<LuaValue>(field))
            .unwrap_or(LuaValue::Nil),
        _ => metatable(v)
            .and_then(|m| m.raw_get::<LuaValue>(field).ok())
            .unwrap_or(LuaValue::Nil),
    }
}

fn meta_name(v: &LuaValue) -> Option<String> {
    match meta_field(v, "__name") {
        LuaValue::String(s) => Some(s.to_string_lossy()),
        _ => None,
    }
}

/// A function, or a value whose `__call` is (a chain of at most a few) callable.
fn is_callable(v: &LuaValue) -> bool {
    let mut v = v.clone();
    for _ in 0..8 {
        match v {
            LuaValue::Function(_) => return true,
            LuaValue::Table(_) | LuaValue::UserData(_) => v = meta_field(&v, "__call"),
            _ => return false,
        }
    }
    false
}

/// Nesting beyond which `pretty` prints `{...}`.
const MAX_PRETTY_DEPTH: usize = 64;

/// `tablex.pretty`'s text: the array part first, then the other keys sorted (numbers, strings,
/// then the rest by type); `indent` 0 puts everything on one line; a table met again inside itself
/// prints `<cycle>`.
pub fn pretty_text(lua: &Lua, v: &LuaValue, indent: usize) -> mlua::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut path = Vec::new();
    write_value(lua, v, indent, 0, &mut path, &mut out)?;
    Ok(out)
}

fn write_value(
    lua: &Lua,
    v: &LuaValue,
    indent: usize,
    depth: usize,
    path: &mut Vec<usize>,
    out: &mut Vec<u8>,
) -> mlua::Result<()> {
    match v {
        LuaValue::String(s) => quote(&s.as_bytes(), out),
        LuaValue::Nil | LuaValue::Boolean(_) | LuaValue::Integer(_) | LuaValue::Number(_) => {
            out.extend_from_slice(&crate::runtime::args::display_string(lua, v)?.as_bytes())
        }
        LuaValue::Table(t) => write_table(lua, t, indent, depth, path, out)?,
        other => {
            out.push(b'<');
            out.extend_from_slice(
                meta_name(other)
                    .as_deref()
                    .unwrap_or(crate::runtime::args::type_name(other))
                    .as_bytes(),
            );
            out.push(b'>');
        }
    }
    Ok(())
}

fn write_table(
    lua: &Lua,
    t: &Table,
    indent: usize,
    depth: usize,
    path: &mut Vec<usize>,
    out: &mut Vec<u8>,
) -> mlua::Result<()> {
    let id = t.to_pointer() as usize;
    if path.contains(&id) {
        out.extend_from_slice(b"<cycle>");
        return Ok(());
    }
    if depth >= MAX_PRETTY_DEPTH {
        out.extend_from_slice(b"{...}");
        return Ok(());
    }
    let n = t.raw_len() as i64;
    let mut rest: Vec<(LuaValue, LuaValue)> = Vec::new();
    t.for_each(|k: LuaValue, v: LuaValue| {
        if !matches!(k, LuaValue::Integer(i) if (1..=n).contains(&i)) {
            rest.push((k, v));
        }
        Ok(())
    })?;
    if n == 0 && rest.is_empty() {
        out.extend_from_slice(b"{}");
        return Ok(());
    }
    rest.sort_by(|(a, _), (b, _)| key_order(a, b));
    path.push(id);
    out.push(b'{');
    let mut first = true;
    let mut item_start = |out: &mut Vec<u8>| {
        if !first {
            out.push(b',');
        }
        first = false;
        if indent == 0 {
            if out.last() != Some(&b'{') {
                out.push(b' ');
            }
        } else {
            out.push(b'\n');
            out.extend(std::iter::repeat_n(b' ', indent * (depth + 1)));
        }
    };
    for i in 1..=n {
        item_start(out);
        write_value(lua, &t.raw_get(i)?, indent, depth + 1, path, out)?;
    }
    for (k, v) in &rest {
        item_start(out);
        match k {
            LuaValue::String(s) if is_identifier(&s.as_bytes()) => {
                out.extend_from_slice(&s.as_bytes())
            }
            other => {
                out.push(b'[');
                write_value(lua, other, indent, depth + 1, path, out)?;
                out.push(b']');
            }
        }
        out.extend_from_slice(b" = ");
        write_value(lua, v, indent, depth + 1, path, out)?;
    }
    if indent > 0 {
        out.push(b'\n');
        out.extend(std::iter::repeat_n(b' ', indent * depth));
    }
    out.push(b'}');
    path.pop();
    Ok(())
}

fn key_rank(k: &LuaValue) -> u8 {
    match k {
        LuaValue::Integer(_) | LuaValue::Number(_) => 0,
        LuaValue::String(_) => 1,
        LuaValue::Boolean(_) => 2,
        _ => 3,
    }
}

fn key_order(a: &LuaValue, b: &LuaValue) -> std::cmp::Ordering {
    let num = |v: &LuaValue| match v {
        LuaValue::Integer(i) => *i as f64,
        LuaValue::Number(n) => *n,
        _ => 0.0,
    };
    key_rank(a).cmp(&key_rank(b)).then_with(|| match (a, b) {
        (LuaValue::String(x), LuaValue::String(y)) => x.as_bytes().cmp(&y.as_bytes()),
        (LuaValue::Boolean(x), LuaValue::Boolean(y)) => x.cmp(y),
        _ if key_rank(a) == 0 => num(a).total_cmp(&num(b)),
        _ => std::cmp::Ordering::Equal,
    })
}

fn is_identifier(s: &[u8]) -> bool {
    const KEYWORDS: &[&[u8]] = &[
        b"and",
        b"break",
        b"do",
        b"else",
        b"elseif",
        b"end",
        b"false",
        b"for",
        b"function",
        b"goto",
        b"if",
        b"in",
        b"local",
        b"nil",
        b"not",
        b"or",
        b"repeat",
        b"return",
        b"then",
        b"true",
        b"until",
        b"while",
    ];
    !s.is_empty()
        && !s[0].is_ascii_digit()
        && s.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        && !KEYWORDS.contains(&s)
}

/// A string literal Lua reads back: `"`, `\` and control bytes escaped; other bytes as they are.
fn quote(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            c if c < 0x20 || c == 0x7f => out.extend_from_slice(format!("\\{c:03}").as_bytes()),
            c => out.push(c),
        }
    }
    out.push(b'"');
}
