//! Data formats and URLs (SPEC §13): `toml`, `yaml`, `jsonc`, `csv`, `ini`, `dotenv`, `url`. Each
//! format is a crate (`toml`, `yaml_serde`, `jsonc-parser`, `csv`, `rust-ini`, `dotenvy`, `url`);
//! values cross into Lua through `serde_lua`, the same mapping `json_encode`/`json_decode` use.
//! Decoders return `value` or `nil, err` with line and column; encoders raise.

mod csv;
mod data;
mod ini;
mod url;

use crate::builtins::catalog::{self, f, table};
use crate::runtime::args;
use mlua::{Lua, MultiValue};

/// A builtin of this family: gets the call's arguments.
type Builtin = fn(&Lua, MultiValue) -> mlua::Result<MultiValue>;

/// Installs `toml`, `yaml`, `jsonc`, `csv`, `ini`, `dotenv` and `url`.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    let globals = lua.globals();
    for (name, functions) in [
        ("toml", data::TOML),
        ("yaml", data::YAML),
        ("jsonc", data::JSONC),
        ("csv", csv::FUNCTIONS),
        ("ini", ini::INI),
        ("dotenv", ini::DOTENV),
        ("url", url::FUNCTIONS),
    ] {
        let t = lua.create_table()?;
        for (field, func) in functions {
            t.raw_set(*field, lua.create_function(*func)?)?;
        }
        globals.set(name, t)?;
    }
    Ok(())
}

fn one(lua: &Lua, v: impl mlua::IntoLua) -> mlua::Result<MultiValue> {
    Ok(MultiValue::from_iter([v.into_lua(lua)?]))
}

/// `nil, "func: why"`.
fn refuse(lua: &Lua, func: &str, why: impl std::fmt::Display) -> mlua::Result<MultiValue> {
    args::nil_err(lua, format!("{func}: {why}"))
}

/// 1-based line and column of byte `offset` in `text` (columns count characters).
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

/// Argument `pos` as text that must be UTF-8 (every format here is text).
fn text_arg(
    lua: &Lua,
    a: &MultiValue,
    pos: usize,
    func: &str,
) -> mlua::Result<Result<String, String>> {
    let s = args::check_string(lua, a, pos, func)?;
    Ok(match s.to_str() {
        Ok(text) => Ok(text.to_string()),
        Err(_) => {
            let bytes = s.as_bytes();
            let valid = std::str::from_utf8(&bytes)
                .err()
                .map_or(0, |e| e.valid_up_to());
            let head = String::from_utf8_lossy(&bytes[..valid]).into_owned();
            let (line, column) = line_column(&head, head.len());
            Err(format!("invalid UTF-8 at line {line}, column {column}"))
        }
    })
}

/// A path argument, as the bytes of a Unix path.
fn path_arg(lua: &Lua, a: &MultiValue, pos: usize, func: &str) -> mlua::Result<Vec<u8>> {
    Ok(args::check_string(lua, a, pos, func)?.as_bytes().to_vec())
}

/// A file's text: the I/O error as `fs` words it, or `func: the file is not UTF-8 text`.
fn read_text(path: &[u8], func: &str) -> Result<String, String> {
    let data = crate::builtins::fs::read_file(path)?;
    String::from_utf8(data).map_err(|_| format!("{func}: the file is not UTF-8 text"))
}

/// `true`, or `nil, err` (what the `write` functions return).
fn written(lua: &Lua, result: Result<(), String>) -> mlua::Result<MultiValue> {
    match result {
        Ok(()) => one(lua, true),
        Err(e) => args::nil_err(lua, e),
    }
}

