//! Where a goroutine's start-up time goes: a bare Lua state, a full SolVM state, a thread.
//! Run: `cargo bench --bench spawn`.

use mlua::{Lua, StdLib};
use solvm::config::Config;
use solvm::runtime::state::GoState;
use solvm::runtime::Shared;
use std::time::Instant;

fn per<F: FnMut()>(label: &str, n: u32, mut f: F) {
    for _ in 0..50 {
        f();
    }
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    println!(
        "{label}: {:.1} us",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
}

fn main() {
    per("bare Lua state, all stdlibs", 2000, || {
        // Safety: the full standard library, as the runtime uses.
        let lua = unsafe { Lua::unsafe_new_with(StdLib::ALL, mlua::LuaOptions::default()) };
        std::hint::black_box(&lua);
    });
    let rt = Shared::new(Config::default(), ".".into());
    // The first state of a run learns the builtin names; later ones are the steady state.
    let _first = GoState::new(&rt, rt.next_goroutine_id()).expect("state");
    per("SolVM goroutine state (all builtins)", 2000, || {
        let s = GoState::new(&rt, rt.next_goroutine_id()).expect("state");
        solvm::runtime::goroutine::unregister(&rt, s.ctx.gid);
    });
    per("thread spawn + join (1 MiB stack)", 2000, || {
        std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(|| {})
            .expect("spawn")
            .join()
            .expect("join");
    });
}
