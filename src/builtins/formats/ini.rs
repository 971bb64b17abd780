//! `ini` (the `rust-ini` crate) and `dotenv` (the `dotenvy` crate: quotes, `export`, comments and
//! `${VAR}` substitution as the dotenv convention has them). An INI file is `{section = {key =
//! value}}`, keys before any section under `""`; every value is a string.

use super::{line_column, one, path_arg, read_text, refuse, text_arg, written, Builtin};
use crate::builtins::fs;
use crate::runtime::args::{self, check_string, type_name};
use ini::{EscapePolicy, Ini, LineSeparator, ParseOption, WriteOption};
use mlua::{Lua, MultiValue, Table, Value as LuaValue};

pub(super) const INI: &[(&str, Builtin)] = &[
    ("parse", ini_parse),
    ("stringify", ini_stringify),
    ("read", ini_read),
    ("write", ini_write),
];

pub(super) const DOTENV: &[(&str, Builtin)] = &[
    ("parse", dotenv_parse),
    ("load", dotenv_load),
    ("get", dotenv_get),
    ("set", dotenv_set),
];

/// `"quoted values"` lose their quotes; a backslash is an ordinary character (Windows paths).
const PARSE: ParseOption = ParseOption {
    enabled_quote: true,
    enabled_escape: false,
    enabled_indented_mutiline_value: false,
    enabled_preserve_key_leading_whitespace: false,
};

/// INI text as `{section = {key = value}}`.
fn ini_table(lua: &Lua, text: &str) -> mlua::Result<Result<Table, String>> {
    let parsed = match Ini::load_from_str_opt(text, PARSE) {
        Ok(p) => p,
        Err(e) => return Ok(Err(format!("line {}, column {}: {}", e.line, e.col, e.msg))),
    };
    let out = lua.create_table()?;
    for (section, props) in parsed.iter() {
        let name = section.unwrap_or("");
        let t = match out.raw_get::<LuaValue>(name)? {
            LuaValue::Table(t) => t,
            _ => {
                let t = lua.create_table()?;
                out.raw_set(name, &t)?;
                t
            }
        };
        // A repeated key keeps its last value, as in most INI readers.
        for (k, v) in props.iter() {
            t.raw_set(k, v)?;
        }
    }
    Ok(Ok(out))
}

fn ini_parse(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let func = "ini.parse";
    let text = match text_arg(lua, &a, 1, func)? {
        Ok(t) => t,
        Err(why) => return refuse(lua, func, why),
    };
    match ini_table(lua, &text)? {
        Ok(t) => one(lua, t),
        Err(why) => refuse(lua, func, why),
    }
}

fn ini_read(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let path = path_arg(lua, &a, 1, "ini.read")?;
    let func = format!("ini.read {}", String::from_utf8_lossy(&path));
    let text = match read_text(&path, &func) {
        Ok(t) => t,
        Err(e) => return args::nil_err(lua, e),
    };
    match ini_table(lua, &text)? {
        Ok(t) => one(lua, t),
        Err(why) => refuse(lua, &func, why),
    }
}

