//! The builtins a script sees, one module per family. Each family exposes `register`, which installs
//! its globals into a fresh Lua state; [`register_all`] is the one place that lists them.

pub mod catalog;
pub mod chan;
pub mod core;
pub mod fs;
pub mod go;
pub mod import;
pub mod json;
pub mod net;
pub mod server;
pub mod store;
pub mod timers;

use mlua::Lua;

/// Installs every builtin family into `lua`.
pub fn register_all(lua: &Lua) -> mlua::Result<()> {
    core::register(lua)?;
    chan::register(lua)?;
    go::register(lua)?;
    store::register(lua)?;
    json::register(lua)?;
    fs::register(lua)?;
    import::register(lua)?;
    timers::register(lua)?;
    net::register(lua)?;
    server::register(lua)?;
    Ok(())
}
