//! `text`: string helpers on plain strings, never patterns (SPEC §14). Lengths and padding count
//! UTF-8 characters; bytes that are not UTF-8 count one each and pass through unchanged. The
//! sibling modules are the `tablex` and `types` families.

pub mod tablex;
pub mod types;

use super::catalog::{self, f};
use super::support::{self, check_integer, check_table, opt_bytes, opt_integer};
use crate::runtime::args::{arg_error, check_string};
use mlua::{Lua, MultiValue, Value as LuaValue};

/// The text family's catalog rows.
pub const CATALOG: &[catalog::Builtin] = &[
    catalog::table(
        "text",
        "String helpers on plain text (never patterns), UTF-8 aware.",
    ),
    f(
        "text.trim",
        &["s: string", "chars?: string"],
        &["string"],
        "Removes leading and trailing white space (or any of the characters of `chars`).",
    ),
    f(
        "text.lower",
        &["s: string"],
        &["string"],
        "Lower case (Unicode).",
    ),
    f(
        "text.upper",
        &["s: string"],
        &["string"],
        "Upper case (Unicode).",
    ),
    f(
        "text.title",
        &["s: string"],
        &["string"],
        "Upper-cases the first letter of each word.",
    ),
    f(
        "text.split",
        &["s: string", "sep: string", "n?: integer"],
        &["string[]"],
        "Splits at each plain `sep` (at most `n` pieces); `\"\"` splits into characters.",
    ),
    f(
        "text.join",
        &["list: (string|number)[]", "sep?: string"],
        &["string"],
        "Joins the array's items with `sep`.",
    ),
    f(
        "text.replace",
        &["s: string", "old: string", "new: string", "n?: integer"],
        &["string"],
        "Replaces every (or the first `n`) plain occurrence of `old`.",
    ),
    f(
        "text.contains",
        &["s: string", "sub: string"],
        &["boolean"],
        "Whether `sub` occurs in `s`.",
    ),
    f(
        "text.starts_with",
        &["s: string", "prefix: string"],
        &["boolean"],
        "Whether `s` starts with `prefix`.",
    ),
    f(
        "text.ends_with",
        &["s: string", "suffix: string"],
        &["boolean"],
        "Whether `s` ends with `suffix`.",
    ),
    f(
        "text.pad_left",
        &["s: string", "width: integer", "pad?: string"],
        &["string"],
        "Pads on the left with `pad` (default a space) to `width` characters.",
    ),
    f(
        "text.pad_right",
        &["s: string", "width: integer", "pad?: string"],
        &["string"],
        "Pads on the right with `pad` (default a space) to `width` characters.",
    ),
    f(
        "text.repeat",
        &["s: string", "n: integer", "sep?: string"],
        &["string"],
        "`s` repeated `n` times, separated by `sep`.",
    ),
    f(
        "text.repeat_str",
        &["s: string", "n: integer", "sep?: string"],
        &["string"],
        "Same as `text.repeat`.",
    ),
    f(
        "text.len",
        &["s: string"],
        &["integer"],
        "Length in UTF-8 characters.",
    ),
];

type TextFn = fn(&Lua, MultiValue) -> mlua::Result<MultiValue>;

const FUNCTIONS: &[(&str, TextFn)] = &[
    ("trim", trim),
    ("lower", lower),
    ("upper", upper),
    ("title", title),
    ("split", split),
    ("join", join),
    ("replace", replace),
    ("contains", contains),
    ("starts_with", starts_with),
    ("ends_with", ends_with),
    ("pad_left", pad_left),
    ("pad_right", pad_right),
    ("repeat", repeat),
    ("repeat_str", repeat),
    ("len", len),
];

/// Installs the `text` table.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    let t = lua.create_table_with_capacity(0, FUNCTIONS.len())?;
    for &(name, func) in FUNCTIONS {
        t.raw_set(name, lua.create_function(func)?)?;
    }
    lua.globals().set("text", t)
}

fn bytes(lua: &Lua, args: &MultiValue, pos: usize, func: &str) -> mlua::Result<Vec<u8>> {
    Ok(check_string(lua, args, pos, func)?.as_bytes().to_vec())
}

fn one(v: LuaValue) -> mlua::Result<MultiValue> {
    Ok(support::multi([v]))
}

/// The characters of `s`: each UTF-8 sequence, or one byte that is not UTF-8.
fn chars(s: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    for chunk in s.utf8_chunks() {
        let valid = chunk.valid();
        let mut start = 0;
        for (i, _) in valid.char_indices().skip(1) {
            out.push(&valid.as_bytes()[start..i]);
            start = i;
        }
        if start < valid.len() {
            out.push(&valid.as_bytes()[start..]);
        }
        for b in chunk.invalid().chunks(1) {
            out.push(b);
        }
    }
    out
}

