//! How a [`Value`] crosses processes (SPEC §15): data only, as versioned MessagePack, so that other
//! programs can read and write it (the format is written down in docs/cluster.md). Functions,
//! builtins and handles are refused with the path where they were found; metatables stay behind.
//!
//! Layout: one version byte ([`FORMAT_VERSION`]) then one MessagePack value. Lua integers are
//! MessagePack integers and floats are always float64, so the two stay distinct; strings are `str`
//! when valid UTF-8, `bin` otherwise; a table with keys exactly `1..n` is an array, any other a map.
//! `json_null` is MessagePack nil inside a table (Lua tables cannot hold nil) and ext type 0 at the
//! top. A table reached more than once (shared, or part of a cycle) is written once as ext type 1
//! (`uint id` then the table) and then referred to as ext type 2 (`uint id`).

use super::{Bytes, EncodeError, Graph, Node, Value};
use mlua::{Lua, Value as LuaValue};
use std::collections::HashMap;
use std::sync::Arc;

/// The first byte of every encoded value: the format's version.
pub const FORMAT_VERSION: u8 = 1;
/// The first byte of a cluster-channel element whose sender waits for it to be taken (capacity
/// 0): then a MessagePack string (the list to acknowledge on), then the value's MessagePack.
pub const RENDEZVOUS: u8 = 2;

const EXT_JSON_NULL: i8 = 0;
const EXT_ANCHOR: i8 = 1;
const EXT_REF: i8 = 2;

/// Deeper than this, a decoded value is refused rather than risking the thread's stack.
const MAX_DEPTH: usize = 200;

/// What can cross, for messages.
const DATA: &str =
    "only data crosses processes: nil, booleans, numbers, strings, tables, json_null";

/// Encodes `v`, a value of `lua`, for another process. `root` names the value in errors (`value
/// sent on cluster channel "jobs"`).
pub fn encode_lua(lua: &Lua, v: &LuaValue, root: &str) -> mlua::Result<Vec<u8>> {
    encode(&from_lua(lua, v, root)?, root)
}

/// Encodes `v` and decodes it again: what a receiver in another process would get. In-process
/// cluster channels and topics carry exactly that, so a script behaves the same on one machine.
pub fn round_trip(lua: &Lua, v: &LuaValue, root: &str) -> mlua::Result<Value> {
    let bytes = encode_lua(lua, v, root)?;
    decode(&bytes).map_err(mlua::Error::runtime)
}

/// Encodes a transferable value (version byte included).
pub fn encode(v: &Value, root: &str) -> mlua::Result<Vec<u8>> {
    let mut out = vec![FORMAT_VERSION];
    encode_body(&mut out, v, root)?;
    Ok(out)
}

/// A channel element for a sender that waits until it is taken: [`RENDEZVOUS`], the list `ack` to
/// push onto once taken, the value.
pub fn encode_rendezvous(ack: &str, v: &Value, root: &str) -> mlua::Result<Vec<u8>> {
    let mut out = vec![RENDEZVOUS];
    write(rmp::encode::write_str(&mut out, ack));
    encode_body(&mut out, v, root)?;
    Ok(out)
}

/// A value as the shared store keeps it: integers as decimal text (what Redis's `INCRBY` works
/// on, so `store.incr` is one command and other clients can `INCR` them), everything else encoded.
pub fn encode_stored(v: &Value, root: &str) -> mlua::Result<Vec<u8>> {
    match v {
        Value::Int(i) => Ok(i.to_string().into_bytes()),
        other => encode(other, root),
    }
}

/// The inverse of [`encode_stored`].
pub fn decode_stored(bytes: &[u8]) -> Result<Value, String> {
    match bytes.first() {
        Some(b'-' | b'0'..=b'9') => std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .map(Value::Int)
            .ok_or_else(|| "a number that is not a 64-bit integer".to_string()),
        _ => decode(bytes),
    }
}

