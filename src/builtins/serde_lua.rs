//! How Lua values map to data and back (SPEC §8, §13): one set of rules for JSON and every other
//! data format (TOML, YAML, ...). A table whose keys are exactly `1..n` is an array, any other
//! non-empty table an object with sorted keys, an empty one `{}` unless marked with `json_array`;
//! integers stay integers, floats floats, `json_null` is null. Decoding goes through any serde
//! `Deserializer` ([`decode`]); encoding through any serde `Serializer` ([`encode`]) — JSON has its
//! own faster writer but uses the same classification ([`shape`]). Both stop at [`MAX_DEPTH`].

use std::cell::RefCell;
use std::ffi::c_void;
use std::fmt;
use std::ops::ControlFlow;

use mlua::{Lua, Table, Value as LuaValue};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{self, SerializeMap, SerializeSeq, Serializer};

use crate::runtime::args::type_name;

/// Deepest nesting of arrays/objects either direction accepts. Keeps recursion (and so stack use)
/// bounded on goroutine threads, whose stacks are small.
pub const MAX_DEPTH: usize = 128;

/// The metatable field that marks a table as a JSON array. Encoders check the field rather than
/// the metatable's identity, so the marker survives a table being copied into another Lua state.
const ARRAY_MARKER_FIELD: &str = "__jsontype";
const ARRAY_MARKER_VALUE: &str = "array";
/// Registry key of this state's `json_array_mt` (made on first need, by whichever family first
/// needs it, so every decoder marks empty arrays with the same table).
const ARRAY_MT_KEY: &str = "solvm.json_array_mt";

/// This state's `json_array_mt`: the metatable that marks a table as an array.
pub fn array_metatable(lua: &Lua) -> mlua::Result<Table> {
    if let Ok(LuaValue::Table(t)) = lua.named_registry_value::<LuaValue>(ARRAY_MT_KEY) {
        return Ok(t);
    }
    let mt = lua.create_table()?;
    mt.raw_set(ARRAY_MARKER_FIELD, ARRAY_MARKER_VALUE)?;
    lua.set_named_registry_value(ARRAY_MT_KEY, &mt)?;
    Ok(mt)
}

