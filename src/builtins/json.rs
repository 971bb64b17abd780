//! The JSON builtins: `json_encode`, `json_decode`, `json_array`, and the `json_null` /
//! `json_array_mt` markers. Both directions go straight between Lua values and bytes (no intermediate
//! tree), and both stop at [`MAX_DEPTH`] nesting levels so no input can overflow a goroutine's small
//! stack.

use std::cell::RefCell;
use std::ffi::c_void;
use std::fmt;
use std::ops::ControlFlow;

use mlua::{Lua, MultiValue, Table, Value as LuaValue};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::ser::{CompactFormatter, Formatter};

use crate::runtime::args::{arg_error, bad_argument, check_string, nil_err, type_name};

/// Deepest nesting of arrays/objects either direction accepts. Keeps recursion (and so stack use)
/// bounded on goroutine threads, whose stacks are small.
pub const MAX_DEPTH: usize = 128;

/// The metatable field that marks a table as a JSON array. The encoder checks the field rather than
/// the metatable's identity, so the marker survives a table being copied into another Lua state.
const ARRAY_MARKER_FIELD: &str = "__jsontype";
const ARRAY_MARKER_VALUE: &str = "array";

/// Largest `indent` accepted by `json_encode`; beyond this it is surely a mistake.
const MAX_INDENT: i64 = 64;

/// Installs `json_null`, `json_array_mt`, `json_array`, `json_encode` and `json_decode`.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    let globals = lua.globals();
    let array_mt = lua.create_table()?;
    array_mt.raw_set(ARRAY_MARKER_FIELD, ARRAY_MARKER_VALUE)?;
    globals.set("json_null", LuaValue::NULL)?;
    globals.set("json_array_mt", array_mt.clone())?;

    let mt = array_mt.clone();
    let json_array = lua.create_function(move |_, value: LuaValue| match value {
        LuaValue::Table(t) => {
            t.set_metatable(Some(mt.clone()))?;
            Ok(t)
        }
        other => Err(bad_argument(1, "json_array", "table", &other)),
    })?;
    globals.set("json_array", json_array)?;

    let json_encode = lua.create_function(|lua, (value, opts): (LuaValue, LuaValue)| {
        let indent = indent_option(&opts)?;
        match encode(&value, indent) {
            Ok(bytes) => lua.create_string(bytes),
            Err(EncodeError {
                problem: Problem::Lua(e),
                ..
            }) => Err(e),
            Err(e) => Err(mlua::Error::runtime(format!("json_encode: {e}"))),
        }
    })?;
    globals.set("json_encode", json_encode)?;

    let json_decode = lua.create_function(move |lua, args: MultiValue| {
        let text = check_string(lua, &args, 1, "json_decode")?;
        match decode(lua, &text.as_bytes(), &array_mt)? {
            Ok(value) => Ok(MultiValue::from_iter([value])),
            Err(msg) => nil_err(lua, format!("json_decode: {msg}")),
        }
    })?;
    globals.set("json_decode", json_decode)?;
    Ok(())
}

