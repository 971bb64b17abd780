//! Where a goroutine's start-up time goes: a bare Lua state, a full SolVM state, a thread.
//! Run: `cargo bench --bench spawn` (`-- 200 thread` runs 200
//! iterations of the rows whose label contains `thread`: short runs for callgrind).

use mlua::{Lua, StdLib};
use solvm::config::Config;
use solvm::runtime::state::GoState;
use solvm::runtime::Shared;
use std::time::Instant;

/// The arguments after the program name, without the `--bench` cargo adds.
fn args() -> impl Iterator<Item = String> {
    std::env::args().skip(1).filter(|a| !a.starts_with("--"))
}

fn per<F: FnMut()>(label: &str, n: u32, mut f: F) {
    // A second argument runs only the rows whose label contains it (one row per callgrind run).
    if let Some(only) = args().nth(1) {
        if !label.contains(&only) {
            return;
        }
    }
    for _ in 0..n.min(50) {
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
    let n: u32 = args().next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    per("bare Lua state, all stdlibs", n, || {
        // Safety: the full standard library, as the runtime uses.
        let lua = unsafe { Lua::unsafe_new_with(StdLib::ALL, mlua::LuaOptions::default()) };
        std::hint::black_box(&lua);
    });
    per(
        "bare Lua state, all stdlibs, GC stopped while loading",
        n,
        || {
            // Safety: as above.
            let lua = unsafe { Lua::unsafe_new_with(StdLib::NONE, mlua::LuaOptions::default()) };
            lua.gc_stop();
            lua.load_std_libs(StdLib::ALL).expect("stdlibs");
            lua.gc_restart();
            std::hint::black_box(&lua);
        },
    );
    let rt = Shared::new(Config::default(), ".".into());
    // The first state of a run learns the builtin names; later ones are the steady state.
    let _first = GoState::new(&rt, rt.next_goroutine_id()).expect("state");
    {
        // Safety: as above.
        let bare = unsafe { Lua::unsafe_new_with(StdLib::ALL, mlua::LuaOptions::default()) };
        let s = GoState::new(&rt, rt.next_goroutine_id()).expect("state");
        println!(
            "Lua memory of a fresh state: bare {:.1} KB, SolVM goroutine {:.1} KB",
            bare.used_memory() as f64 / 1e3,
            s.lua.used_memory() as f64 / 1e3
        );
        solvm::runtime::goroutine::unregister(&rt, s.ctx.gid);
    }
    per("SolVM goroutine state (all builtins)", n, || {
        let s = GoState::new(&rt, rt.next_goroutine_id()).expect("state");
        solvm::runtime::goroutine::unregister(&rt, s.ctx.gid);
    });
    per("thread spawn + join (1 MiB stack)", n, || {
        std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(|| {})
            .expect("spawn")
            .join()
            .expect("join");
    });
}