/// Decodes an encoded value (version byte included), refusing trailing bytes.
pub fn decode(bytes: &[u8]) -> Result<Value, String> {
    match bytes.split_first() {
        Some((&FORMAT_VERSION, mut rest)) => {
            let v = decode_body(&mut rest)?;
            if rest.is_empty() {
                Ok(v)
            } else {
                Err(format!("{} bytes after the value", rest.len()))
            }
        }
        Some((other, _)) => Err(format!(
            "not a SolVM value (format byte {other}, expected {FORMAT_VERSION}; see docs/cluster.md)"
        )),
        None => Err("an empty value".into()),
    }
}

/// Decodes a cluster-channel element: a value, or a rendezvous element with its ack list.
pub fn decode_element(bytes: &[u8]) -> Result<(Value, Option<String>), String> {
    match bytes.split_first() {
        Some((&RENDEZVOUS, mut rest)) => {
            let ack = match decode_body(&mut rest)? {
                Value::Str(s) => String::from_utf8_lossy(&s).into_owned(),
                _ => return Err("a rendezvous element without its ack list".into()),
            };
            let v = decode_body(&mut rest)?;
            Ok((v, Some(ack)))
        }
        _ => Ok((decode(bytes)?, None)),
    }
}

/// [`Value::from_lua`], worded for processes (what it returns may still hold functions and
/// handles: [`encode`] refuses those, with their path).
pub fn from_lua(lua: &Lua, v: &LuaValue, root: &str) -> mlua::Result<Value> {
    match Value::encode(lua, v) {
        Ok(v) => Ok(v),
        Err(EncodeError::Lua(e)) => Err(e),
        Err(EncodeError::Refused { what, path }) => Err(refusal(&what, path, root)),
    }
}

fn refusal(what: &str, mut path: Vec<String>, root: &str) -> mlua::Error {
    path.push(root.to_string());
    mlua::Error::runtime(format!(
        "cannot send {what} to another process ({}): {DATA}",
        path.join(" of ")
    ))
}

/// Writing to a `Vec` cannot fail.
fn write<T, E>(r: Result<T, E>) {
    let _ = r;
}

fn encode_body(out: &mut Vec<u8>, v: &Value, root: &str) -> mlua::Result<()> {
    let empty = Graph { nodes: Vec::new() };
    let (graph, top) = match v {
        Value::Graph(g) => (&**g, Value::Ref(0)),
        other => (&empty, other.clone()),
    };
    let mut enc = Encoder::new(graph);
    enc.value(out, &top, true)
        .map_err(|(what, path)| refusal(&what, path, root))
}

/// What was refused, and the steps to it (innermost first).
type Refused = (String, Vec<String>);

struct Encoder<'a> {
    graph: &'a Graph,
    /// Nodes reached more than once: written once with an id, then referred to.
    shared: Vec<bool>,
    anchor_of: Vec<Option<u32>>,
    next_anchor: u32,
}

impl<'a> Encoder<'a> {
    fn new(graph: &'a Graph) -> Self {
        let n = graph.nodes.len();
        let mut refs = vec![0u32; n];
        if n > 0 {
            refs[0] = 1;
        }
        for node in &graph.nodes {
            if let Node::Table { entries, .. } = node {
                for (k, v) in entries {
                    for x in [k, v] {
                        if let Value::Ref(i) = x {
                            if let Some(r) = refs.get_mut(*i as usize) {
                                *r += 1;
                            }
                        }
                    }
                }
            }
        }
        Encoder {
            graph,
            shared: refs.iter().map(|&r| r > 1).collect(),
            anchor_of: vec![None; n],
            next_anchor: 0,
        }
    }

    fn value(&mut self, out: &mut Vec<u8>, v: &Value, top: bool) -> Result<(), Refused> {
        match v {
            Value::Nil => write(rmp::encode::write_nil(out)),
            Value::Bool(b) => write(rmp::encode::write_bool(out, *b)),
            Value::Int(i) => write(rmp::encode::write_sint(out, *i)),
            Value::Num(n) => write(rmp::encode::write_f64(out, *n)),
            Value::Str(s) => write_bytes(out, s),
            Value::JsonNull if top => {
                write(rmp::encode::write_ext_meta(out, 1, EXT_JSON_NULL));
                out.push(0);
            }
            Value::JsonNull => write(rmp::encode::write_nil(out)),
            Value::Builtin(path) => return Err((format!("the builtin '{path}'"), Vec::new())),
            Value::Handle(h) => return Err((format!("a {}", h.0.kind()), Vec::new())),
            Value::Graph(_) => return Err(("a nested value graph".into(), Vec::new())),
            Value::Ref(i) => self.node(out, *i)?,
        }
        Ok(())
    }