/// Whether `t` carries the array marker (`json_array(t)`).
pub fn is_marked_array(t: &Table) -> bool {
    t.metatable().is_some_and(|mt| {
        matches!(
            mt.raw_get::<LuaValue>(ARRAY_MARKER_FIELD),
            Ok(LuaValue::String(s)) if s.as_bytes().as_ref() == ARRAY_MARKER_VALUE.as_bytes()
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Classification (both encoders)
// ---------------------------------------------------------------------------------------------

/// Why a value could not be encoded.
#[derive(Debug)]
pub enum Problem {
    /// A value of a type data has no form for (function, thread, userdata other than `json_null`).
    Unsupported(&'static str),
    NaN,
    Infinite {
        negative: bool,
    },
    /// A table that contains itself.
    Cycle,
    InvalidUtf8String,
    InvalidUtf8Key,
    /// A table key that is neither a string nor an integer; holds a description of the key.
    BadKey(String),
    TooDeep,
    /// `json_null` or `nil` for a format without null.
    Null,
    /// The format's own refusal (TOML has no null, for one), in its words.
    Format(String),
    /// The Lua state failed (out of memory, usually): passed on as is.
    Lua(mlua::Error),
}

impl From<mlua::Error> for Problem {
    fn from(e: mlua::Error) -> Self {
        Problem::Lua(e)
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
            Problem::BadKey(got) => {
                write!(f, "table key must be a string or an integer, got {got}")
            }
            Problem::TooDeep => write!(f, "nesting deeper than {MAX_DEPTH} levels"),
            Problem::Null => f.write_str("null (json_null or nil) cannot be encoded"),
            Problem::Format(msg) => f.write_str(msg),
            Problem::Lua(e) => write!(f, "{e}"),
        }
    }
}

/// An encoding failure and where in the value it happened, as a JSON-path-like location:
/// `$`, `$.a.b[2]`, `$["odd key"]`.
#[derive(Debug)]
pub struct EncodeError {
    pub problem: Problem,
    pub path: String,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}", self.problem, self.path)
    }
}

impl std::error::Error for EncodeError {}

impl EncodeError {
    /// The error a builtin raises: `func: problem at path`, or the Lua failure as it is.
    pub fn into_lua(self, func: &str) -> mlua::Error {
        match self.problem {
            Problem::Lua(e) => e,
            _ => mlua::Error::runtime(format!("{func}: {self}")),
        }
    }
}

/// An object member, its key already turned into the text it is written (and sorted) as.
pub struct ObjectKey {
    pub text: String,
    pub int: Option<i64>,
}

/// What a table is written as.
pub enum Shape {
    /// Keys exactly `1..n`, n >= 1.
    Array(usize),
    /// Keys in the order they are written (byte order of their text); empty for `{}`.
    Object(Vec<ObjectKey>),
    /// An empty table marked with `json_array`.
    EmptyArray,
}

/// How `t` is written: array, object (keys sorted) or marked empty array; rejects keys data cannot
/// express.
pub fn shape(t: &Table) -> Result<Shape, Problem> {
    if let Some(len) = sequence_length(t)? {
        return Ok(Shape::Array(len));
    }
    let keys = object_keys(t)?;
    if keys.is_empty() && is_marked_array(t) {
        return Ok(Shape::EmptyArray);
    }
    Ok(Shape::Object(keys))
}

/// `Some(n)` when the table's keys are exactly 1..n with n >= 1 (so it is written as an array).
fn sequence_length(t: &Table) -> mlua::Result<Option<usize>> {
    let len = t.raw_len();
    if len == 0 {
        return Ok(None);
    }
    let mut count: usize = 0;
    let stopped = scan_keys(t, |key| {
        count += 1;
        match key {
            LuaValue::Integer(i) if i >= 1 && i as u64 <= len as u64 => ControlFlow::Continue(()),
            _ => ControlFlow::Break(()),
        }
    })?;
    Ok((stopped.is_none() && count == len).then_some(len))
}

/// The keys of a table written as an object, in the order they are written.
fn object_keys(t: &Table) -> Result<Vec<ObjectKey>, Problem> {
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
        return Err(problem);
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

/// Member `key` of an object: its value, fetched again by key rather than kept from the key scan
/// (holding a reference per member would exhaust mlua's reference stack on huge tables).
pub fn member(t: &Table, key: &ObjectKey) -> mlua::Result<LuaValue> {
    match key.int {
        Some(n) => t.raw_get(n),
        None => t.raw_get(key.text.as_str()),
    }
}

/// Appends the path step for element `i` (0-based) of an array: `[i+1]`.
pub fn push_index(path: &mut String, i: usize) {
    path.push_str(&format!("[{}]", i + 1));
}

/// Appends the path step for member `key` of an object: `.name`, `[3]` or `["odd key"]`.
pub fn push_key(path: &mut String, key: &ObjectKey) {
    match key {
        ObjectKey { int: Some(n), .. } => path.push_str(&format!("[{n}]")),
        ObjectKey { text, .. } if is_identifier(text) => {
            path.push('.');
            path.push_str(text);
        }
        ObjectKey { text, .. } => {
            let mut quoted = Vec::with_capacity(text.len() + 2);
            write_json_string(&mut quoted, text);
            path.push('[');
            path.push_str(&String::from_utf8_lossy(&quoted));
            path.push(']');
        }
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Writes `s` as a JSON string literal, escaping only what JSON requires (quote, backslash,
/// control characters); everything else, non-ASCII included, is copied as is.
pub fn write_json_string(out: &mut Vec<u8>, s: &str) {
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
// Encoding through serde
// ---------------------------------------------------------------------------------------------

/// What a format can hold beyond JSON.
#[derive(Clone, Copy, Default)]
pub struct EncodeOptions {
    /// NaN and ±inf are values (TOML, YAML), not errors.
    pub non_finite: bool,
    /// The format has no null (TOML): `json_null` (or a lone `nil`) is an error.
    pub no_null: bool,
}

/// Encodes `value` with a serde serializer: `run` gets a [`Serialize`](serde::Serialize) view of
/// the value and hands it to the format. A failure says where it happened, whether it is ours
/// (a function, a cycle) or the format's (TOML has no null).
pub fn encode<T, E: fmt::Display>(
    value: &LuaValue,
    options: EncodeOptions,
    run: impl FnOnce(&Data<'_>) -> Result<T, E>,
) -> Result<T, EncodeError> {
    let state = EncodeState {
        options,
        open: RefCell::new(Vec::new()),
        failures: RefCell::new(Vec::new()),
    };
    let root = Data {
        value: value.clone(),
        state: &state,
    };
    match run(&root) {
        Ok(out) => Ok(out),
        Err(e) => {
            // Ours first (a format may probe a value and recover from its own refusal); else the
            // format's last refusal.
            let mut failures = state.failures.take();
            let ours = failures.iter().position(|(p, _)| p.is_some());
            Err(
                match ours.map(|i| failures.swap_remove(i)).or(failures.pop()) {
                    Some((Some(problem), path)) => EncodeError { problem, path },
                    Some((None, path)) => EncodeError {
                        problem: Problem::Format(e.to_string()),
                        path,
                    },
                    None => EncodeError {
                        problem: Problem::Format(e.to_string()),
                        path: "$".into(),
                    },
                },
            )
        }
    }
}

struct EncodeState {
    options: EncodeOptions,
    /// The tables from the root to the value being written, each with the member being written.
    open: RefCell<Vec<OpenTable>>,
    /// Failures in the order met: our problem (`None`: the format's, whose message the error
    /// carries) and where it happened.
    failures: RefCell<Vec<(Option<Problem>, String)>>,
}

struct OpenTable {
    ptr: *const c_void,
    /// Path step of the member being written.
    step: String,
}

impl EncodeState {
    fn path(&self) -> String {
        let mut path = String::from("$");
        for open in self.open.borrow().iter() {
            path.push_str(&open.step);
        }
        path
    }

    /// Notes a failure where the encoder is. A format's refusal is noted once, where it happened
    /// (the enclosing values see the same error come back).
    fn note(&self, problem: Option<Problem>) {
        let path = self.path();
        let mut failures = self.failures.borrow_mut();
        if problem.is_none() {
            if failures
                .last()
                .is_some_and(|(_, p)| p.starts_with(path.as_str()))
            {
                return;
            }
            // Only the format's last refusal is reported: earlier ones were recovered from.
            failures.retain(|(p, _)| p.is_some());
        }
        failures.push((problem, path));
    }

    fn fail<E: ser::Error>(&self, problem: Problem) -> E {
        let text = problem.to_string();
        self.note(Some(problem));
        E::custom(text)
    }

    fn set_step(&self, step: String) {
        if let Some(top) = self.open.borrow_mut().last_mut() {
            top.step = step;
        }
    }
}

/// A Lua value seen by a serde serializer (see [`encode`]).
pub struct Data<'a> {
    value: LuaValue,
    state: &'a EncodeState,
}

impl serde::Serialize for Data<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let result = self.serialize_value(s);
        if result.is_err() {
            // The format refused something here (ours are noted where they happen).
            self.state.note(None);
        }
        result
    }
}

impl Data<'_> {
    fn serialize_value<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let state = self.state;
        match &self.value {
            LuaValue::Nil => self.serialize_null(s),
            LuaValue::LightUserData(p) if p.0.is_null() => self.serialize_null(s),
            LuaValue::Boolean(b) => s.serialize_bool(*b),
            LuaValue::Integer(i) => s.serialize_i64(*i),
            LuaValue::Number(n) if !n.is_finite() && !state.options.non_finite => {
                Err(state.fail(if n.is_nan() {
                    Problem::NaN
                } else {
                    Problem::Infinite { negative: *n < 0.0 }
                }))
            }
            LuaValue::Number(n) => s.serialize_f64(*n),
            LuaValue::String(text) => match text.to_str() {
                Ok(text) => s.serialize_str(&text),
                Err(_) => Err(state.fail(Problem::InvalidUtf8String)),
            },
            LuaValue::Table(t) => self.serialize_table(t, s),
            other => Err(state.fail(Problem::Unsupported(type_name(other)))),
        }
    }

    fn serialize_null<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.state.options.no_null {
            return Err(self.state.fail(Problem::Null));
        }
        s.serialize_unit()
    }

    fn serialize_table<S: Serializer>(&self, t: &Table, s: S) -> Result<S::Ok, S::Error> {
        let state = self.state;
        let ptr = t.to_pointer();
        {
            let open = state.open.borrow();
            if open.len() >= MAX_DEPTH {
                drop(open);
                return Err(state.fail(Problem::TooDeep));
            }
            if open.iter().any(|o| o.ptr == ptr) {
                drop(open);
                return Err(state.fail(Problem::Cycle));
            }
        }
        let shape = shape(t).map_err(|p| state.fail(p))?;
        state.open.borrow_mut().push(OpenTable {
            ptr,
            step: String::new(),
        });
        let result = self.serialize_members(t, shape, s);
        if result.is_err() {
            // Where the format refused, while the path still reaches into this table.
            state.note(None);
        }
        state.open.borrow_mut().pop();
        result
    }

    fn serialize_members<S: Serializer>(
        &self,
        t: &Table,
        shape: Shape,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let state = self.state;
        let lua_err = |e: mlua::Error| state.fail::<S::Error>(Problem::Lua(e));
        match shape {
            Shape::EmptyArray => s.serialize_seq(Some(0))?.end(),
            Shape::Array(len) => {
                let mut seq = s.serialize_seq(Some(len))?;
                for i in 0..len {
                    let mut step = String::new();
                    push_index(&mut step, i);
                    state.set_step(step);
                    let value = t.raw_get(i + 1).map_err(lua_err)?;
                    seq.serialize_element(&Data { value, state })?;
                }
                seq.end()
            }
            Shape::Object(keys) => {
                let mut map = s.serialize_map(Some(keys.len()))?;
                for key in &keys {
                    let mut step = String::new();
                    push_key(&mut step, key);
                    state.set_step(step);
                    let value = member(t, key).map_err(lua_err)?;
                    map.serialize_entry(key.text.as_str(), &Data { value, state })?;
                }
                map.end()
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding through serde
// ---------------------------------------------------------------------------------------------

/// What a format's deserializer hands over beyond JSON's values.
#[derive(Clone, Copy, Default)]
pub struct DecodeOptions {
    /// TOML datetimes arrive as a one-member map under the `toml` crate's private key: they become
    /// their text (`1979-05-27T07:32:00Z`).
    pub toml_datetimes: bool,
}

/// The `toml` crate's private key for datetimes.
const TOML_DATETIME_KEY: &[u8] = b"$__toml_private_datetime";

/// Decodes the value `de` is at into Lua values in `lua`. The outer `Err` is a failure of the Lua
/// state itself (out of memory); the inner `Err` is the format's error about bad input. Null is
/// `json_null`; empty arrays get `json_array_mt` so they encode back as `[]`.
pub fn decode<'de, D: Deserializer<'de>>(
    lua: &Lua,
    de: D,
    options: DecodeOptions,
) -> mlua::Result<Result<LuaValue, D::Error>> {
    let ctx = DecodeCtx {
        lua,
        array_mt: array_metatable(lua)?,
        options,
        lua_error: RefCell::new(None),
    };
    let result = ValueSeed {
        ctx: &ctx,
        depth: 0,
    }
    .deserialize(de);
    if let Some(e) = ctx.lua_error.take() {
        return Err(e);
    }
    Ok(result)
}

struct DecodeCtx<'a> {
    lua: &'a Lua,
    array_mt: Table,
    options: DecodeOptions,
    /// A Lua failure met while building values; serde only carries strings, so it waits here.
    lua_error: RefCell<Option<mlua::Error>>,
}

impl DecodeCtx<'_> {
    fn fail<E: de::Error>(&self, e: mlua::Error) -> E {
        *self.lua_error.borrow_mut() = Some(e);
        E::custom("Lua error while decoding")
    }
}

/// Builds one Lua value from the value the deserializer is at. `depth` is the number of
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
        f.write_str("a value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<LuaValue, E> {
        Ok(LuaValue::NULL)
    }

    fn visit_none<E: de::Error>(self) -> Result<LuaValue, E> {
        Ok(LuaValue::NULL)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<LuaValue, D::Error> {
        d.deserialize_any(self)
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
        self.visit_bytes(v.as_bytes())
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<LuaValue, E> {
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
        let mut first = true;
        while let Some(key) = map.next_key_seed(value_seed)? {
            let value = map.next_value_seed(value_seed)?;
            if std::mem::take(&mut first) && ctx.options.toml_datetimes {
                if let LuaValue::String(k) = &key {
                    if k.as_bytes().as_ref() == TOML_DATETIME_KEY {
                        return Ok(value);
                    }
                }
            }
            // Keys of formats beyond JSON may be any value; Lua refuses only NaN.
            if matches!(key, LuaValue::Number(n) if n.is_nan()) {
                return Err(de::Error::custom("a NaN key cannot be a table key"));
            }
            table.raw_set(key, value).map_err(|e| ctx.fail(e))?;
        }
        Ok(LuaValue::Table(table))
    }
}
