//! (fs builtins — placeholder, being written.)

use mlua::Lua;

/// Installs the fs builtins.
pub fn register(_lua: &Lua) -> mlua::Result<()> {
    Ok(())
}