    fn node(&mut self, out: &mut Vec<u8>, i: u32) -> Result<(), Refused> {
        let idx = i as usize;
        if let Some(Some(id)) = self.anchor_of.get(idx) {
            let mut payload = Vec::new();
            write(rmp::encode::write_uint(&mut payload, *id as u64));
            write_ext(out, EXT_REF, &payload);
            return Ok(());
        }
        let entries = match self.graph.nodes.get(idx) {
            Some(Node::Table { entries, .. }) => entries,
            Some(Node::Function { .. }) => return Err(("a function".into(), Vec::new())),
            None => return Err(("a dangling reference".into(), Vec::new())),
        };
        if !self.shared[idx] {
            return self.table(out, entries);
        }
        let id = self.next_anchor;
        self.next_anchor += 1;
        self.anchor_of[idx] = Some(id);
        // An ext's length comes first: the table is written aside, then copied.
        let mut payload = Vec::new();
        write(rmp::encode::write_uint(&mut payload, id as u64));
        self.table(&mut payload, entries)?;
        write_ext(out, EXT_ANCHOR, &payload);
        Ok(())
    }

    fn table(&mut self, out: &mut Vec<u8>, entries: &[(Value, Value)]) -> Result<(), Refused> {
        let n = entries.len();
        let mut slots: Vec<Option<&Value>> = vec![None; n];
        let is_array = n > 0
            && entries.iter().all(|(k, v)| match k {
                Value::Int(i) if *i >= 1 && (*i as u64) <= n as u64 => {
                    slots[*i as usize - 1] = Some(v);
                    true
                }
                _ => false,
            });
        if is_array {
            write(rmp::encode::write_array_len(out, n as u32));
            for (i, v) in slots.into_iter().enumerate() {
                let v = v.unwrap_or(&Value::JsonNull);
                self.value(out, v, false)
                    .map_err(|e| within(e, || format!("[{}]", i + 1)))?;
            }
            return Ok(());
        }
        write(rmp::encode::write_map_len(out, n as u32));
        for (k, v) in entries {
            self.value(out, k, false)
                .map_err(|e| within(e, || "a table key".into()))?;
            self.value(out, v, false)
                .map_err(|e| within(e, || describe_key(k)))?;
        }
        Ok(())
    }
}

fn within((what, mut path): Refused, step: impl FnOnce() -> String) -> Refused {
    path.push(step());
    (what, path)
}

fn describe_key(k: &Value) -> String {
    match k {
        Value::Str(s) => format!("field '{}'", String::from_utf8_lossy(s)),
        Value::Int(i) => format!("[{i}]"),
        Value::Num(n) => format!("[{n}]"),
        Value::Bool(b) => format!("[{b}]"),
        _ => "a table key".into(),
    }
}

fn write_bytes(out: &mut Vec<u8>, s: &[u8]) {
    // Longer than 4 GiB cannot be a Lua string that got this far; clamp rather than panic.
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    if std::str::from_utf8(s).is_ok() {
        write(rmp::encode::write_str_len(out, len));
    } else {
        write(rmp::encode::write_bin_len(out, len));
    }
    out.extend_from_slice(&s[..len as usize]);
}

fn write_ext(out: &mut Vec<u8>, ty: i8, payload: &[u8]) {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    write(rmp::encode::write_ext_meta(out, len, ty));
    out.extend_from_slice(&payload[..len as usize]);
}

/// Decodes one MessagePack value from the front of `r` (no version byte).
fn decode_body(r: &mut &[u8]) -> Result<Value, String> {
    let mut dec = Decoder {
        nodes: Vec::new(),
        anchors: HashMap::new(),
        depth: 0,
    };
    let top = dec.value(r, false)?;
    Ok(match top {
        Value::Ref(0) if !dec.nodes.is_empty() => {
            Value::Graph(Arc::new(Graph { nodes: dec.nodes }))
        }
        other => other,
    })
}

