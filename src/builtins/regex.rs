//! `regex` (SPEC §14): the Rust `regex` crate on Lua strings as bytes. Its engines run in time
//! linear in the input whatever the pattern (no backtracking), so no pattern can hang the process.
//! Positions are 1-based byte offsets like `string.find`; iteration follows Lua 5.4's rule for
//! empty matches (none right where the previous match ended). Compiled patterns are kept in a
//! bounded per-run cache shared by all goroutines; a `Regex` object crosses goroutines by reference.

use super::catalog::{self, f, m};
use super::support::{self, check_integer, method_table, multi, opt_integer, this, Method};
use crate::runtime::args::{self, arg_error, bad_argument, check_string};
use crate::runtime::value::{self, SharedHandle};
use crate::runtime::FamilyState;
use mlua::{Lua, MultiValue, UserData, Value as LuaValue};
use parking_lot::Mutex;
use regex::bytes::{Captures, Regex, RegexBuilder};
use std::collections::HashMap;

/// The regex family's catalog rows.
pub const CATALOG: &[catalog::Builtin] = &[
    catalog::table("regex", "Regular expressions (Rust `regex` syntax, linear time)."),
    f("regex.new", &["pattern: string", "flags?: string"], &["Regex"], "Compiles a pattern; flags `i` (case), `m` (multi-line), `s` (`.` matches `\\n`), `x` (verbose)."),
    f("regex.is_match", &["s: string", "pattern: string"], &["boolean"], "Whether `pattern` matches somewhere in `s`."),
    f("regex.find", &["s: string", "pattern: string", "init?: integer"], &["integer?", "integer?"], "Start and end (1-based) of the first match."),
    f("regex.match", &["s: string", "pattern: string", "init?: integer"], &["string?", "..."], "The captures of the first match (the whole match without groups)."),
    f("regex.gsub", &["s: string", "pattern: string", "repl: string|table|function", "n?: integer"], &["string", "integer"], "Replaces matches like `string.gsub` (`$1`, `${name}` in a string)."),
    f("regex.split", &["s: string", "pattern: string", "n?: integer"], &["string[]"], "Splits at each match (into at most `n` pieces)."),
    f("regex.escape", &["s: string"], &["string"], "`s` with every special character escaped."),
    m("Regex:is_match", &["s: string", "init?: integer"], &["boolean"], "Whether the pattern matches."),
    m("Regex:find", &["s: string", "init?: integer"], &["integer?", "integer?"], "Start and end (1-based) of the first match."),
    m("Regex:match", &["s: string", "init?: integer"], &["string?", "..."], "Captures of the first match, like `string.match`; unmatched groups are `false`."),
    m("Regex:captures", &["s: string", "init?: integer"], &["table?"], "`{[0]=whole, [1]=..., name=...}` of the first match."),
    m("Regex:gmatch", &["s: string"], &["fun(): string?, ..."], "Iterator over the matches' captures."),
    m("Regex:gsub", &["s: string", "repl: string|table|function", "n?: integer"], &["string", "integer"], "Replaces matches like `string.gsub`."),
    m("Regex:split", &["s: string", "n?: integer"], &["string[]"], "Splits at each match."),
];

/// The regex family's classes.
pub const CLASSES: &[catalog::Class] = &[catalog::Class {
    name: "Regex",
    doc: "A compiled regular expression; crosses goroutines.",
    fields: &[("pattern", "string", "The pattern it was made from.")],
}];

/// The methods of a `Regex` (also read by the catalog's test).
pub const METHODS: &[(&str, Method)] = &[
    ("is_match", re_is_match),
    ("find", re_find),
    ("match", re_match),
    ("captures", re_captures),
    ("gmatch", re_gmatch),
    ("gsub", re_gsub),
    ("split", re_split),
];

/// How many compiled patterns a run keeps.
const CACHE_SIZE: usize = 256;

/// A pattern and its flags.
type CacheKey = (Vec<u8>, String);

/// The run's compiled patterns by (pattern, flags), least recently used dropped first.
#[derive(Default)]
struct Cache {
    entries: Mutex<CacheEntries>,
}

/// A use counter and, by pattern, the compiled pattern with the count at its last use.
#[derive(Default)]
struct CacheEntries {
    clock: u64,
    map: HashMap<CacheKey, (Regex, u64)>,
}