fn char_count(s: &[u8]) -> usize {
    s.utf8_chunks()
        .map(|c| c.valid().chars().count() + c.invalid().len())
        .sum()
}

/// Maps each valid UTF-8 character of `s` through `map`; other bytes stay as they are.
fn map_chars(s: &[u8], mut map: impl FnMut(char, &mut String)) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for chunk in s.utf8_chunks() {
        let mut piece = String::with_capacity(chunk.valid().len());
        for c in chunk.valid().chars() {
            map(c, &mut piece);
        }
        out.extend_from_slice(piece.as_bytes());
        out.extend_from_slice(chunk.invalid());
    }
    out
}

fn trim(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let s = bytes(lua, &args, 1, "trim")?;
    let set = opt_bytes(lua, &args, 2, "trim")?;
    let cs = chars(&s);
    let strip = |c: &[u8]| match &set {
        None => std::str::from_utf8(c).is_ok_and(|c| c.chars().all(char::is_whitespace)),
        Some(set) => chars(set).contains(&c),
    };
    let start = cs.iter().position(|c| !strip(c)).unwrap_or(cs.len());
    let end = cs.iter().rposition(|c| !strip(c)).map_or(start, |i| i + 1);
    one(support::string(lua, cs[start..end].concat())?)
}

fn lower(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let s = bytes(lua, &args, 1, "lower")?;
    one(support::string(
        lua,
        map_chars(&s, |c, out| out.extend(c.to_lowercase())),
    )?)
}

fn upper(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let s = bytes(lua, &args, 1, "upper")?;
    one(support::string(
        lua,
        map_chars(&s, |c, out| out.extend(c.to_uppercase())),
    )?)
}

/// Go's `strings.Title`: the first letter of each word upper-cased, the rest left alone.
fn title(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let s = bytes(lua, &args, 1, "title")?;
    let mut after_separator = true;
    let out = map_chars(&s, |c, out| {
        if after_separator && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        after_separator = !(c.is_alphanumeric() || c == '_' || c == '\'');
    });
    one(support::string(lua, out)?)
}

fn split(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let s = bytes(lua, &args, 1, "split")?;
    let sep = bytes(lua, &args, 2, "split")?;
    let n = opt_integer(&args, 3, "split", -1)?;
    if n == 0 {
        return one(LuaValue::Table(lua.create_table()?));
    }
    let limit = if n < 0 { usize::MAX } else { n as usize };
    let mut pieces: Vec<&[u8]> = Vec::new();
    if sep.is_empty() {
        let cs = chars(&s);
        for (i, c) in cs.iter().enumerate() {
            if pieces.len() + 1 == limit {
                pieces.push(&s[cs[..i].iter().map(|c| c.len()).sum::<usize>()..]);
                break;
            }
            pieces.push(c);
        }
    } else {
        let mut rest: &[u8] = &s;
        while pieces.len() + 1 < limit {
            match find(rest, &sep) {
                Some(i) => {
                    pieces.push(&rest[..i]);
                    rest = &rest[i + sep.len()..];
                }
                None => break,
            }
        }
        pieces.push(rest);
    }
    let t = lua.create_table_with_capacity(pieces.len(), 0)?;
    for p in pieces {
        t.raw_push(lua.create_string(p)?)?;
    }
    one(LuaValue::Table(t))
}

/// Where `needle` first occurs in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn join(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let list = check_table(&args, 1, "join")?;
    let sep = opt_bytes(lua, &args, 2, "join")?.unwrap_or_default();
    let mut out = Vec::new();
    let n = list.raw_len();
    for i in 1..=n {
        let item: LuaValue = list.raw_get(i)?;
        let piece = match &item {
            LuaValue::String(s) => s.as_bytes().to_vec(),
            LuaValue::Integer(_) | LuaValue::Number(_) => {
                crate::runtime::args::display_string(lua, &item)?
                    .as_bytes()
                    .to_vec()
            }
            other => {
                return Err(mlua::Error::runtime(format!(
                    "invalid value (at index {i}) in table for 'join' ({} given)",
                    crate::runtime::args::type_name(other)
                )))
            }
        };
        if i > 1 {
            support::append(&mut out, &sep, "join")?;
        }
        support::append(&mut out, &piece, "join")?;
    }
    one(support::string(lua, out)?)
}

