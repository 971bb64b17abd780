//! Property-based fuzzing of every parser a user can feed (issue 8): `json_decode`, the value enum,
//! cron expressions, the duration/size flags, and the server's HTTP/1.1 request-head parser. Each property runs `PROPTEST_CASES` inputs (256 by
//! default, so the test suite stays quick); `scripts/fuzz` runs them with a million or more.
//! Every crash found becomes a regression case in `REGRESSIONS` below.

use mlua::{Lua, StdLib, Value as LuaValue};
use proptest::prelude::*;
use solvm::builtins::server::path;
use solvm::builtins::server::request::{self, Framing, Head, Reject};
use solvm::config::{parse_duration, parse_size};
use solvm::runtime::cron::CronSchedule;
use solvm::runtime::value::{self, Value};
use std::sync::Arc;

/// A state with the JSON builtins and value transfer, like a goroutine's.
fn state() -> Lua {
    // Safety: the full standard library, as the runtime gives scripts.
    let lua = unsafe { Lua::unsafe_new_with(StdLib::ALL, mlua::LuaOptions::default()) };
    let names = value::global_names(&lua).expect("globals");
    value::install(&lua, Arc::new(names)).expect("transfer helpers");
    solvm::builtins::json::register(&lua).expect("json builtins");
    lua
}

thread_local! {
    static LUA: Lua = state();
}

/// Inputs that once broke something (none yet: add every crash here).
const REGRESSIONS: &[&str] = &[
    "",
    "[",
    "{\"a\":",
    "1e999999",
    "-",
    "[[[[[[[[[[",
    "\"\\ud800\"",
    "nul",
    "0x10",
];

/// JSON-ish text: real JSON fragments mixed with noise, so both the happy and the error paths run.
fn jsonish() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        any::<i64>().prop_map(|i| i.to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
        "[a-z\\\\\"\u{0}-\u{1f}\u{e9}\u{1F600}]{0,8}".prop_map(|s| format!("{s:?}")),
        "[\\[\\]{}:,\" 0-9a-z.eE+-]{0,12}",
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(("[a-z]{0,4}", inner), 0..6).prop_map(|v| {
                let body: Vec<String> = v.into_iter().map(|(k, x)| format!("{k:?}:{x}")).collect();
                format!("{{{}}}", body.join(","))
            }),
        ]
    })
}

fn decode(lua: &Lua, text: &[u8]) -> Option<LuaValue> {
    let f: mlua::Function = lua.globals().get("json_decode").expect("json_decode");
    let s = lua.create_string(text).expect("string");
    let (v, err): (LuaValue, LuaValue) = f.call(s).expect("json_decode never raises on a string");
    match v {
        LuaValue::Nil => {
            // A failure always says where.
            let msg = err.to_string().expect("message");
            assert!(msg.contains("line") && msg.contains("column"), "{msg}");
            None
        }
        v => Some(v),
    }
}

#[test]
fn json_regressions() {
    LUA.with(|lua| {
        for r in REGRESSIONS {
            decode(lua, r.as_bytes());
        }
    });
}

#[test]
fn json_floats_round_trip_exactly() {
    // Found by json_decode_encode_round_trips: without serde_json's `float_roundtrip`, decoding the
    // shortest form of a float could land on a neighbouring float.
    LUA.with(|lua| {
        let enc: mlua::Function = lua.globals().get("json_encode").expect("json_encode");
        for text in [
            "[4.2098061558736215e-234]",
            "[0.1]",
            "[1.7976931348623157e+308]",
            "[5e-324]",
            "[-0.0]",
        ] {
            let once: String = enc
                .call(decode(lua, text.as_bytes()).expect("valid"))
                .expect("encodes");
            assert_eq!(once, text, "float changed in a round trip");
        }
    });
}

