//! The builtins a script sees, one module per family. Each family exposes `register`, which installs
//! its globals; [`FAMILIES`] is the one place that lists them. A state gets a family's globals the
//! first time a script looks one of them up (`runtime::lazy`), so [`prepare`] holds what every
//! state needs before that, and [`REPLACED`] the stock functions builtins take the place of.

#[cfg(feature = "compress")]
pub mod archive;
pub mod catalog;
pub mod chan;
pub mod cluster;
pub mod core;
#[cfg(feature = "crypto")]
pub mod crypto;
pub mod datetime;
#[cfg(feature = "formats")]
pub mod formats;
pub mod fs;
pub mod ft;
pub mod go;
pub mod import;
pub mod json;
pub mod net;
pub mod process;
pub mod regex;
pub mod serde_lua;
pub mod server;
pub mod stock;
pub mod store;
pub mod support;
#[cfg(feature = "templates")]
pub mod template;
pub mod text;
pub mod timers;

use crate::runtime::value;
use mlua::{Function, Lua};

/// A family of builtins: `register` creates its globals in `lua.globals()`. A family keeps its
/// catalog rows (`catalog::f`, `catalog::m`, ...) and classes in its own module and names them
/// here; the core families' rows are in `catalog::BUILTINS`.
pub struct Family {
    pub name: &'static str,
    pub register: fn(&Lua) -> mlua::Result<()>,
    pub builtins: &'static [catalog::Builtin],
    pub classes: &'static [catalog::Class],
}

impl Family {
    /// A family whose catalog rows are in `catalog::BUILTINS`.
    pub const fn core(name: &'static str, register: fn(&Lua) -> mlua::Result<()>) -> Family {
        Family {
            name,
            register,
            builtins: &[],
            classes: &[],
        }
    }
}

/// Every builtin family.
pub const FAMILIES: &[Family] = &[
    Family::core("core", core::register),
    Family::core("chan", chan::register),
    Family::core("go", go::register),
    Family::core("store", store::register),
    Family::core("json", json::register),
    Family::core("fs", fs::register),
    Family::core("import", import::register),
    Family::core("timers", timers::register),
    Family::core("net", net::register),
    Family::core("server", server::register),
    #[cfg(feature = "crypto")]
    Family {
        name: "crypto",
        register: crypto::register,
        builtins: crypto::CATALOG,
        classes: &[],
    },
    #[cfg(feature = "crypto")]
    Family {
        name: "ids",
        register: crypto::ids::register,
        builtins: crypto::ids::CATALOG,
        classes: &[],
    },
    #[cfg(feature = "formats")]
    Family {
        name: "formats",
        register: formats::register,
        builtins: formats::CATALOG,
        classes: &[],
    },
    #[cfg(feature = "compress")]
    Family {
        name: "compress",
        register: archive::register_compress,
        builtins: archive::COMPRESS_CATALOG,
        classes: &[],
    },
    #[cfg(feature = "compress")]
    Family {
        name: "archive",
        register: archive::register_archives,
        builtins: archive::ARCHIVE_CATALOG,
        classes: &[],
    },
    Family {
        name: "ft",
        register: ft::register,
        builtins: ft::CATALOG,
        classes: &[],
    },
    Family {
        name: "process",
        register: process::register,
        builtins: process::CATALOG,
        classes: process::CLASSES,
    },
    Family {
        name: "signals",
        register: process::signals::register,
        builtins: process::signals::CATALOG,
        classes: &[],
    },
    Family {
        name: "regex",
        register: regex::register,
        builtins: regex::CATALOG,
        classes: regex::CLASSES,
    },
    Family {
        name: "datetime",
        register: datetime::register,
        builtins: datetime::CATALOG,
        classes: &[],
    },
    #[cfg(feature = "templates")]
    Family {
        name: "template",
        register: template::register,
        builtins: template::CATALOG,
        classes: template::CLASSES,
    },
    Family {
        name: "text",
        register: text::register,
        builtins: text::CATALOG,
        classes: &[],
    },
    Family {
        name: "tablex",
        register: text::tablex::register,
        builtins: text::tablex::CATALOG,
        classes: &[],
    },
    Family {
        name: "types",
        register: text::types::register,
        builtins: text::types::CATALOG,
        classes: &[],
    },
    Family {
        name: "cluster",
        register: cluster::register,
        builtins: cluster::CATALOG,
        classes: &[],
    },
];

/// Makes one builtin function in a state.
pub type Maker = fn(&Lua) -> mlua::Result<Function>;

/// Stock functions a builtin replaces (`"os.exit"`: field `exit` of the stock table `os`), and what
/// makes the replacement. They exist in every state from the start, so a lookup never misses them:
/// each is made on its first call instead.
pub const REPLACED: &[(&str, Maker)] = &[
    ("select", chan::select_function),
    ("os.exit", go::exit_function),
];

/// C functions put in place of the placeholders of [`REPLACED`] (with the same upvalue): they do
/// the stock part themselves, exactly as stock Lua does it, and call `lazy::replacement` for the rest
/// (a channel `select`; ending the run in `os.exit`), which makes the Rust function on first use.
pub const REPLACED_FRONT: &[(&str, mlua::ffi::lua_CFunction)] =
    &[("select", stock::select), ("os.exit", stock::os_exit)];

/// Stock functions replaced by plain C functions, set in every state from the start (they cost
/// nothing to set, and keep working while a state closes, see `core::print`).
pub const C_REPLACED: &[(&std::ffi::CStr, mlua::ffi::lua_CFunction)] = &[(c"print", core::print)];

/// Lists of functions made on their first call (`runtime::lazy`), numbered by their place here.
pub const MADE_ON_FIRST_CALL: &[&[(&str, Maker)]] = &[REPLACED, chan::METHODS];
/// The place of `chan::METHODS` in [`MADE_ON_FIRST_CALL`] (`REPLACED` is 0).
pub const CHANNEL_METHODS: usize = 1;

/// The handle types that can arrive from another goroutine before any family is installed (so they
/// can be passed on): every state knows them (`value::register_handle_type` for the others).
pub const HANDLE_TYPES: &[value::HandleType] = &[
    value::handle_type::<chan::ChanRef>(),
    value::handle_type::<chan::RemoteRef>(),
    value::handle_type::<net::tcp::TcpConn>(),
    value::handle_type::<net::ws_client::WsClient>(),
    value::handle_type::<server::ws::WsRef>(),
];

/// What every state needs before any family is installed: once the run has a server (entries of
/// `Shared::servers` stay), the WebSocket methods: a server hands its handlers a connection without
/// any builtin being looked up. (The handle types that can arrive are [`HANDLE_TYPES`].)
pub fn prepare(lua: &Lua) -> mlua::Result<()> {
    value::set_base_handle_types(HANDLE_TYPES);
    if !crate::runtime::ctx(lua).rt.servers.lock().is_empty() {
        server::ws::register_methods(lua)?;
    }
    Ok(())
}

/// Called when a stock library is opened in `lua` (on first use): `package` gets `require`'s
/// search path.
pub fn library_opened(lua: &Lua, name: &str) -> mlua::Result<()> {
    match name {
        "package" => import::prepare(lua),
        _ => Ok(()),
    }
}

/// Called before a handle of kind `kind` (`SharedHandle::kind`) that came from another goroutine
/// is made a value of `lua`: a WebSocket connection's methods come with the server family.
pub fn before_handle(lua: &Lua, kind: &str) -> mlua::Result<()> {
    match kind {
        "websocket" => crate::runtime::lazy::ensure(lua, "server"),
        _ => Ok(()),
    }
}