struct Decoder {
    nodes: Vec<Node>,
    /// Ext-1 id → node.
    anchors: HashMap<u64, u32>,
    depth: usize,
}

fn take<'a>(r: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if r.len() < n {
        return Err("the value ends early".into());
    }
    let (head, rest) = r.split_at(n);
    *r = rest;
    Ok(head)
}

fn be(r: &mut &[u8], n: usize) -> Result<u64, String> {
    Ok(take(r, n)?
        .iter()
        .fold(0u64, |acc, &b| (acc << 8) | b as u64))
}

impl Decoder {
    fn value(&mut self, r: &mut &[u8], in_table: bool) -> Result<Value, String> {
        use rmp::Marker as M;
        let marker = M::from_u8(take(r, 1)?[0]);
        Ok(match marker {
            M::FixPos(n) => Value::Int(n as i64),
            M::FixNeg(n) => Value::Int(n as i64),
            M::U8 => Value::Int(be(r, 1)? as i64),
            M::U16 => Value::Int(be(r, 2)? as i64),
            M::U32 => Value::Int(be(r, 4)? as i64),
            M::U64 => {
                let u = be(r, 8)?;
                // Beyond Lua's integers: the nearest float, as Lua reads such a numeral.
                i64::try_from(u).map_or(Value::Num(u as f64), Value::Int)
            }
            M::I8 => Value::Int(be(r, 1)? as u8 as i8 as i64),
            M::I16 => Value::Int(be(r, 2)? as u16 as i16 as i64),
            M::I32 => Value::Int(be(r, 4)? as u32 as i32 as i64),
            M::I64 => Value::Int(be(r, 8)? as i64),
            M::F32 => Value::Num(f32::from_bits(be(r, 4)? as u32) as f64),
            M::F64 => Value::Num(f64::from_bits(be(r, 8)?)),
            M::Null if in_table => Value::JsonNull,
            M::Null => Value::Nil,
            M::True => Value::Bool(true),
            M::False => Value::Bool(false),
            M::FixStr(n) => Value::Str(Bytes::from(take(r, n as usize)?)),
            M::Str8 | M::Bin8 => {
                let n = be(r, 1)? as usize;
                Value::Str(Bytes::from(take(r, n)?))
            }
            M::Str16 | M::Bin16 => {
                let n = be(r, 2)? as usize;
                Value::Str(Bytes::from(take(r, n)?))
            }
            M::Str32 | M::Bin32 => {
                let n = be(r, 4)? as usize;
                Value::Str(Bytes::from(take(r, n)?))
            }
            M::FixArray(_) | M::Array16 | M::Array32 | M::FixMap(_) | M::Map16 | M::Map32 => {
                let idx = self.reserve();
                self.table(r, marker, idx)?;
                Value::Ref(idx)
            }
            M::FixExt1 => self.ext(r, 1)?,
            M::FixExt2 => self.ext(r, 2)?,
            M::FixExt4 => self.ext(r, 4)?,
            M::FixExt8 => self.ext(r, 8)?,
            M::FixExt16 => self.ext(r, 16)?,
            M::Ext8 => {
                let n = be(r, 1)? as usize;
                self.ext(r, n)?
            }
            M::Ext16 => {
                let n = be(r, 2)? as usize;
                self.ext(r, n)?
            }
            M::Ext32 => {
                let n = be(r, 4)? as usize;
                self.ext(r, n)?
            }
            M::Reserved => return Err("the reserved MessagePack byte 0xc1".into()),
        })
    }

    fn reserve(&mut self) -> u32 {
        self.nodes.push(Node::Table {
            entries: Vec::new(),
            meta: None,
        });
        (self.nodes.len() - 1) as u32
    }