impl FamilyState for Cache {}

/// A compiled pattern as a Lua value; crosses goroutines by reference.
#[derive(Clone)]
pub struct LuaRegex {
    re: Regex,
}

impl SharedHandle for LuaRegex {
    fn kind(&self) -> &'static str {
        "regex"
    }
    fn push(&self, lua: &Lua) -> mlua::Result<LuaValue> {
        value::register_handle_type::<LuaRegex>(lua);
        Ok(LuaValue::UserData(lua.create_userdata(self.clone())?))
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl UserData for LuaRegex {
    fn add_methods<M: mlua::UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_function(
            mlua::MetaMethod::Index,
            |lua, (ud, key): (mlua::AnyUserData, LuaValue)| {
                if let LuaValue::String(k) = &key {
                    if k.as_bytes().as_ref() == b"pattern" {
                        let re = ud.borrow::<LuaRegex>()?;
                        return support::string(lua, re.re.as_str());
                    }
                }
                method_table(lua, "Regex", METHODS)?.raw_get::<LuaValue>(key)
            },
        );
        m.add_meta_method(mlua::MetaMethod::ToString, |_, this, ()| {
            Ok(format!("regex: {}", this.re.as_str()))
        });
    }
    fn add_fields<F: mlua::UserDataFields<Self>>(fields: &mut F) {
        fields.add_meta_field("__name", "Regex");
    }
}

/// Installs the `regex` table.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    value::register_handle_type::<LuaRegex>(lua);
    let t = lua.create_table()?;
    t.raw_set("new", lua.create_function(new)?)?;
    type ModFn = fn(&Lua, MultiValue) -> mlua::Result<MultiValue>;
    const SHORTCUTS: &[(&str, ModFn)] = &[
        ("is_match", re_is_match),
        ("find", re_find),
        ("match", re_match),
        ("gsub", re_gsub),
        ("split", re_split),
    ];
    for &(name, method) in SHORTCUTS {
        // `regex.find(s, pattern, ...)` is `regex.new(pattern):find(s, ...)` through the cache.
        t.raw_set(
            name,
            lua.create_function(move |lua, mut args: MultiValue| {
                let s = check_string(lua, &args, 1, name)?;
                let pattern = check_string(lua, &args, 2, name)?;
                let re = compiled(lua, &pattern.as_bytes(), "", name)?;
                args.pop_front();
                args.pop_front();
                args.push_front(LuaValue::String(s));
                args.push_front(LuaValue::UserData(lua.create_userdata(re)?));
                method(lua, args)
            })?,
        )?;
    }
    t.raw_set(
        "escape",
        lua.create_function(|lua, args: MultiValue| {
            let s = check_string(lua, &args, 1, "escape")?;
            let s = s.as_bytes();
            let mut out = Vec::with_capacity(s.len());
            for &b in s.iter() {
                if regex_syntax::is_meta_character(b as char) && b.is_ascii() {
                    out.push(b'\\');
                }
                out.push(b);
            }
            support::string(lua, out)
        })?,
    )?;
    lua.globals().set("regex", t)
}

fn new(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let pattern = check_string(lua, &args, 1, "new")?;
    let flags = support::opt_bytes(lua, &args, 2, "new")?.unwrap_or_default();
    let flags = String::from_utf8_lossy(&flags).into_owned();
    if let Some(bad) = flags.chars().find(|c| !"imsx".contains(*c)) {
        return Err(arg_error(
            2,
            "new",
            &format!("unknown flag '{bad}' (flags are i, m, s, x)"),
        ));
    }
    let re = compiled(lua, &pattern.as_bytes(), &flags, "regex.new")?;
    Ok(multi([LuaValue::UserData(lua.create_userdata(re)?)]))
}