/// Reads `{indent = n}` from `json_encode`'s second argument; 0 means compact.
fn indent_option(opts: &LuaValue) -> mlua::Result<usize> {
    let opts = match opts {
        LuaValue::Nil => return Ok(0),
        LuaValue::Table(t) => t,
        other => return Err(bad_argument(2, "json_encode", "table", other)),
    };
    let indent = match opts.get::<LuaValue>("indent")? {
        LuaValue::Nil => Some(0),
        LuaValue::Integer(n) => Some(n),
        LuaValue::Number(f) if f.fract() == 0.0 && f.abs() <= MAX_INDENT as f64 => Some(f as i64),
        _ => None,
    };
    match indent {
        Some(n @ 0..=MAX_INDENT) => Ok(n as usize),
        _ => Err(arg_error(
            2,
            "json_encode",
            &format!("indent must be an integer from 0 to {MAX_INDENT}"),
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/// Why a value could not be encoded.
#[derive(Debug)]
pub enum Problem {
    /// A value of a type JSON has no form for (function, thread, userdata other than `json_null`).
    Unsupported(&'static str),
    NaN,
    Infinite { negative: bool },
    /// A table that contains itself.
    Cycle,
    InvalidUtf8String,
    InvalidUtf8Key,
    /// A table key that is neither a string nor an integer; holds a description of the key.
    BadKey(String),
    TooDeep,
    /// The Lua state failed (out of memory, usually): passed on as is.
    Lua(mlua::Error),
}

/// One step in the location of a bad value: `[3]` for an integer key, `.name` for a string key.
#[derive(Debug)]
enum PathSeg {
    Index(i64),
    Key(String),
}

/// An encoding failure and where in the value it happened. The path is collected innermost first
/// while the error unwinds, so the success path never pays for it.
#[derive(Debug)]
pub struct EncodeError {
    pub problem: Problem,
    path_rev: Vec<PathSeg>,
}

impl EncodeError {
    fn new(problem: Problem) -> Self {
        EncodeError {
            problem,
            path_rev: Vec::new(),
        }
    }

    fn within(mut self, seg: PathSeg) -> Self {
        self.path_rev.push(seg);
        self
    }

    /// The JSON-path-like location: `$`, `$.a.b[2]`, `$["odd key"]`.
    pub fn path(&self) -> String {
        let mut out = String::from("$");
        for seg in self.path_rev.iter().rev() {
            match seg {
                PathSeg::Index(i) => out.push_str(&format!("[{i}]")),
                PathSeg::Key(k) if is_identifier(k) => {
                    out.push('.');
                    out.push_str(k);
                }
                PathSeg::Key(k) => {
                    let mut quoted = Vec::with_capacity(k.len() + 2);
                    write_json_string(&mut quoted, k);
                    out.push('[');
                    out.push_str(&String::from_utf8_lossy(&quoted));
                    out.push(']');
                }
            }
        }
        out
    }
}

impl From<mlua::Error> for EncodeError {
    fn from(e: mlua::Error) -> Self {
        EncodeError::new(Problem::Lua(e))
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Unsupported(what) => write!(f, "cannot encode a {what}"),
            Problem::NaN => f.write_str("NaN cannot be encoded"),
            Problem::Infinite { negative: false } => f.write_str("inf cannot be encoded"),
            Problem::Infinite { negative: true } => f.write_str("-inf cannot be encoded"),
            Problem::Cycle => f.write_str("cycle detected"),
            Problem::InvalidUtf8String => f.write_str("invalid UTF-8 in string"),
            Problem::InvalidUtf8Key => f.write_str("invalid UTF-8 in table key"),
            Problem::BadKey(got) => write!(f, "table key must be a string or an integer, got {got}"),
            Problem::TooDeep => write!(f, "nesting deeper than {MAX_DEPTH} levels"),
            Problem::Lua(e) => write!(f, "{e}"),
        }
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}", self.problem, self.path())
    }
}

impl std::error::Error for EncodeError {}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Encodes `value` as JSON text: compact when `indent` is 0, otherwise pretty-printed with `indent`
/// spaces per level (serde_json's pretty layout).
pub fn encode(value: &LuaValue, indent: usize) -> Result<Vec<u8>, EncodeError> {
    let mut encoder = Encoder {
        out: Vec::with_capacity(128),
        indent,
        open_tables: Vec::new(),
    };
    encoder.value(value, 0)?;
    Ok(encoder.out)
}

struct Encoder {
    out: Vec<u8>,
    indent: usize,
    /// Tables on the path from the root to the one being written, to detect cycles. At most
    /// MAX_DEPTH long, so a linear scan is cheap.
    open_tables: Vec<*const c_void>,
}

/// An object member, its key already turned into the text it is written (and sorted) as.
struct ObjectKey {
    text: String,
    int: Option<i64>,
}

impl Encoder {
    /// Writes one value; `depth` is the number of tables enclosing it.
    fn value(&mut self, value: &LuaValue, depth: usize) -> Result<(), EncodeError> {
        match value {
            LuaValue::Nil => self.out.extend_from_slice(b"null"),
            LuaValue::LightUserData(p) if p.0.is_null() => self.out.extend_from_slice(b"null"),
            LuaValue::Boolean(true) => self.out.extend_from_slice(b"true"),
            LuaValue::Boolean(false) => self.out.extend_from_slice(b"false"),
            LuaValue::Integer(i) => CompactFormatter
                .write_i64(&mut self.out, *i)
                .map_err(mlua::Error::external)?,
            LuaValue::Number(n) => {
                if n.is_nan() {
                    return Err(EncodeError::new(Problem::NaN));
                }
                if n.is_infinite() {
                    return Err(EncodeError::new(Problem::Infinite {
                        negative: *n < 0.0,
                    }));
                }
                // ryu's shortest round-trip form; it always keeps a `.` or an exponent, so a float
                // stays a float when decoded again.
                CompactFormatter
                    .write_f64(&mut self.out, *n)
                    .map_err(mlua::Error::external)?
            }
            LuaValue::String(s) => {
                let bytes = s.as_bytes();
                let text = std::str::from_utf8(&bytes)
                    .map_err(|_| EncodeError::new(Problem::InvalidUtf8String))?;
                write_json_string(&mut self.out, text);
            }
            LuaValue::Table(t) => self.table(t, depth + 1)?,
            other => return Err(EncodeError::new(Problem::Unsupported(type_name(other)))),
        }
        Ok(())
    }

    /// Writes a table as an array or an object; `depth` counts this table.
    fn table(&mut self, t: &Table, depth: usize) -> Result<(), EncodeError> {
        if depth > MAX_DEPTH {
            return Err(EncodeError::new(Problem::TooDeep));
        }
        let ptr = t.to_pointer();
        if self.open_tables.contains(&ptr) {
            return Err(EncodeError::new(Problem::Cycle));
        }
        self.open_tables.push(ptr);
        let result = match sequence_length(t)? {
            Some(len) => self.array(t, len, depth),
            None => self.object(t, depth),
        };
        self.open_tables.pop();
        result
    }

    fn array(&mut self, t: &Table, len: i64, depth: usize) -> Result<(), EncodeError> {
        self.out.push(b'[');
        for i in 1..=len {
            if i > 1 {
                self.out.push(b',');
            }
            self.newline(depth);
            let item: LuaValue = t.raw_get(i)?;
            self.value(&item, depth)
                .map_err(|e| e.within(PathSeg::Index(i)))?;
        }
        self.newline(depth - 1);
        self.out.push(b']');
        Ok(())
    }

    fn object(&mut self, t: &Table, depth: usize) -> Result<(), EncodeError> {
        let keys = object_keys(t)?;
        if keys.is_empty() {
            self.out
                .extend_from_slice(if is_marked_array(t) { b"[]" } else { b"{}" });
            return Ok(());
        }
        self.out.push(b'{');
        for (n, key) in keys.iter().enumerate() {
            if n > 0 {
                self.out.push(b',');
            }
            self.newline(depth);
            write_json_string(&mut self.out, &key.text);
            self.out.push(b':');
            if self.indent > 0 {
                self.out.push(b' ');
            }
            // Values are fetched again by key rather than kept from the key scan: holding a
            // reference per member would exhaust mlua's reference stack on huge tables.
            let (item, seg): (LuaValue, fn(&ObjectKey) -> PathSeg) = match key.int {
                Some(i) => (t.raw_get(i)?, |k| PathSeg::Index(k.int.unwrap_or_default())),
                None => (t.raw_get(key.text.as_str())?, |k| PathSeg::Key(k.text.clone())),
            };
            self.value(&item, depth).map_err(|e| e.within(seg(key)))?;
        }
        self.newline(depth - 1);
        self.out.push(b'}');
        Ok(())
    }

    /// In pretty mode, starts a new line indented for `level`; nothing in compact mode. Only called
    /// inside a non-empty container, so `[]` and `{}` stay on one line.
    fn newline(&mut self, level: usize) {
        if self.indent > 0 {
            self.out.push(b'\n');
            self.out
                .resize(self.out.len() + self.indent * level, b' ');
        }
    }
}

/// `Some(n)` when the table's keys are exactly 1..n with n >= 1 (so it is written as an array).
fn sequence_length(t: &Table) -> Result<Option<i64>, EncodeError> {
    let len = t.raw_len() as i64;
    if len == 0 {
        return Ok(None);
    }
    let mut count: i64 = 0;
    let stopped = scan_keys(t, |key| {
        count += 1;
        match key {
            LuaValue::Integer(i) if (1..=len).contains(&i) => ControlFlow::Continue(()),
            _ => ControlFlow::Break(()),
        }
    })?;
    Ok((stopped.is_none() && count == len).then_some(len))
}

/// The keys of a table written as an object, in the order they are written (byte order of their
/// text); rejects keys JSON cannot express.
fn object_keys(t: &Table) -> Result<Vec<ObjectKey>, EncodeError> {
    let mut keys = Vec::new();
    let stopped = scan_keys(t, |key| match key {
        LuaValue::String(s) => match s.to_str() {
            Ok(text) => {
                keys.push(ObjectKey {
                    text: text.to_string(),
                    int: None,
                });
                ControlFlow::Continue(())
            }
            Err(_) => ControlFlow::Break(Problem::InvalidUtf8Key),
        },
        LuaValue::Integer(i) => {
            keys.push(ObjectKey {
                text: i.to_string(),
                int: Some(i),
            });
            ControlFlow::Continue(())
        }
        LuaValue::Number(n) => ControlFlow::Break(Problem::BadKey(format!("float {n}"))),
        other => ControlFlow::Break(Problem::BadKey(type_name(&other).to_string())),
    })?;
    if let Some(problem) = stopped {
        return Err(EncodeError::new(problem));
    }
    keys.sort_unstable_by(|a, b| a.text.cmp(&b.text));
    Ok(keys)
}

/// Visits the keys of `t` (raw: no metamethods) until `visit` breaks; returns the break value.
fn scan_keys<B>(
    t: &Table,
    mut visit: impl FnMut(LuaValue) -> ControlFlow<B>,
) -> mlua::Result<Option<B>> {
    let mut stopped = None;
    let scanned = t.for_each::<LuaValue, LuaValue>(|key, _| match visit(key) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(b) => {
            stopped = Some(b);
            // Only way to leave `for_each` early; told apart from real errors by `stopped`.
            Err(mlua::Error::runtime("scan stopped"))
        }
    });
    match (stopped, scanned) {
        (Some(b), _) => Ok(Some(b)),
        (None, Err(e)) => Err(e),
        (None, Ok(())) => Ok(None),
    }
}

fn is_marked_array(t: &Table) -> bool {
    t.metatable().is_some_and(|mt| {
        matches!(
            mt.raw_get::<LuaValue>(ARRAY_MARKER_FIELD),
            Ok(LuaValue::String(s)) if s.as_bytes().as_ref() == ARRAY_MARKER_VALUE.as_bytes()
        )
    })
}

/// Writes `s` as a JSON string literal, escaping only what JSON requires (quote, backslash,
/// control characters); everything else, non-ASCII included, is copied as is.
fn write_json_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => &[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 0xf) as usize],
            ],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/// Decodes JSON text into Lua values in `lua`. The outer `Err` is a failure of the Lua state itself