    /// An ext value of `len` bytes (its type byte not yet read).
    fn ext(&mut self, r: &mut &[u8], len: usize) -> Result<Value, String> {
        let ty = take(r, 1)?[0] as i8;
        let mut payload = take(r, len)?;
        match ty {
            EXT_JSON_NULL => Ok(Value::JsonNull),
            EXT_ANCHOR => {
                let id = self.uint(&mut payload)?;
                let marker = rmp::Marker::from_u8(*take(&mut payload, 1)?.first().unwrap_or(&0));
                let idx = self.reserve();
                self.anchors.insert(id, idx);
                self.table(&mut payload, marker, idx)?;
                if !payload.is_empty() {
                    return Err("bytes after a shared table".into());
                }
                Ok(Value::Ref(idx))
            }
            EXT_REF => {
                let id = self.uint(&mut payload)?;
                self.anchors
                    .get(&id)
                    .map(|&i| Value::Ref(i))
                    .ok_or_else(|| {
                        format!("a reference to table {id}, which came before no anchor")
                    })
            }
            other => Err(format!("the unknown MessagePack extension type {other}")),
        }
    }

    fn uint(&mut self, r: &mut &[u8]) -> Result<u64, String> {
        match self.value(r, false)? {
            Value::Int(i) if i >= 0 => Ok(i as u64),
            _ => Err("a table id that is not an unsigned integer".into()),
        }
    }