/// The compiled pattern from the run's cache, compiling it on a miss.
fn compiled(lua: &Lua, pattern: &[u8], flags: &str, func: &str) -> mlua::Result<LuaRegex> {
    let cache = crate::runtime::ctx(lua).rt.family_state::<Cache>();
    let key = (pattern.to_vec(), flags.to_string());
    {
        let mut guard = cache.entries.lock();
        let CacheEntries { clock, map } = &mut *guard;
        *clock += 1;
        if let Some((re, used)) = map.get_mut(&key) {
            *used = *clock;
            return Ok(LuaRegex { re: re.clone() });
        }
    }
    let re = compile(pattern, flags).map_err(|e| mlua::Error::runtime(format!("{func}: {e}")))?;
    let mut guard = cache.entries.lock();
    let CacheEntries { clock, map } = &mut *guard;
    if map.len() >= CACHE_SIZE {
        if let Some(oldest) = map
            .iter()
            .min_by_key(|(_, (_, used))| *used)
            .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
    }
    map.insert(key, (re.clone(), *clock));
    Ok(LuaRegex { re })
}

/// Compiles `pattern` with `flags`; a bad pattern is described with its position.
pub fn compile(pattern: &[u8], flags: &str) -> Result<Regex, String> {
    let text = std::str::from_utf8(pattern).map_err(|e| {
        format!(
            "the pattern is not valid UTF-8 (at byte {})",
            e.valid_up_to() + 1
        )
    })?;
    let mut b = RegexBuilder::new(text);
    b.case_insensitive(flags.contains('i'))
        .multi_line(flags.contains('m'))
        .dot_matches_new_line(flags.contains('s'))
        .ignore_whitespace(flags.contains('x'));
    b.build().map_err(|e| describe_error(text, flags, &e))
}

/// `unclosed group at position 1 in pattern '(a'`: the parser's own words and where it stopped.
fn describe_error(pattern: &str, flags: &str, err: &regex::Error) -> String {
    let parsed = regex_syntax::ParserBuilder::new()
        .case_insensitive(flags.contains('i'))
        .multi_line(flags.contains('m'))
        .dot_matches_new_line(flags.contains('s'))
        .ignore_whitespace(flags.contains('x'))
        .utf8(false)
        .build()
        .parse(pattern);
    let (kind, offset) = match &parsed {
        Err(regex_syntax::Error::Parse(e)) => (e.kind().to_string(), e.span().start.offset),
        Err(regex_syntax::Error::Translate(e)) => (e.kind().to_string(), e.span().start.offset),
        _ => {
            return match err {
                regex::Error::CompiledTooBig(limit) => {
                    format!("the pattern is too big once compiled (over {limit} bytes)")
                }
                other => format!("invalid pattern: {other}"),
            }
        }
    };
    let column = pattern.get(..offset).map_or(offset, |p| p.chars().count()) + 1;
    format!("{kind} at position {column} in pattern '{pattern}'")
}

/// `self` and the subject string of a method call.
fn subject(lua: &Lua, args: &MultiValue, name: &str) -> mlua::Result<(LuaRegex, mlua::LuaString)> {
    let re = this::<LuaRegex>(args, name, "Regex")?;
    let s = check_string(lua, args, 2, name)?;
    Ok((re, s))
}

/// `init` as `string.find` reads it: 1-based, negative from the end; `None` past the end + 1.
fn start_at(args: &MultiValue, pos: usize, name: &str, len: usize) -> mlua::Result<Option<usize>> {
    let init = opt_integer(args, pos, name, 1)?;
    let len_i = len as i64;
    let init = if init > 0 {
        init
    } else if init == 0 || init.unsigned_abs() > len as u64 {
        1
    } else {
        len_i + init + 1
    };
    Ok((init <= len_i + 1).then(|| (init - 1) as usize))
}

fn none() -> mlua::Result<MultiValue> {
    Ok(multi([LuaValue::Nil]))
}

fn re_is_match(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let (re, s) = subject(lua, &args, "is_match")?;
    let s = s.as_bytes();
    let found = match start_at(&args, 3, "is_match", s.len())? {
        Some(at) => re.re.is_match_at(&s, at),
        None => false,
    };
    Ok(multi([LuaValue::Boolean(found)]))
}

fn re_find(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let (re, s) = subject(lua, &args, "find")?;
    let s = s.as_bytes();
    let Some(at) = start_at(&args, 3, "find", s.len())? else {
        return none();
    };
    match re.re.find_at(&s, at) {
        Some(m) => Ok(multi([
            LuaValue::Integer(m.start() as i64 + 1),
            LuaValue::Integer(m.end() as i64),
        ])),
        None => none(),
    }
}