/// Go's `strings.Replace`: an empty `old` matches before each character and at the end.
fn replace(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let s = bytes(lua, &args, 1, "replace")?;
    let old = bytes(lua, &args, 2, "replace")?;
    let new = bytes(lua, &args, 3, "replace")?;
    let n = opt_integer(&args, 4, "replace", -1)?;
    let mut left = if n < 0 { usize::MAX } else { n as usize };
    let mut out = Vec::new();
    if old.is_empty() {
        for c in chars(&s) {
            if left > 0 {
                support::append(&mut out, &new, "replace")?;
                left -= 1;
            }
            support::append(&mut out, c, "replace")?;
        }
        if left > 0 {
            support::append(&mut out, &new, "replace")?;
        }
    } else {
        let mut rest: &[u8] = &s;
        while left > 0 {
            let Some(i) = find(rest, &old) else { break };
            support::append(&mut out, &rest[..i], "replace")?;
            support::append(&mut out, &new, "replace")?;
            rest = &rest[i + old.len()..];
            left -= 1;
        }
        support::append(&mut out, rest, "replace")?;
    }
    one(support::string(lua, out)?)
}

fn contains(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let s = bytes(lua, &args, 1, "contains")?;
    let sub = bytes(lua, &args, 2, "contains")?;
    one(LuaValue::Boolean(find(&s, &sub).is_some()))
}

fn starts_with(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let s = bytes(lua, &args, 1, "starts_with")?;
    let p = bytes(lua, &args, 2, "starts_with")?;
    one(LuaValue::Boolean(s.starts_with(&p)))
}

fn ends_with(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let s = bytes(lua, &args, 1, "ends_with")?;
    let p = bytes(lua, &args, 2, "ends_with")?;
    one(LuaValue::Boolean(s.ends_with(&p)))
}

fn pad_left(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    pad(lua, args, "pad_left", true)
}

fn pad_right(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    pad(lua, args, "pad_right", false)
}

/// Pads to `width` characters, repeating the characters of `pad` (cut where the width is reached).
fn pad(lua: &Lua, args: MultiValue, func: &str, left: bool) -> mlua::Result<MultiValue> {
    let s = bytes(lua, &args, 1, func)?;
    let width = check_integer(&args, 2, func)?;
    let pad = opt_bytes(lua, &args, 3, func)?.unwrap_or_else(|| b" ".to_vec());
    if pad.is_empty() {
        return Err(arg_error(3, func, "padding must not be empty"));
    }
    let have = char_count(&s);
    let missing = usize::try_from(width).unwrap_or(0).saturating_sub(have);
    if missing == 0 {
        return one(support::string(lua, s)?);
    }
    let pad_chars = chars(&pad);
    let longest = pad_chars.iter().map(|c| c.len()).max().unwrap_or(1);
    let mut fill = support::buffer(missing.saturating_mul(longest), func)?;
    for c in pad_chars.iter().cycle().take(missing) {
        fill.extend_from_slice(c);
    }
    let mut out = support::buffer(fill.len().saturating_add(s.len()), func)?;
    if left {
        out.extend_from_slice(&fill);
        out.extend_from_slice(&s);
    } else {
        out.extend_from_slice(&s);
        out.extend_from_slice(&fill);
    }
    one(support::string(lua, out)?)
}

fn repeat(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let s = bytes(lua, &args, 1, "repeat")?;
    let n = check_integer(&args, 2, "repeat")?;
    let sep = opt_bytes(lua, &args, 3, "repeat")?.unwrap_or_default();
    let n = usize::try_from(n).unwrap_or(0);
    if n == 0 || (s.is_empty() && sep.is_empty()) {
        return one(support::string(lua, "")?);
    }
    let size = s
        .len()
        .checked_mul(n)
        .and_then(|a| sep.len().checked_mul(n - 1).and_then(|b| a.checked_add(b)))
        .unwrap_or(usize::MAX);
    let mut out = support::buffer(size, "repeat")?;
    for i in 0..n {
        if i > 0 {
            out.extend_from_slice(&sep);
        }
        out.extend_from_slice(&s);
    }
    one(support::string(lua, out)?)
}

fn len(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let s = bytes(lua, &args, 1, "len")?;
    one(LuaValue::Integer(char_count(&s) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_keep_bytes_that_are_not_utf8() {
        assert_eq!(chars("hé".as_bytes()), vec![&b"h"[..], "é".as_bytes()]);
        assert_eq!(chars(b"a\xffb"), vec![&b"a"[..], &b"\xff"[..], &b"b"[..]]);
        assert_eq!(char_count("日本語".as_bytes()), 3);
        assert_eq!(char_count(b"\xff\xfe"), 2);
    }

    #[test]
    fn find_is_plain() {
        assert_eq!(find(b"a.b.c", b"."), Some(1));
        assert_eq!(find(b"abc", b"%a"), None);
        assert_eq!(find(b"", b"x"), None);
    }
}