    /// Reads the array or map that `marker` starts into node `idx`.
    fn table(&mut self, r: &mut &[u8], marker: rmp::Marker, idx: u32) -> Result<(), String> {
        use rmp::Marker as M;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("a value nested deeper than {MAX_DEPTH} levels"));
        }
        let (len, is_map) = match marker {
            M::FixArray(n) => (n as usize, false),
            M::Array16 => (be(r, 2)? as usize, false),
            M::Array32 => (be(r, 4)? as usize, false),
            M::FixMap(n) => (n as usize, true),
            M::Map16 => (be(r, 2)? as usize, true),
            M::Map32 => (be(r, 4)? as usize, true),
            _ => return Err("a shared table that is not an array or a map".into()),
        };
        // Every element takes at least a byte: a claimed length cannot reserve more than that.
        let mut entries = Vec::with_capacity(len.min(r.len()));
        for i in 0..len {
            if is_map {
                let k = self.value(r, false)?;
                match k {
                    Value::Nil => return Err("a table key that is nil".into()),
                    Value::Num(n) if n.is_nan() => return Err("a table key that is NaN".into()),
                    _ => {}
                }
                let v = self.value(r, true)?;
                entries.push((k, v));
            } else {
                let v = self.value(r, true)?;
                entries.push((Value::Int(i as i64 + 1), v));
            }
        }
        self.nodes[idx as usize] = Node::Table {
            entries,
            meta: None,
        };
        self.depth -= 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::runtime::state::GoState;
    use crate::runtime::Shared;

    fn with_state(f: impl FnOnce(&Lua)) {
        let rt = Shared::new(Config::default(), ".".into());
        let state = GoState::new(&rt, rt.next_goroutine_id()).expect("state");
        f(&state.lua);
        crate::runtime::goroutine::unregister(&rt, state.ctx.gid);
    }

    fn enc(lua: &Lua, code: &str) -> mlua::Result<Vec<u8>> {
        let v: LuaValue = lua.load(code).eval()?;
        encode_lua(lua, &v, "the value")
    }

    #[test]
    fn scalars_have_their_messagepack_bytes() {
        with_state(|lua| {
            assert_eq!(enc(lua, "return nil").unwrap(), [1, 0xc0]);
            assert_eq!(enc(lua, "return true").unwrap(), [1, 0xc3]);
            assert_eq!(enc(lua, "return 5").unwrap(), [1, 5]);
            assert_eq!(enc(lua, "return -1").unwrap(), [1, 0xff]);
            let mut f = vec![1, 0xcb];
            f.extend_from_slice(&5.0f64.to_bits().to_be_bytes());
            assert_eq!(enc(lua, "return 5.0").unwrap(), f, "floats stay floats");
            assert_eq!(enc(lua, "return 'hi'").unwrap(), [1, 0xa2, b'h', b'i']);
            assert_eq!(enc(lua, "return '\\255'").unwrap(), [1, 0xc4, 1, 0xff]);
            assert_eq!(enc(lua, "return json_null").unwrap(), [1, 0xd4, 0, 0]);
            assert_eq!(
                enc(lua, "return {1, 2}").unwrap(),
                [1, 0x92, 1, 2],
                "a sequence is an array"
            );
            assert_eq!(
                enc(lua, "return {a = json_null}").unwrap(),
                [1, 0x81, 0xa1, b'a', 0xc0]
            );
        });
    }

    #[test]
    fn shared_tables_and_cycles_keep_their_shape() {
        with_state(|lua| {
            let bytes = enc(
                lua,
                "local s = {n = 1}; local t = {a = s, b = s}; t.self = t; return t",
            )
            .unwrap();
            let back = decode(&bytes).unwrap().to_lua(lua).unwrap();
            let ok: bool = lua
                .load("local t = ...; return t.a == t.b and t.self == t and t.a.n == 1")
                .call(back)
                .unwrap();
            assert!(ok);
        });
    }

    #[test]
    fn functions_and_handles_are_refused_with_their_path() {
        with_state(|lua| {
            let e = enc(lua, "return {jobs = {{cb = function() end}}}")
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("cannot send a function to another process (field 'cb' of [1] of field 'jobs' of the value)"),
                "{e}"
            );
            let e = enc(lua, "return {p = print}").unwrap_err().to_string();
            assert!(
                e.contains("the builtin 'print'") && e.contains("field 'p'"),
                "{e}"
            );
            let e = enc(lua, "return {c = chan(1)}").unwrap_err().to_string();
            assert!(e.contains("a channel") && e.contains("field 'c'"), "{e}");
            let e = enc(lua, "return {co = coroutine.create(print)}")
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("cannot send a coroutine to another process (field 'co'"),
                "{e}"
            );
        });
    }

    #[test]
    fn metatables_stay_behind_and_data_round_trips() {
        with_state(|lua| {
            let v: LuaValue = lua
                .load("return setmetatable({x = 1.5, y = 2, s = 'a\\0b', [3.5] = false, n = {}}, {__index = print})")
                .eval()
                .unwrap();
            let back = round_trip(lua, &v, "v").unwrap().to_lua(lua).unwrap();
            let ok: bool = lua
                .load(
                    "local t = ...; return getmetatable(t) == nil and math.type(t.x) == 'float' \
                     and math.type(t.y) == 'integer' and t.s == 'a\\0b' and t[3.5] == false \
                     and next(t.n) == nil",
                )
                .call(back)
                .unwrap();
            assert!(ok);
        });
    }

    #[test]
    fn stored_integers_are_decimal() {
        assert_eq!(encode_stored(&Value::Int(-42), "v").unwrap(), b"-42");
        assert!(matches!(decode_stored(b"-42"), Ok(Value::Int(-42))));
        assert!(decode_stored(b"12x").is_err());
        assert!(matches!(decode_stored(&[1, 0xc3]), Ok(Value::Bool(true))));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        for bytes in [
            &[][..],
            &[7, 1],
            &[1],
            &[1, 0xc1],
            &[1, 0xdd, 0xff, 0xff, 0xff, 0xff],
            &[1, 0x81, 0xc0, 1],
            &[1, 0xd5, 2, 0, 9],
            &[1, 0xd4, 9, 0],
            &[1, 1, 2],
        ] {
            assert!(decode(bytes).is_err(), "{bytes:?} accepted");
        }
        let deep: Vec<u8> = std::iter::once(1)
            .chain(std::iter::repeat_n(0x91, 10_000))
            .chain([0xc0])
            .collect();
        assert!(decode(&deep).is_err());
        // Another program's uint64 beyond Lua's integers arrives as the nearest float.
        let mut big = vec![1, 0xcf];
        big.extend_from_slice(&u64::MAX.to_be_bytes());
        assert!(matches!(decode(&big), Ok(Value::Num(_))));
    }

    #[test]
    fn rendezvous_elements_carry_their_ack_list() {
        let bytes = encode_rendezvous("solvm:ack:1", &Value::Int(7), "v").unwrap();
        let (v, ack) = decode_element(&bytes).unwrap();
        assert!(matches!(v, Value::Int(7)));
        assert_eq!(ack.as_deref(), Some("solvm:ack:1"));
        let (_, ack) = decode_element(&encode(&Value::Int(7), "v").unwrap()).unwrap();
        assert!(ack.is_none());
    }
}
