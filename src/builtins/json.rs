//! The JSON builtins: `json_encode`, `json_decode`, `json_array`, and the `json_null` /
//! `json_array_mt` markers. Both directions go straight between Lua values and bytes (no intermediate
//! tree), and both stop at [`MAX_DEPTH`] nesting levels so no input can overflow a goroutine's small
//! stack. How values map (arrays, objects, null, empty tables) is `serde_lua`'s, shared with the
//! other data formats.

use std::ffi::c_void;

use mlua::{Lua, MultiValue, Table, Value as LuaValue};
use serde_json::ser::{CompactFormatter, Formatter};

use super::serde_lua::{self, push_index, push_key, write_json_string, ObjectKey, Shape};
pub use super::serde_lua::{EncodeError, Problem, MAX_DEPTH};
use crate::runtime::args::{arg_error, bad_argument, check_string, nil_err, type_name};

/// Largest `indent` accepted by `json_encode`; beyond this it is surely a mistake.
const MAX_INDENT: i64 = 64;

/// Installs `json_null`, `json_array_mt`, `json_array`, `json_encode` and `json_decode`.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    let globals = lua.globals();
    let array_mt = serde_lua::array_metatable(lua)?;
    globals.set("json_null", LuaValue::NULL)?;
    globals.set("json_array_mt", array_mt.clone())?;

    let mt = array_mt;
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
            Err(e) => Err(e.into_lua("json_encode")),
        }
    })?;
    globals.set("json_encode", json_encode)?;

    let json_decode = lua.create_function(move |lua, args: MultiValue| {
        let text = check_string(lua, &args, 1, "json_decode")?;
        match decode(lua, &text.as_bytes())? {
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

/// Encodes `value` as JSON text: compact when `indent` is 0, otherwise pretty-printed with `indent`
/// spaces per level (serde_json's pretty layout).
pub fn encode(value: &LuaValue, indent: usize) -> Result<Vec<u8>, EncodeError> {
    let mut encoder = Encoder {
        out: Vec::with_capacity(128),
        indent,
        open: Vec::new(),
    };
    match encoder.run(value) {
        Ok(()) => Ok(encoder.out),
        Err(problem) => Err(EncodeError {
            problem,
            path: encoder.path(),
        }),
    }
}

/// Writes JSON without recursion: the tables being written are an explicit stack, so nesting costs
/// heap, not the (small) thread stack, whatever the build profile.
struct Encoder {
    out: Vec<u8>,
    indent: usize,
    /// The containers from the root to the one being written; also the cycle check and the path.
    open: Vec<OpenTable>,
}

/// A container being written, and how far it has got.
struct OpenTable {
    table: Table,
    ptr: *const c_void,
    members: Members,
    /// How many members have been started; the last one started is the one being written.
    done: usize,
}

enum Members {
    Array {
        len: usize,
    },
    /// Keys in the order they are written.
    Object {
        keys: Vec<ObjectKey>,
    },
}

impl Encoder {
    fn run(&mut self, root: &LuaValue) -> Result<(), Problem> {
        self.value(root)?;
        while let Some(top) = self.open.last_mut() {
            let i = top.done;
            let item = match &top.members {
                Members::Array { len } if i < *len => Some((top.table.raw_get(i + 1)?, None)),
                Members::Object { keys } if i < keys.len() => {
                    Some((serde_lua::member(&top.table, &keys[i])?, Some(i)))
                }
                _ => None,
            };
            let level = self.open.len();
            match item {
                Some((item, key_index)) => {
                    if let Some(top) = self.open.last_mut() {
                        top.done += 1;
                    }
                    if i > 0 {
                        self.out.push(b',');
                    }
                    self.newline(level);
                    if let Some(k) = key_index {
                        self.key(k);
                    }
                    self.value(&item)?;
                }
                None => {
                    let closing = match self.open.pop().map(|t| t.members) {
                        Some(Members::Object { .. }) => b'}',
                        _ => b']',
                    };
                    self.newline(level - 1);
                    self.out.push(closing);
                }
            }
        }
        Ok(())
    }

    /// Writes the `"key":` of member `k` of the innermost object.
    fn key(&mut self, k: usize) {
        if let Some(OpenTable {
            members: Members::Object { keys },
            ..
        }) = self.open.last()
        {
            write_json_string(&mut self.out, &keys[k].text);
        }
        self.out.push(b':');
        if self.indent > 0 {
            self.out.push(b' ');
        }
    }

    /// Writes a scalar, or opens a table (whose members the loop in `run` then writes).
    fn value(&mut self, value: &LuaValue) -> Result<(), Problem> {
        match value {
            LuaValue::Nil => self.out.extend_from_slice(b"null"),
            LuaValue::LightUserData(p) if p.0.is_null() => self.out.extend_from_slice(b"null"),
            LuaValue::Boolean(true) => self.out.extend_from_slice(b"true"),
            LuaValue::Boolean(false) => self.out.extend_from_slice(b"false"),
            LuaValue::Integer(i) => CompactFormatter
                .write_i64(&mut self.out, *i)
                .map_err(mlua::Error::external)?,
            LuaValue::Number(n) if n.is_nan() => return Err(Problem::NaN),
            LuaValue::Number(n) if n.is_infinite() => {
                return Err(Problem::Infinite { negative: *n < 0.0 })
            }
            // ryu's shortest round-trip form; it always keeps a `.` or an exponent, so a float
            // stays a float when decoded again.
            LuaValue::Number(n) => CompactFormatter
                .write_f64(&mut self.out, *n)
                .map_err(mlua::Error::external)?,
            LuaValue::String(s) => {
                let bytes = s.as_bytes();
                let text = std::str::from_utf8(&bytes).map_err(|_| Problem::InvalidUtf8String)?;
                write_json_string(&mut self.out, text);
            }
            LuaValue::Table(t) => self.open_table(t)?,
            other => return Err(Problem::Unsupported(type_name(other))),
        }
        Ok(())
    }

    fn open_table(&mut self, t: &Table) -> Result<(), Problem> {
        if self.open.len() >= MAX_DEPTH {
            return Err(Problem::TooDeep);
        }
        let ptr = t.to_pointer();
        if self.open.iter().any(|open| open.ptr == ptr) {
            return Err(Problem::Cycle);
        }
        let members = match serde_lua::shape(t)? {
            Shape::Array(len) => Members::Array { len },
            Shape::Object(keys) if !keys.is_empty() => Members::Object { keys },
            Shape::Object(_) => {
                self.out.extend_from_slice(b"{}");
                return Ok(());
            }
            Shape::EmptyArray => {
                self.out.extend_from_slice(b"[]");
                return Ok(());
            }
        };
        self.out.push(match members {
            Members::Array { .. } => b'[',
            Members::Object { .. } => b'{',
        });
        self.open.push(OpenTable {
            table: t.clone(),
            ptr,
            members,
            done: 0,
        });
        Ok(())
    }

    /// In pretty mode, starts a new line indented for `level`; nothing in compact mode. Only called
    /// inside a non-empty container, so `[]` and `{}` stay on one line.
    fn newline(&mut self, level: usize) {
        if self.indent > 0 {
            self.out.push(b'\n');
            self.out.resize(self.out.len() + self.indent * level, b' ');
        }
    }

    /// Where the encoder is: the member being written in each open table.
    fn path(&self) -> String {
        let mut path = String::from("$");
        for open in &self.open {
            let Some(i) = open.done.checked_sub(1) else {
                continue;
            };
            match &open.members {
                Members::Array { .. } => push_index(&mut path, i),
                Members::Object { keys } => push_key(&mut path, &keys[i]),
            }
        }
        path
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/// Decodes JSON text into Lua values in `lua`. The outer `Err` is a failure of the Lua state itself
/// (out of memory); the inner `Err` is a message about bad input, with its line and column.
pub fn decode(lua: &Lua, input: &[u8]) -> mlua::Result<Result<LuaValue, String>> {
    let mut de = serde_json::Deserializer::from_slice(input);
    // `serde_lua`'s depth check (MAX_DEPTH, counted the same way as the encoder) replaces
    // serde_json's, which would refuse a level earlier.
    de.disable_recursion_limit();
    let result = serde_lua::decode(lua, &mut de, serde_lua::DecodeOptions::default())?
        .and_then(|value| de.end().map(|()| value));
    Ok(result.map_err(|e| describe_decode_error(&e, input)))
}

/// serde_json's message with our conventions: columns are 1-based everywhere (serde_json says
/// `column 0` before the first byte of a line, e.g. for empty input), and bytes that are not UTF-8
/// are called that (serde_json reports them as an "invalid unicode code point").
fn describe_decode_error(e: &serde_json::Error, input: &[u8]) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let msg = text.strip_suffix(&suffix).unwrap_or(&text);
    if msg == "invalid unicode code point" {
        if let Err(bad) = std::str::from_utf8(input) {
            let at = bad.valid_up_to();
            let line = 1 + input[..at].iter().filter(|&&b| b == b'\n').count();
            let line_start = input[..at]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1);
            return format!(
                "invalid UTF-8 at line {line} column {}",
                at - line_start + 1
            );
        }
    }
    format!("{msg} at line {} column {}", e.line(), e.column().max(1))
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

    /// `json_encode(<expr>)` evaluated in Lua.
    fn enc(lua: &Lua, expr: &str) -> String {
        eval_str(lua, &format!("return json_encode({expr})"))
    }

    /// The error `json_encode(<expr>)` raises, reduced to its `json_encode: ...` line.
    fn enc_err(lua: &Lua, expr: &str) -> String {
        let msg = error_of(lua, &format!("json_encode({expr})"));
        let start = msg
            .find("json_encode: ")
            .unwrap_or_else(|| panic!("{expr}: {msg}"));
        msg[start..].lines().next().unwrap_or_default().to_string()
    }

    /// `json_decode(<text>)`'s error message (second result).
    fn dec_err(lua: &Lua, text: &str) -> String {
        let f: mlua::Function = lua.globals().get("json_decode").expect("json_decode");
        let (value, err): (LuaValue, Option<String>) = f.call(text).expect("json_decode call");
        assert!(value.is_nil(), "{text}: expected nil, got {value:?}");
        err.unwrap_or_else(|| panic!("{text}: no error message"))
    }

    #[test]
    fn scalars() {
        let lua = lua();
        assert_eq!(enc(&lua, "nil"), "null");
        assert_eq!(enc(&lua, ""), "null");
        assert_eq!(enc(&lua, "json_null"), "null");
        assert_eq!(enc(&lua, "true"), "true");
        assert_eq!(enc(&lua, "false"), "false");
        assert_eq!(enc(&lua, "1"), "1");
        assert_eq!(enc(&lua, "-42"), "-42");
        assert_eq!(enc(&lua, "math.maxinteger"), "9223372036854775807");
        assert_eq!(enc(&lua, "math.mininteger"), "-9223372036854775808");
        assert_eq!(enc(&lua, "1.5"), "1.5");
        assert_eq!(enc(&lua, "3.0"), "3.0");
        assert_eq!(enc(&lua, "-0.0"), "-0.0");
        assert_eq!(enc(&lua, "0.1"), "0.1");
        assert_eq!(enc(&lua, "1e300"), "1e+300");
        assert_eq!(enc(&lua, "'hi'"), "\"hi\"");
    }

    #[test]
    fn string_escapes() {
        let lua = lua();
        assert_eq!(
            enc(&lua, r#""a\"b\\c\n\r\t\b\f\0\31/""#),
            r#""a\"b\\c\n\r\t\b\f\u0000\u001f/""#
        );
        assert_eq!(enc(&lua, "'héllo 世界 🎉'"), "\"héllo 世界 🎉\"");
        assert_eq!(enc(&lua, "'\\127'"), "\"\u{7f}\"");
    }

    #[test]
    fn arrays_and_objects() {
        let lua = lua();
        assert_eq!(enc(&lua, "{}"), "{}");
        assert_eq!(enc(&lua, "{1, 2, 3}"), "[1,2,3]");
        assert_eq!(enc(&lua, "{{1, {}}, {{}}}"), "[[1,{}],[{}]]");
        assert_eq!(
            enc(&lua, "{b = 1, a = 2, c = {x = true}}"),
            r#"{"a":2,"b":1,"c":{"x":true}}"#
        );
        // Keys sort by the bytes of their text; integer keys become their decimal text.
        assert_eq!(
            enc(&lua, "{[10] = 'a', [2] = 'b', x = 'c', B = 'd'}"),
            r#"{"10":"a","2":"b","B":"d","x":"c"}"#
        );
        // Keys not exactly 1..n make an object.
        assert_eq!(enc(&lua, "{1, nil, 3}"), r#"{"1":1,"3":3}"#);
        assert_eq!(enc(&lua, "{[0] = 'z', 'a'}"), r#"{"0":"z","1":"a"}"#);
        assert_eq!(enc(&lua, "{1, 2, n = 2}"), r#"{"1":1,"2":2,"n":2}"#);
        assert_eq!(enc(&lua, "{[-1] = 1}"), r#"{"-1":1}"#);
        // A sequence filled in reverse order (hash part) is still an array.
        assert_eq!(
            enc(
                &lua,
                "(function() local t = {} for i = 5, 1, -1 do t[i] = i end return t end)()"
            ),
            "[1,2,3,4,5]"
        );
        assert_eq!(enc(&lua, "{1, json_null, 3}"), "[1,null,3]");
        // Shared (non-cyclic) references are fine.
        assert_eq!(
            enc(
                &lua,
                "(function() local s = {1} return {a = s, b = s} end)()"
            ),
            r#"{"a":[1],"b":[1]}"#
        );
        // Metamethods are not consulted.
        assert_eq!(enc(&lua, "setmetatable({}, {__index = function() return 1 end, __len = function() return 3 end})"), "{}");
    }

    #[test]
    fn array_marker() {
        let lua = lua();
        assert_eq!(enc(&lua, "json_array({})"), "[]");
        assert_eq!(enc(&lua, "setmetatable({}, json_array_mt)"), "[]");
        // The field is what counts, not the identity of the metatable.
        assert_eq!(enc(&lua, "setmetatable({}, {__jsontype = 'array'})"), "[]");
        assert_eq!(enc(&lua, "{list = json_array({})}"), r#"{"list":[]}"#);
        assert_eq!(enc(&lua, "json_array({1, 2})"), "[1,2]");
        assert_eq!(
            eval_str(&lua, "local t = {} return tostring(json_array(t) == t)"),
            "true"
        );
        let err = error_of(&lua, "json_array(5)");
        assert!(
            err.contains("bad argument #1 to 'json_array' (table expected, got number)"),
            "{err}"
        );
    }

    #[test]
    fn indent() {
        let lua = lua();
        assert_eq!(
            enc(&lua, "{a = {1, 2}, b = {}, c = json_array({}), d = {x = 'y'}}, {indent = 2}"),
            "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {},\n  \"c\": [],\n  \"d\": {\n    \"x\": \"y\"\n  }\n}"
        );
        assert_eq!(enc(&lua, "{1}, {indent = 4}"), "[\n    1\n]");
        assert_eq!(enc(&lua, "{1}, {indent = 0}"), "[1]");
        assert_eq!(enc(&lua, "5, {indent = 2}"), "5");
        for bad in [
            "{indent = -1}",
            "{indent = 1.5}",
            "{indent = 'x'}",
            "{indent = 65}",
        ] {
            let err = error_of(&lua, &format!("json_encode({{}}, {bad})"));
            assert!(
                err.contains("bad argument #2 to 'json_encode' (indent must be an integer"),
                "{err}"
            );
        }
        let err = error_of(&lua, "json_encode({}, 'x')");
        assert!(
            err.contains("bad argument #2 to 'json_encode' (table expected, got string)"),
            "{err}"
        );
    }

    #[test]
    fn encode_errors_say_where() {
        let lua = lua();
        assert_eq!(
            enc_err(&lua, "print"),
            "json_encode: cannot encode a function at $"
        );
        assert_eq!(
            enc_err(&lua, "{handlers = {1, print}}"),
            "json_encode: cannot encode a function at $.handlers[2]"
        );
        assert_eq!(
            enc_err(&lua, "{x = 0/0}"),
            "json_encode: NaN cannot be encoded at $.x"
        );
        assert_eq!(
            enc_err(&lua, "{1/0}"),
            "json_encode: inf cannot be encoded at $[1]"
        );
        assert_eq!(
            enc_err(&lua, "{['a b'] = -math.huge}"),
            r#"json_encode: -inf cannot be encoded at $["a b"]"#
        );
        assert_eq!(
            enc_err(
                &lua,
                "(function() local t = {a = {}} t.a.self = t return t end)()"
            ),
            "json_encode: cycle detected at $.a.self"
        );
        assert_eq!(
            enc_err(&lua, "(function() local t = {} t[1] = t return t end)()"),
            "json_encode: cycle detected at $[1]"
        );
        assert_eq!(
            enc_err(&lua, "{name = '\\xff'}"),
            "json_encode: invalid UTF-8 in string at $.name"
        );
        assert_eq!(
            enc_err(&lua, "{['\\xff'] = 1}"),
            "json_encode: invalid UTF-8 in table key at $"
        );
        assert_eq!(
            enc_err(&lua, "{[true] = 1}"),
            "json_encode: table key must be a string or an integer, got boolean at $"
        );
        assert_eq!(
            enc_err(&lua, "{a = {[1.5] = 1}}"),
            "json_encode: table key must be a string or an integer, got float 1.5 at $.a"
        );
        assert_eq!(
            enc_err(&lua, "{[{}] = 1}"),
            "json_encode: table key must be a string or an integer, got table at $"
        );
        assert_eq!(
            enc_err(&lua, "coroutine.create(print)"),
            "json_encode: cannot encode a thread at $"
        );
        assert_eq!(
            enc_err(&lua, "{io.stdout}"),
            "json_encode: cannot encode a userdata at $[1]"
        );
    }

    #[test]
    fn encode_depth_limit() {
        let lua = lua();
        let nest = |n: usize| {
            format!("(function() local t = 1 for _ = 1, {n} do t = {{t}} end return t end)()")
        };
        let ok = enc(&lua, &nest(MAX_DEPTH));
        assert_eq!(
            ok,
            format!("{}1{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH))
        );
        let err = enc_err(&lua, &nest(MAX_DEPTH + 1));
        assert_eq!(
            err,
            format!(
                "json_encode: nesting deeper than 128 levels at ${}",
                "[1]".repeat(MAX_DEPTH)
            )
        );
        let err = enc_err(&lua, &nest(100_000));
        assert!(
            err.starts_with("json_encode: nesting deeper than 128 levels at $[1][1]"),
            "{err}"
        );
    }

    #[test]
    fn decode_values() {
        let lua = lua();
        let check = |code: &str| {
            let ok: bool = lua
                .load(code)
                .eval()
                .unwrap_or_else(|e| panic!("{code}: {e}"));
            assert!(ok, "{code}");
        };
        check("return math.type(json_decode('1')) == 'integer'");
        check("return math.type(json_decode('1.0')) == 'float' and json_decode('1.0') == 1");
        check("return math.type(json_decode('1e2')) == 'float' and json_decode('1e2') == 100");
        check("return math.type(json_decode('-7')) == 'integer' and json_decode('-7') == -7");
        check("return json_decode('9007199254740993') == 9007199254740993");
        check("return math.type(json_decode('9007199254740993')) == 'integer'");
        check("return json_decode('9223372036854775807') == math.maxinteger");
        check("return json_decode('-9223372036854775808') == math.mininteger");
        check("local v = json_decode('12345678901234567890') return math.type(v) == 'float' and v == 12345678901234567890.0");
        check("local v = json_decode('-9223372036854775809') return math.type(v) == 'float'");
        check("return json_decode('true') == true and json_decode('false') == false");
        check("return json_decode('null') == json_null");
        check("return json_decode('\"h\\\\u00e9\\\\n\"') == 'hé\\n'");
        check("return json_decode('\"😀 中文\"') == '😀 中文'");
        check("return json_decode('\"\\\\ud83d\\\\ude00\"') == '😀'");
        check("return json_decode('  [1]  ')[1] == 1");
        check("local t = json_decode('[1, null, 3]') return #t == 3 and t[2] == json_null and t[3] == 3");
        check("local t = json_decode('{\"a\": null}') return t.a == json_null");
        check(
            "local t = json_decode('{\"a\": {\"b\": [1, [2, [3]]]}}') return t.a.b[2][2][1] == 3",
        );
        check("local t = json_decode('{\"1\": \"x\"}') return t['1'] == 'x' and t[1] == nil");
        check("local t = json_decode('[]') return next(t) == nil and getmetatable(t) == json_array_mt");
        check("local t = json_decode('{}') return next(t) == nil and getmetatable(t) == nil");
        check("return getmetatable(json_decode('[1]')) == nil");
        // Numbers are accepted as strings, as Lua's own string functions do.
        check("return json_decode(42) == 42");
    }

    #[test]
    fn round_trips() {
        let lua = lua();
        for text in [
            "[]",
            "{}",
            "[[],{}]",
            r#"{"a":[1,2.5,"x",null,true],"b":{"c":[]}}"#,
            r#"[1,3.0,-0.5,1e+300,12345678901234567890.0]"#,
            r#""😀 中文 héllo\n\"q\"""#,
            "[null,null]",
            "9007199254740993",
        ] {
            let code = format!("return json_encode(json_decode([==[{text}]==]))");
            let back = eval_str(&lua, &code);
            let expected = if text.contains("12345678901234567890.0") {
                "[1,3.0,-0.5,1e+300,1.2345678901234567e+19]".to_string()
            } else {
                text.to_string()
            };
            assert_eq!(back, expected);
        }
        assert_eq!(
            enc(&lua, "json_decode('12345678901234567890')"),
            "1.2345678901234567e+19"
        );
    }

    #[test]
    fn decode_errors_have_line_and_column() {
        let lua = lua();
        assert_eq!(
            dec_err(&lua, "[1, }"),
            "json_decode: expected value at line 1 column 5"
        );
        assert_eq!(
            dec_err(&lua, "{\n  \"a\": 1,\n  \"b\" 2\n}"),
            "json_decode: expected `:` at line 3 column 7"
        );
        assert_eq!(
            dec_err(&lua, "[1] x"),
            "json_decode: trailing characters at line 1 column 5"
        );
        for text in [
            "",
            "[1,",
            "{\"a\"",
            "nul",
            "'x'",
            "[1,]",
            "{\"a\":1,}",
            "\"\\x\"",
            "01",
            "NaN",
        ] {
            let err = dec_err(&lua, text);
            assert!(err.starts_with("json_decode: "), "{text}: {err}");
            assert!(
                err.contains(" at line ") && err.contains(" column "),
                "{text}: {err}"
            );
        }
        let err = dec_err(&lua, "\"\u{0}\"");
        assert!(err.contains("control character"), "{err}");
    }

    #[test]
    fn decode_rejects_invalid_utf8() {
        let lua = lua();
        let f: mlua::Function = lua.globals().get("json_decode").expect("json_decode");
        let text = lua.create_string(b"\"\xff\"").expect("string");
        let (value, err): (LuaValue, Option<String>) = f.call(text).expect("call");
        assert!(value.is_nil());
        assert_eq!(
            err.as_deref(),
            Some("json_decode: invalid UTF-8 at line 1 column 2")
        );
        let text = lua.create_string(b"[\"a\",\n \"b\xc3\"]").expect("string");
        let (_, err): (LuaValue, Option<String>) = f.call(text).expect("call");
        assert_eq!(
            err.as_deref(),
            Some("json_decode: invalid UTF-8 at line 2 column 4")
        );
        // A code point spelled as an escape is not a UTF-8 problem.
        assert!(!dec_err(&lua, "\"\\udc00\"").contains("UTF-8"));
    }

    #[test]
    fn decode_error_columns_are_one_based() {
        let lua = lua();
        assert_eq!(
            dec_err(&lua, ""),
            "json_decode: EOF while parsing a value at line 1 column 1"
        );
        assert_eq!(
            dec_err(&lua, "[1,\n"),
            "json_decode: EOF while parsing a value at line 2 column 1"
        );
    }

    #[test]
    fn decode_depth_limit() {
        let lua = lua();
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let code = format!("return json_encode(json_decode('{}'))", deep(MAX_DEPTH));
        assert_eq!(eval_str(&lua, &code), deep(MAX_DEPTH));
        assert_eq!(
            dec_err(&lua, &deep(MAX_DEPTH + 1)),
            "json_decode: nesting deeper than 128 levels at line 1 column 130"
        );
        let objects = format!("{}{}", "{\"a\":".repeat(200_000), "}".repeat(200_000));
        assert!(dec_err(&lua, &objects).contains("nesting deeper than 128 levels"));
        assert!(dec_err(&lua, &"[".repeat(1_000_000)).contains("nesting deeper than 128 levels"));
    }

    #[test]
    fn decode_bad_argument() {
        let lua = lua();
        let err = error_of(&lua, "json_decode({})");
        assert!(
            err.contains("bad argument #1 to 'json_decode' (string expected, got table)"),
            "{err}"
        );
        let err = error_of(&lua, "json_decode()");
        assert!(
            err.contains("bad argument #1 to 'json_decode' (string expected, got no value)"),
            "{err}"
        );
    }

    /// Goroutines run on ~1 MiB stacks: the deepest accepted nesting must fit in far less, both ways,
    /// even in an unoptimised build.
    #[test]
    fn deep_nesting_fits_a_small_stack() {
        let worker = std::thread::Builder::new()
            .stack_size(512 * 1024)
            .spawn(|| {
                let lua = lua();
                let half = MAX_DEPTH / 2;
                let text = format!("{}1{}", "[{\"k\":".repeat(half), "}]".repeat(half));
                let code = format!("return json_encode(json_decode('{text}'), {{indent = 1}})");
                let pretty = eval_str(&lua, &code);
                let back = format!("return json_encode(json_decode([==[{pretty}]==]))");
                eval_str(&lua, &back) == text
            })
            .expect("spawn");
        assert!(worker.join().expect("no stack overflow"));
    }

    #[test]
    fn large_values() {
        let lua = lua();
        let code = "local t = {} for i = 1, 200000 do t[i] = {id = i, name = 'n' .. i} end
                    local s = json_encode(t) local back = json_decode(s)
                    local o = {} for i = 1, 200000 do o['k' .. i] = i end
                    local o2 = json_decode(json_encode(o))
                    return #back == 200000 and back[200000].name == 'n200000' and o2.k77 == 77";
        assert!(lua.load(code).eval::<bool>().expect("large values"));
    }

    #[test]
    fn pcall_message() {
        let lua = lua();
        let msg = eval_str(
            &lua,
            "local ok, e = pcall(json_decode, {}) return tostring(e)",
        );
        assert!(
            msg.contains("bad argument #1 to 'json_decode' (string expected, got table)"),
            "{msg}"
        );
    }
}