/// What `string.match` would return for `caps`: each group (`false` when it did not take part), or
/// the whole match when the pattern has no groups.
fn capture_values(lua: &Lua, caps: &Captures) -> mlua::Result<Vec<LuaValue>> {
    if caps.len() == 1 {
        return Ok(vec![support::string(
            lua,
            caps.get(0).map_or(&[][..], |m| m.as_bytes()),
        )?]);
    }
    (1..caps.len())
        .map(|i| match caps.get(i) {
            Some(m) => support::string(lua, m.as_bytes()),
            None => Ok(LuaValue::Boolean(false)),
        })
        .collect()
}

fn re_match(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let (re, s) = subject(lua, &args, "match")?;
    let s = s.as_bytes();
    let Some(at) = start_at(&args, 3, "match", s.len())? else {
        return none();
    };
    match re.re.captures_at(&s, at) {
        Some(caps) => Ok(MultiValue::from_iter(capture_values(lua, &caps)?)),
        None => none(),
    }
}

fn re_captures(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let (re, s) = subject(lua, &args, "captures")?;
    let s = s.as_bytes();
    let Some(at) = start_at(&args, 3, "captures", s.len())? else {
        return none();
    };
    let Some(caps) = re.re.captures_at(&s, at) else {
        return none();
    };
    let t = lua.create_table()?;
    for i in 0..caps.len() {
        let v = match caps.get(i) {
            Some(m) => support::string(lua, m.as_bytes())?,
            None => LuaValue::Boolean(false),
        };
        t.raw_set(i as i64, v)?;
    }
    for name in re.re.capture_names().flatten() {
        if let Some(m) = caps.name(name) {
            t.raw_set(name, lua.create_string(m.as_bytes())?)?;
        }
    }
    Ok(multi([LuaValue::Table(t)]))
}

/// The next match at or after `pos`, skipping an empty match right where the previous one ended
/// (Lua 5.4's rule, so `gsub("abc", "x*", "-")` is `-a-b-c-`).
fn next_match<'h>(
    re: &Regex,
    s: &'h [u8],
    mut pos: usize,
    last_end: Option<usize>,
) -> Option<Captures<'h>> {
    loop {
        let caps = re.captures_at(s, pos)?;
        let m = caps.get(0)?;
        if m.start() == m.end() && Some(m.end()) == last_end {
            pos = next_boundary(s, m.start())?;
            continue;
        }
        return Some(caps);
    }
}

/// The start of the character after the one at `i` (a byte that is not UTF-8 counts as one).
fn next_boundary(s: &[u8], i: usize) -> Option<usize> {
    if i >= s.len() {
        return None;
    }
    let width = match s[i] {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    };
    let end = (i + width).min(s.len());
    let valid = std::str::from_utf8(&s[i..end]).is_ok();
    Some(if valid { end } else { i + 1 })
}

fn re_gmatch(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let (re, s) = subject(lua, &args, "gmatch")?;
    let s = s.as_bytes().to_vec();
    let mut pos = Some(0usize);
    let mut last_end = None;
    let iter = lua.create_function_mut(move |lua, ()| {
        let Some(at) = pos else { return none() };
        match next_match(&re.re, &s, at, last_end) {
            Some(caps) => {
                let whole = caps.get(0).map_or(at..at, |m| m.range());
                last_end = Some(whole.end);
                pos = Some(whole.end);
                Ok(MultiValue::from_iter(capture_values(lua, &caps)?))
            }
            None => {
                pos = None;
                none()
            }
        }
    })?;
    Ok(multi([LuaValue::Function(args::wrap_function(lua, iter)?)]))
}