#[rustfmt::skip]
pub const CATALOG: &[catalog::Builtin] = &[
    table("toml", "TOML documents (integers, floats, arrays, datetimes as text)."),
    f("toml.encode", &["t: table"], &["string"], "A TOML document of `t` (keys sorted); raises on null, functions, cycles, mixed keys."),
    f("toml.decode", &["s: string"], &["table?", "string? err"], "The document as a table, or `nil, err` with line and column."),
    table("yaml", "YAML documents (YAML 1.2 core schema)."),
    f("yaml.encode", &["v: any"], &["string"], "YAML text of `v` (keys sorted; `json_null` is `null`)."),
    f("yaml.decode", &["s: string"], &["any", "string? err"], "The value of a one-document YAML text, or `nil, err` with line and column."),
    table("jsonc", "JSON with comments."),
    f("jsonc.encode", &["v: any"], &["string"], "Pretty JSON (2-space indent): `json_encode(v, {indent = 2})`."),
    f("jsonc.decode", &["s: string"], &["any", "string? err"], "Decodes JSON that may have `//` and `/* */` comments and trailing commas; `nil, err` with line and column."),
    table("csv", "CSV (RFC 4180)."),
    f("csv.parse", &["s: string", "opts?: {header?: boolean, delimiter?: string}"], &["table?", "string? err"], "Rows: arrays of strings, or tables keyed by column with `header`; `nil, err` with the line."),
    f("csv.stringify", &["rows: table", "opts?: {header?: boolean, delimiter?: string, columns?: string[]}"], &["string"], "CSV text of `rows` (quoted where needed); with `header`, a header line from `columns` (default: every key, sorted)."),
    f("csv.read", &["path: string", "opts?: {header?: boolean, delimiter?: string}"], &["table?", "string? err"], "`csv.parse` of a file."),
    f("csv.write", &["path: string", "rows: table", "opts?: {header?: boolean, delimiter?: string, columns?: string[]}"], &["true?", "string? err"], "Writes `csv.stringify(rows, opts)` to a file, atomically."),
    table("ini", "INI files: `{section = {key = value}}`, keys before any section under `\"\"`."),
    f("ini.parse", &["s: string"], &["table?", "string? err"], "The sections of INI text (`;`/`#` comments, quotes stripped), or `nil, err` with line and column."),
    f("ini.stringify", &["t: table"], &["string"], "INI text of `t`: sections and keys sorted, the `\"\"` section first."),
    f("ini.read", &["path: string"], &["table?", "string? err"], "`ini.parse` of a file."),
    f("ini.write", &["path: string", "t: table"], &["true?", "string? err"], "Writes `ini.stringify(t)` to a file, atomically."),
    table("dotenv", "`.env` files and the process environment."),
    f("dotenv.parse", &["s: string"], &["table?", "string? err"], "The `KEY=value` pairs of dotenv text (quotes, `export`, comments, `${VAR}`)."),
    f("dotenv.load", &["path?: string"], &["true?", "string? err"], "Sets each variable of a dotenv file (default `.env`) in the process environment, overriding."),
    f("dotenv.get", &["key: string", "default?: string"], &["string?"], "An environment variable, or `default` (nil) when unset."),
    f("dotenv.set", &["key: string", "value: string"], &["true"], "Sets an environment variable of this process."),
    table("url", "URLs: percent-encoding, parsing, building, query strings."),
    f("url.encode", &["s: string"], &["string"], "Percent-encodes every byte but `A-Z a-z 0-9 - . _ ~` (space as `%20`)."),
    f("url.decode", &["s: string"], &["string"], "Decodes `%XX` escapes (`+` stays `+`)."),
    f("url.parse", &["u: string"], &["{scheme: string, user?: string, password?: string, host?: string, port?: integer, path: string, query?: string, fragment?: string}?", "string? err"], "The parts of an absolute URL (port: explicit or the scheme's default), or `nil, err`."),
    f("url.build", &["parts: table"], &["string"], "A URL from parts as `url.parse` returns them; `query` may be a table."),
    f("url.query_encode", &["t: table"], &["string"], "`a=1&b=x%20y`: keys sorted, an array value repeats its key."),
    f("url.query_decode", &["s: string"], &["table"], "The pairs of a query string (`+` is a space); a repeated key gives an array."),
];
