//! `toml` (the `toml` crate, TOML 1.0/1.1), `yaml` (`yaml_serde`: the YAML organisation's
//! maintained serde_yaml, YAML 1.2 core schema) and `jsonc` (`jsonc-parser`: JSON with `//` and
//! `/* */` comments and trailing commas). All three go through `serde_lua`, so they map values
//! exactly as `json_encode`/`json_decode` do: integers stay integers, arrays arrays, null is
//! `json_null`; TOML datetimes decode to their text.

use super::{line_column, one, refuse, text_arg, Builtin};
use crate::builtins::{json, serde_lua};
use crate::runtime::args;
use mlua::{Lua, MultiValue, Value as LuaValue};

pub(super) const TOML: &[(&str, Builtin)] = &[("encode", toml_encode), ("decode", toml_decode)];
pub(super) const YAML: &[(&str, Builtin)] = &[("encode", yaml_encode), ("decode", yaml_decode)];
pub(super) const JSONC: &[(&str, Builtin)] = &[("encode", jsonc_encode), ("decode", jsonc_decode)];

fn value_arg(a: &MultiValue) -> LuaValue {
    a.front().cloned().unwrap_or(LuaValue::Nil)
}

fn toml_encode(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let value = value_arg(&a);
    let LuaValue::Table(t) = &value else {
        return Err(args::bad_argument(1, "toml.encode", "table", &value));
    };
    if matches!(
        serde_lua::shape(t),
        Ok(serde_lua::Shape::Array(_) | serde_lua::Shape::EmptyArray)
    ) {
        return Err(mlua::Error::runtime(
            "toml.encode: a TOML document is a table of keys, not an array",
        ));
    }
    let options = serde_lua::EncodeOptions {
        non_finite: true,
        no_null: true,
    };
    let text = serde_lua::encode(&value, options, |d| toml::to_string(d))
        .map_err(|e| e.into_lua("toml.encode"))?;
    one(lua, text)
}

fn toml_decode(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let func = "toml.decode";
    let text = match text_arg(lua, &a, 1, func)? {
        Ok(text) => text,
        Err(why) => return refuse(lua, func, why),
    };
    let de = match toml::de::Deserializer::parse(&text) {
        Ok(de) => de,
        Err(e) => return refuse(lua, func, toml_error(&text, &e)),
    };
    let options = serde_lua::DecodeOptions {
        toml_datetimes: true,
    };
    match serde_lua::decode(lua, de, options)? {
        Ok(v) => one(lua, v),
        Err(e) => refuse(lua, func, toml_error(&text, &e)),
    }
}

/// `line 3, column 7: invalid string` (the crate's own text spreads over several lines with a
/// snippet of the input).
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end();
    match e.span() {
        Some(span) => {
            let (line, column) = line_column(text, span.start);
            format!("line {line}, column {column}: {message}")
        }
        None => message.to_string(),
    }
}

fn yaml_encode(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let options = serde_lua::EncodeOptions {
        non_finite: true,
        no_null: false,
    };
    let text = serde_lua::encode(&value_arg(&a), options, |d| yaml_serde::to_string(d))
        .map_err(|e| e.into_lua("yaml.encode"))?;
    one(lua, text)
}

fn yaml_decode(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let func = "yaml.decode";
    let text = match text_arg(lua, &a, 1, func)? {
        Ok(text) => text,
        Err(why) => return refuse(lua, func, why),
    };
    let de = yaml_serde::Deserializer::from_str(&text);
    match serde_lua::decode(lua, de, serde_lua::DecodeOptions::default())? {
        Ok(v) => one(lua, v),
        Err(e) => refuse(lua, func, yaml_error(&e)),
    }
}

/// `line 2, column 5: did not find expected key`.
fn yaml_error(e: &yaml_serde::Error) -> String {
    let text = e.to_string();
    match e.location() {
        Some(at) => {
            // The crate appends ` at line L column C`; we lead with the place instead.
            let message = text.split(" at line ").next().unwrap_or(&text);
            format!("line {}, column {}: {message}", at.line(), at.column())
        }
        None => text,
    }
}

/// `jsonc.encode(v)`: pretty JSON (2 spaces), exactly `json_encode(v, {indent = 2})`.
fn jsonc_encode(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let bytes = json::encode(&value_arg(&a), 2).map_err(|e| e.into_lua("jsonc.encode"))?;
    one(lua, lua.create_string(bytes)?)
}

/// `jsonc.decode(s)`: JSON plus comments and trailing commas; nothing else of JSON5.
fn jsonc_decode(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let func = "jsonc.decode";
    let text = match text_arg(lua, &a, 1, func)? {
        Ok(text) => text,
        Err(why) => return refuse(lua, func, why),
    };
    let options = jsonc_parser::ParseOptions {
        allow_comments: true,
        allow_trailing_commas: true,
        allow_loose_object_property_names: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    };
    // The AST parse bounds nesting (the serde path alone would recurse as deep as the input goes)
    // and finds a text with no value at all.
    let collect = jsonc_parser::CollectOptions::default();
    match jsonc_parser::parse_to_ast(&text, &collect, &options) {
        Ok(parsed) if parsed.value.is_some() => {}
        Ok(_) => return refuse(lua, func, "no value in the text"),
        Err(e) => return refuse(lua, func, jsonc_error(&e)),
    }
    let value: serde_json::Value = match jsonc_parser::parse_to_serde_value(&text, &options) {
        Ok(v) => v,
        Err(e) => return refuse(lua, func, jsonc_error(&e)),
    };
    match serde_lua::decode(lua, value, serde_lua::DecodeOptions::default())? {
        Ok(v) => one(lua, v),
        Err(e) => refuse(lua, func, e),
    }
}

/// `line 3, column 1: Unexpected token` (the crate says `... on line 3 column 1`).
fn jsonc_error(e: &jsonc_parser::errors::ParseError) -> String {
    format!(
        "line {}, column {}: {}",
        e.line_display(),
        e.column_display(),
        e.kind()
    )
}
