//! Value transfer between two Lua states: µs to move a closure with 3 upvalues, and a 1 000-entry
//! table. Run: `cargo bench --bench transfer`.

use mlua::{Lua, StdLib, Value as LuaValue};
use solvm::runtime::value::{self, Value};
use std::sync::Arc;
use std::time::Instant;

fn state() -> Lua {
    // Safety: the same full standard library the runtime gives scripts.
    let lua = unsafe { Lua::unsafe_new_with(StdLib::ALL, mlua::LuaOptions::default()) };
    let names = value::global_names(&lua).expect("globals");
    value::install(&lua, Arc::new(names)).expect("install");
    lua
}

fn bench(label: &str, code: &str, iters: u32) {
    let a = state();
    let b = state();
    let v: LuaValue = a.load(code).eval().expect("eval");
    for _ in 0..100 {
        let x = Value::from_lua(&a, &v, "bench").expect("encode");
        x.to_lua(&b).expect("decode");
    }
    let t = Instant::now();
    for _ in 0..iters {
        let x = Value::from_lua(&a, &v, "bench").expect("encode");
        std::hint::black_box(x.to_lua(&b).expect("decode"));
    }
    let per = t.elapsed().as_secs_f64() * 1e6 / iters as f64;
    println!("{label}: {per:.2} us per transfer (encode + decode)");
}

fn main() {
    bench(
        "closure with 3 upvalues",
        "local a, b, c = 1, 'two', {3} return function(x) return a + x, b, c end",
        20_000,
    );
    bench(
        "1000-entry table",
        "local t = {} for i = 1, 500 do t[i] = i end for i = 1, 500 do t['k' .. i] = 'v' .. i end return t",
        2_000,
    );
}