/// A valid request head, then mutated: bytes flipped, inserted or cut, so the parser's error
/// paths near valid input run, not only the early "not HTTP at all" rejection.
fn http_mutated() -> impl Strategy<Value = Vec<u8>> {
    let method = prop::sample::select(vec![
        "GET", "POST", "PUT", "OPTIONS", "HEAD", "DELETE", "G\0T",
    ]);
    let target = "(/|\\*|http://h(/[a-z?=&%]{0,8})?|/[a-z0-9?=&%./]{0,16})";
    let version = prop::sample::select(vec!["HTTP/1.1", "HTTP/1.0", "HTTP/2", "HTTP/1.1 "]);
    let header = (
        prop::sample::select(vec![
            "Host",
            "Connection",
            "Expect",
            "Content-Length",
            "Transfer-Encoding",
            "X-A",
        ]),
        prop::sample::select(vec![
            "x",
            "close",
            "keep-alive",
            "100-continue",
            "chunked",
            "5",
            "-1",
            "99999999999999999999",
            "",
        ]),
    );
    let headers = prop::collection::vec(header, 0..120);
    let muts = prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 0..6);
    (method, target, version, headers, muts, any::<bool>()).prop_map(|(m, t, v, hs, muts, cut)| {
        let mut b = format!("{m} {t} {v}\r\n").into_bytes();
        for (k, val) in hs {
            b.extend_from_slice(format!("{k}: {val}\r\n").as_bytes());
        }
        b.extend_from_slice(b"\r\n");
        for (i, byte, op) in muts {
            let at = i.index(b.len().max(1)).min(b.len());
            match op {
                0 if at < b.len() => b[at] = byte,
                1 => b.insert(at, byte),
                _ if at < b.len() => {
                    b.remove(at);
                }
                _ => {}
            }
        }
        if cut && !b.is_empty() {
            let n = b.len() / 2;
            b.truncate(n);
        }
        b
    })
}

/// What the server's reader makes of `raw`: `Ok(None)` while the head is incomplete.
fn parse_head(raw: &[u8]) -> Result<Option<(Head, usize)>, Reject> {
    let skip = request::leading_blank_lines(raw);
    let raw = &raw[skip..];
    match request::find_head_end(raw, 0) {
        None => request::check_incomplete(raw).map(|_| None),
        Some(end) => request::parse_head(&raw[..end], 1 << 20).map(|h| Some((h, skip + end))),
    }
}

fn status_of(raw: &[u8]) -> Option<u16> {
    match parse_head(raw) {
        Ok(Some(_)) => Some(200),
        Ok(None) => None,
        Err(r) => Some(r.status),
    }
}

/// Heads near the edges, each with the answer RFC 9112 gives.
#[test]
fn http_parser_regressions() {
    for (raw, want) in [
        (&b""[..], None),
        (b"\r\n", None),
        (b"GET / HTTP/1.1\r\n\r\n", Some(400)),
        (b"GET http:// HTTP/1.1\r\nHost: x\r\n\r\n", Some(400)),
        (b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", Some(200)),
        (b"GET ? HTTP/1.1\r\nHost: x\r\n\r\n", Some(400)),
        (b"GET /://x HTTP/1.1\r\nHost: x\r\n\r\n", Some(200)),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-CONTINUE\r\n\r\n",
            Some(200),
        ),
        (b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", Some(200)),
        (b"GET / HTTP/1.1\nHost: x\n\n", Some(200)),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r", None),
        (b"GET / HTTP/1.1\rHost: x\r\n\r\n", Some(400)),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n",
            Some(400),
        ),
    ] {
        assert_eq!(status_of(raw), want, "{:?}", String::from_utf8_lossy(raw));
    }
}

