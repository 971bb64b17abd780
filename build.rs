//! Build script: exports Lua's C API (`lua_*`, `luaL_*`, `luaopen_*`) from the `solvm` executable, so
//! that C modules loaded by `require` (Debian's `lua-cjson`, `lua-lpeg`, ...: shared objects built to
//! find those symbols in the program that loads them, as `lua5.4` exports them) link against the Lua
//! inside solvm (SPEC §16). A dynamic list exports just these symbols, not every Rust one as
//! `--export-dynamic` would; the linker also keeps each exported function even where nothing in
//! solvm calls it, so `--gc-sections` cannot drop the API functions a module needs.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    // ELF platforms with GNU ld or lld (both read the `--dynamic-list` syntax).
    if !matches!(
        os.as_str(),
        "linux" | "android" | "freebsd" | "netbsd" | "openbsd" | "dragonfly"
    ) {
        return;
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let list = out.join("lua-api.dynlist");
    std::fs::write(&list, "{\n  lua_*;\n  luaL_*;\n  luaopen_*;\n};\n")
        .expect("cannot write the dynamic list");
    println!(
        "cargo:rustc-link-arg-bins=-Wl,--dynamic-list={}",
        list.display()
    );
}
