//! (json builtins — placeholder, being written.)

use mlua::Lua;

/// Installs the json builtins.
pub fn register(_lua: &Lua) -> mlua::Result<()> {
    Ok(())
}