/// (out of memory); the inner `Err` is a message about bad input, with its line and column.
/// Empty arrays get `array_mt` so they encode back as `[]`.
pub fn decode(lua: &Lua, input: &[u8], array_mt: &Table) -> mlua::Result<Result<LuaValue, String>> {
    let ctx = DecodeCtx {
        lua,
        array_mt,
        lua_error: RefCell::new(None),
    };
    let mut de = serde_json::Deserializer::from_slice(input);
    // Our own depth check (MAX_DEPTH, counted the same way as the encoder) replaces serde_json's,
    // which would refuse a level earlier.
    de.disable_recursion_limit();
    let result = ValueSeed {
        ctx: &ctx,
        depth: 0,
    }
    .deserialize(&mut de)
    .and_then(|value| de.end().map(|()| value));
    if let Some(e) = ctx.lua_error.take() {
        return Err(e);
    }
    Ok(result.map_err(|e| e.to_string()))
}

struct DecodeCtx<'a> {
    lua: &'a Lua,
    array_mt: &'a Table,
    /// A Lua failure met while building values; serde only carries strings, so it waits here.
    lua_error: RefCell<Option<mlua::Error>>,
}

impl DecodeCtx<'_> {
    fn fail<E: de::Error>(&self, e: mlua::Error) -> E {
        *self.lua_error.borrow_mut() = Some(e);
        E::custom("Lua error while decoding")
    }
}