fn re_gsub(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let (re, s) = subject(lua, &args, "gsub")?;
    let s = s.as_bytes().to_vec();
    let repl = args.get(2).cloned().unwrap_or(LuaValue::Nil);
    let template = match &repl {
        LuaValue::String(r) => Some(r.as_bytes().to_vec()),
        LuaValue::Integer(_) | LuaValue::Number(_) => {
            Some(args::display_string(lua, &repl)?.as_bytes().to_vec())
        }
        LuaValue::Table(_) | LuaValue::Function(_) => None,
        other => return Err(bad_argument(3, "gsub", "string/function/table", other)),
    };
    let max = match args.get(3) {
        None | Some(LuaValue::Nil) => usize::MAX,
        Some(_) => usize::try_from(check_integer(&args, 4, "gsub")?).unwrap_or(0),
    };
    let mut out = Vec::with_capacity(s.len());
    let (mut copied, mut pos, mut last_end, mut count) = (0usize, 0usize, None, 0usize);
    while count < max {
        let Some(caps) = next_match(&re.re, &s, pos, last_end) else {
            break;
        };
        let Some(whole) = caps.get(0).map(|m| m.range()) else {
            break;
        };
        support::append(&mut out, &s[copied..whole.start], "gsub")?;
        match &template {
            Some(t) => {
                let mut piece = Vec::new();
                caps.expand(t, &mut piece);
                support::append(&mut out, &piece, "gsub")?;
            }
            None => {
                let values = capture_values(lua, &caps)?;
                let got: LuaValue = match &repl {
                    LuaValue::Table(t) => {
                        t.get(values.first().cloned().unwrap_or(LuaValue::Nil))?
                    }
                    LuaValue::Function(f) => f.call(MultiValue::from_iter(values))?,
                    _ => LuaValue::Nil,
                };
                match got {
                    LuaValue::Nil | LuaValue::Boolean(false) => {
                        support::append(&mut out, &s[whole.clone()], "gsub")?
                    }
                    LuaValue::String(r) => support::append(&mut out, &r.as_bytes(), "gsub")?,
                    v @ (LuaValue::Integer(_) | LuaValue::Number(_)) => support::append(
                        &mut out,
                        &args::display_string(lua, &v)?.as_bytes(),
                        "gsub",
                    )?,
                    other => {
                        return Err(mlua::Error::runtime(format!(
                            "invalid replacement value (a {})",
                            args::type_name(&other)
                        )))
                    }
                }
            }
        }
        copied = whole.end;
        pos = whole.end;
        last_end = Some(whole.end);
        count += 1;
    }
    support::append(&mut out, &s[copied..], "gsub")?;
    Ok(multi([
        support::string(lua, out)?,
        LuaValue::Integer(count as i64),
    ]))
}

fn re_split(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let (re, s) = subject(lua, &args, "split")?;
    let s = s.as_bytes();
    let t = lua.create_table()?;
    match args.get(2) {
        None | Some(LuaValue::Nil) => {
            for piece in re.re.split(&s) {
                t.raw_push(lua.create_string(piece)?)?;
            }
        }
        Some(_) => {
            let n = check_integer(&args, 3, "split")?;
            if n <= 0 {
                return Err(arg_error(
                    3,
                    "split",
                    "the number of pieces must be positive",
                ));
            }
            for piece in re.re.splitn(&s, usize::try_from(n).unwrap_or(usize::MAX)) {
                t.raw_push(lua.create_string(piece)?)?;
            }
        }
    }
    Ok(multi([LuaValue::Table(t)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_patterns_say_where() {
        let e = compile(b"(a", "").unwrap_err();
        assert_eq!(e, "unclosed group at position 1 in pattern '(a'");
        let e = compile(b"ab[", "").unwrap_err();
        assert!(e.contains("unclosed character class at position 3"), "{e}");
        let e = compile(b"a{2,1}", "").unwrap_err();
        assert!(e.contains("at position"), "{e}");
        let e = compile("é(?P<1>x)".as_bytes(), "").unwrap_err();
        assert!(e.contains("character at position 6"), "{e}");
        assert!(compile(b"\\pX", "").unwrap_err().contains("position 1"));
    }

    #[test]
    fn empty_matches_follow_lua() {
        let re = Regex::new("x*").unwrap();
        let mut starts = Vec::new();
        let (mut pos, mut last) = (0, None);
        while let Some(c) = next_match(&re, b"abc", pos, last) {
            let m = c.get(0).unwrap();
            starts.push(m.start());
            pos = m.end();
            last = Some(m.end());
        }
        assert_eq!(starts, vec![0, 1, 2, 3]);
        assert_eq!(next_boundary("é".as_bytes(), 0), Some(2));
        assert_eq!(next_boundary(b"\xff", 0), Some(1));
    }
}