/// A key or value as INI text: strings, numbers (as `tostring` shows them) and booleans.
fn scalar(lua: &Lua, v: &LuaValue) -> Option<String> {
    match v {
        LuaValue::String(s) => Some(s.to_string_lossy()),
        LuaValue::Integer(_) | LuaValue::Number(_) => lua
            .coerce_string(v.clone())
            .ok()
            .flatten()
            .map(|s| s.to_string_lossy()),
        LuaValue::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The table as INI text: sections and keys sorted, the `""` section (and keys whose value is not
/// a table) first, without a header. Raises on anything deeper.
fn render(lua: &Lua, t: &Table, func: &str) -> mlua::Result<String> {
    let mut general: Vec<(String, String)> = Vec::new();
    let mut sections: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let bad = |what: String| mlua::Error::runtime(format!("{func}: {what}"));
    for pair in t.pairs::<LuaValue, LuaValue>() {
        let (k, v) = pair?;
        let key = scalar(lua, &k).ok_or_else(|| bad(format!("a {} key", type_name(&k))))?;
        match v {
            LuaValue::Table(section) => {
                let mut entries = Vec::new();
                for pair in section.pairs::<LuaValue, LuaValue>() {
                    let (sk, sv) = pair?;
                    let (Some(sk), Some(sv)) = (scalar(lua, &sk), scalar(lua, &sv)) else {
                        return Err(bad(format!(
                            "section [{key}] holds a {} under a {} key (only strings, numbers and booleans fit)",
                            type_name(&sv),
                            type_name(&sk)
                        )));
                    };
                    entries.push((sk, sv));
                }
                entries.sort();
                if key.is_empty() {
                    general.extend(entries);
                } else {
                    sections.push((key, entries));
                }
            }
            other => match scalar(lua, &other) {
                Some(v) => general.push((key, v)),
                None => {
                    return Err(bad(format!(
                        "cannot write a {} under {key}",
                        type_name(&other)
                    )))
                }
            },
        }
    }
    general.sort();
    sections.sort();
    let mut doc = Ini::new();
    for (k, v) in general {
        doc.with_general_section().set(k, v);
    }
    for (name, entries) in sections {
        let mut setter = doc.with_section(Some(name));
        for (k, v) in entries {
            setter.set(k, v);
        }
    }
    let mut out = Vec::new();
    let options = WriteOption {
        escape_policy: EscapePolicy::Nothing,
        line_separator: LineSeparator::CR,
        kv_separator: " = ",
    };
    doc.write_to_opt(&mut out, options)
        .map_err(|e| bad(e.to_string()))?;
    String::from_utf8(out).map_err(|e| bad(e.to_string()))
}

fn table_arg(a: &MultiValue, pos: usize, func: &str) -> mlua::Result<Table> {
    match a.get(pos - 1) {
        Some(LuaValue::Table(t)) => Ok(t.clone()),
        other => Err(args::bad_argument(pos, func, "table", other)),
    }
}

fn ini_stringify(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let t = table_arg(&a, 1, "ini.stringify")?;
    one(lua, render(lua, &t, "ini.stringify")?)
}

fn ini_write(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let path = path_arg(lua, &a, 1, "ini.write")?;
    let t = table_arg(&a, 2, "ini.write")?;
    let text = render(lua, &t, "ini.write")?;
    written(lua, fs::write_file(&path, text.as_bytes()))
}

/// The `KEY=value` pairs of dotenv text, in order.
fn dotenv_pairs(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    for item in dotenvy::from_read_iter(text.as_bytes()) {
        match item {
            Ok(pair) => pairs.push(pair),
            Err(dotenvy::Error::LineParse(line, index)) => {
                // dotenvy names the offending text (a value may span lines), not where it is.
                let start = text.find(line.as_str()).unwrap_or(0);
                let (number, column) = line_column(text, start + index);
                let shown = line.lines().next().unwrap_or_default();
                return Err(format!(
                    "line {number}, column {column}: cannot parse `{shown}`"
                ));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(pairs)
}

fn dotenv_parse(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let func = "dotenv.parse";
    let text = match text_arg(lua, &a, 1, func)? {
        Ok(t) => t,
        Err(why) => return refuse(lua, func, why),
    };
    match dotenv_pairs(&text) {
        Ok(pairs) => {
            let t = lua.create_table()?;
            for (k, v) in pairs {
                t.raw_set(k, v)?;
            }
            one(lua, t)
        }
        Err(why) => refuse(lua, func, why),
    }
}

/// `dotenv.load([path = ".env"])`: sets each variable in the process environment (overriding, as
/// the Go SolVM does) → `true` | `nil, err`.
fn dotenv_load(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let func = "dotenv.load";
    let path = match a.front() {
        None | Some(LuaValue::Nil) => b".env".to_vec(),
        Some(_) => path_arg(lua, &a, 1, func)?,
    };
    let name = format!("{func} {}", String::from_utf8_lossy(&path));
    let text = match read_text(&path, &name) {
        Ok(t) => t,
        Err(e) => return args::nil_err(lua, e),
    };
    match dotenv_pairs(&text) {
        Ok(pairs) => {
            for (k, v) in pairs {
                set_env(&k, &v).map_err(|why| mlua::Error::runtime(format!("{name}: {why}")))?;
            }
            one(lua, true)
        }
        Err(why) => refuse(lua, &name, why),
    }
}

/// Sets an environment variable after checking what `setenv` would choke on.
fn set_env(key: &str, value: &str) -> Result<(), String> {
    if key.is_empty() || key.contains(['=', '\0']) {
        return Err(format!("invalid variable name {key:?}"));
    }
    if value.contains('\0') {
        return Err(format!("the value of {key} contains a NUL byte"));
    }
    std::env::set_var(key, value);
    Ok(())
}

/// `dotenv.get(key, [default])`: the variable, or `default` (nil) when it is unset.
fn dotenv_get(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let key = check_string(lua, &a, 1, "dotenv.get")?.to_string_lossy();
    match std::env::var_os(&key) {
        Some(v) => one(lua, lua.create_string(v.as_encoded_bytes())?),
        None => one(lua, a.get(1).cloned().unwrap_or(LuaValue::Nil)),
    }
}

/// `dotenv.set(key, value)` → `true`; raises on a name or value the environment cannot hold.
fn dotenv_set(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let func = "dotenv.set";
    let key = check_string(lua, &a, 1, func)?.to_string_lossy();
    let value = check_string(lua, &a, 2, func)?.to_string_lossy();
    set_env(&key, &value).map_err(|why| args::arg_error(1, func, &why))?;
    one(lua, true)
}