proptest! {
    #[test]
    fn http_parser_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_head(&bytes);
        let _ = path::check(&bytes);
    }

    #[test]
    fn http_parser_never_panics_on_mutated_requests(bytes in http_mutated()) {
        match parse_head(&bytes) {
            Ok(Some((head, n))) => {
                prop_assert!(n <= bytes.len());
                prop_assert!(head.raw_path.starts_with(b"/") || head.raw_path == b"*");
                // A framing the server accepted is never ambiguous.
                let te = head.header("transfer-encoding").is_some();
                let cl = head.header("content-length").is_some();
                match head.framing {
                    Framing::Chunked => prop_assert!(te && !cl && head.minor == 1),
                    Framing::Length(_) => prop_assert!(cl && !te),
                    Framing::None => prop_assert!(!te && !cl),
                }
                // What is routed is clean: no dot segments, no empty segment but a last one.
                if let path::Checked::Clean(segs) = path::check(&head.raw_path) {
                    for (i, s) in segs.iter().enumerate() {
                        prop_assert!(s != b"." && s != b"..");
                        prop_assert!(!s.is_empty() || i + 1 == segs.len());
                    }
                }
            }
            Ok(None) => prop_assert!(bytes.len() <= request::MAX_HEAD_BYTES),
            Err(r) => prop_assert!([400, 413, 414, 417, 431, 501, 505].contains(&r.status)),
        }
    }

    #[test]
    fn chunked_bodies_decode_the_same_in_any_pieces(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..40), 0..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut wire = Vec::new();
        let mut want = Vec::new();
        for c in &chunks {
            wire.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
            wire.extend_from_slice(c);
            wire.extend_from_slice(b"\r\n");
            want.extend_from_slice(c);
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        let at = cut.index(wire.len() + 1);
        let mut dec = request::Chunked::default();
        let mut body = Vec::new();
        let (used, done) = dec.feed(&wire[..at], &mut body, 1 << 20).unwrap();
        prop_assert!(!done || at == wire.len());
        let mut rest = wire[used..at].to_vec();
        rest.extend_from_slice(&wire[at..]);
        let (used2, done2) = dec.feed(&rest, &mut body, 1 << 20).unwrap();
        prop_assert!(done2 && used2 == rest.len());
        prop_assert_eq!(body, want);
    }

    #[test]
    fn json_decode_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        LUA.with(|lua| { decode(lua, &bytes); });
    }

    #[test]
    fn json_decode_encode_round_trips(text in jsonish()) {
        LUA.with(|lua| -> Result<(), TestCaseError> {
            if let Some(v) = decode(lua, text.as_bytes()) {
                let enc: mlua::Function = lua.globals().get("json_encode").expect("json_encode");
                let once: String = match enc.call::<String>(v) {
                    Ok(s) => s,
                    // NaN/inf cannot appear in decoded JSON; anything else must encode.
                    Err(e) => panic!("decoded value does not encode: {e}"),
                };
                let again = decode(lua, once.as_bytes()).expect("our own output decodes");
                let twice: String = enc.call(again).expect("encodes again");
                prop_assert_eq!(once, twice);
            }
            Ok(())
        })?;
    }

    #[test]
    fn duration_and_size_flags_never_panic(s in "\\PC{0,16}") {
        let _ = parse_duration(&s);
        let _ = parse_size(&s);
    }

    #[test]
    fn valid_durations_round_trip(ms in 0u64..10_000_000) {
        let d = parse_duration(&format!("{ms}ms")).expect("valid");
        prop_assert_eq!(d.as_millis() as u64, ms);
        let s = parse_duration(&format!("{}", ms as f64 / 1000.0)).expect("valid seconds");
        prop_assert!((s.as_secs_f64() - ms as f64 / 1000.0).abs() < 1e-6);
    }

    #[test]
    fn cron_never_panics(s in "[0-9*/,\\- A-Za-z?LW#]{0,30}") {
        if let Ok(c) = CronSchedule::parse(&s) {
            let now = chrono::Local::now();
            if let Some(next) = c.next_after(now) {
                prop_assert!(next > now);
            }
        }
    }

    #[test]
    fn cron_fields_in_range_parse(sec in 0u32..60, min in 0u32..60, hour in 0u32..24, dom in 1u32..29, mon in 1u32..13, dow in 0u32..7) {
        let expr = format!("{sec} {min} {hour} {dom} {mon} {dow}");
        let c = CronSchedule::parse(&expr).expect("in-range fields parse");
        prop_assert!(c.next_after(chrono::Local::now()).is_some());
    }

    #[test]
    fn value_transfer_preserves_structure(text in jsonish()) {
        // Random nested values (from JSON, plus a cycle and a shared table) cross to another state
        // and come back equal.
        LUA.with(|a| -> Result<(), TestCaseError> {
            if let Some(v) = decode(a, text.as_bytes()) {
                let wrap: mlua::Function = a
                    .load("return function(v) local s = {v} local t = {v = v, s1 = s, s2 = s} t.self = t return t end")
                    .eval()
                    .expect("wrapper");
                let t: LuaValue = wrap.call(v).expect("wrap");
                let moved = Value::from_lua(a, &t, "fuzz").expect("JSON-made values always cross");
                let b = state();
                let there = moved.to_lua(&b).expect("decodes");
                let check: mlua::Function = b
                    .load("return function(t) return t.self == t and t.s1 == t.s2 and t.s1[1] == t.v end")
                    .eval()
                    .expect("check");
                prop_assert!(check.call::<bool>(there.clone()).expect("check runs"));
                let enc_a: mlua::Function = a.globals().get("json_encode").expect("enc");
                let enc_b: mlua::Function = b.globals().get("json_encode").expect("enc");
                let get_v = |_: &Lua, t: LuaValue| -> LuaValue { t.as_table().expect("table").get("v").expect("v") };
                let ja: String = enc_a.call(get_v(a, t)).expect("enc a");
                let jb: String = enc_b.call(get_v(&b, there)).expect("enc b");
                prop_assert_eq!(ja, jb);
            }
            Ok(())
        })?;
    }
}