/// Builds one Lua value from the JSON value the deserializer is at. `depth` is the number of
/// arrays/objects enclosing it.
#[derive(Clone, Copy)]
struct ValueSeed<'a> {
    ctx: &'a DecodeCtx<'a>,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = LuaValue;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<LuaValue, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl ValueSeed<'_> {
    fn nested<E: de::Error>(self) -> Result<Self, E> {
        if self.depth >= MAX_DEPTH {
            return Err(E::custom(format_args!(
                "nesting deeper than {MAX_DEPTH} levels"
            )));
        }
        Ok(ValueSeed {
            ctx: self.ctx,
            depth: self.depth + 1,
        })
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = LuaValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<LuaValue, E> {
        Ok(LuaValue::NULL)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<LuaValue, E> {
        Ok(LuaValue::Boolean(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<LuaValue, E> {
        Ok(LuaValue::Integer(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<LuaValue, E> {
        // Beyond i64 a Lua integer would wrap; a float keeps the magnitude.
        Ok(i64::try_from(v).map_or(LuaValue::Number(v as f64), LuaValue::Integer))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<LuaValue, E> {
        Ok(LuaValue::Number(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<LuaValue, E> {
        match self.ctx.lua.create_string(v) {
            Ok(s) => Ok(LuaValue::String(s)),
            Err(e) => Err(self.ctx.fail(e)),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LuaValue, A::Error> {
        let item_seed = self.nested()?;
        let ctx = self.ctx;
        let table = ctx.lua.create_table().map_err(|e| ctx.fail(e))?;
        let mut len: i64 = 0;
        while let Some(item) = seq.next_element_seed(item_seed)? {
            len += 1;
            table.raw_set(len, item).map_err(|e| ctx.fail(e))?;
        }
        if len == 0 {
            table
                .set_metatable(Some(ctx.array_mt.clone()))
                .map_err(|e| ctx.fail(e))?;
        }
        Ok(LuaValue::Table(table))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LuaValue, A::Error> {
        let value_seed = self.nested()?;
        let ctx = self.ctx;
        let table = ctx.lua.create_table().map_err(|e| ctx.fail(e))?;
        // JSON keys are always strings, so the value seed builds them as Lua strings.
        while let Some(key) = map.next_key_seed(value_seed)? {
            let value = map.next_value_seed(value_seed)?;
            table.raw_set(key, value).map_err(|e| ctx.fail(e))?;
        }
        Ok(LuaValue::Table(table))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lua() -> Lua {
        let lua = Lua::new();
        register(&lua).expect("register json builtins");
        lua
    }

    fn eval_str(lua: &Lua, code: &str) -> String {
        lua.load(code)
            .eval::<String>()
            .unwrap_or_else(|e| panic!("{code}: {e}"))
    }

    /// The message of the error `code` raises.
    fn error_of(lua: &Lua, code: &str) -> String {
        match lua.load(code).exec() {
            Ok(()) => panic!("{code}: expected an error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn pcall_message() {
        let lua = lua();
        let msg = eval_str(&lua, "local ok, e = pcall(json_decode, {}) return tostring(e)");
        assert_eq!(msg, "bad argument #1 to 'json_decode' (string expected, got table)");
    }
}
