//! `resolve_dns(host)` (SPEC §10) → first address, plus the list of all of them. Uses the system
//! resolver (`getaddrinfo` through std's `ToSocketAddrs`, so `/etc/hosts` and nsswitch apply), on a
//! helper thread so a slow lookup stays cancellable.

use super::{fail, off_thread};
use crate::runtime::args::{self, io_error_text};
use mlua::{Lua, MultiValue, Value as LuaValue};
use std::net::{IpAddr, ToSocketAddrs};

/// Installs `resolve_dns`.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    lua.globals()
        .set("resolve_dns", lua.create_function(resolve_dns)?)
}

/// The addresses of `host`, each once, IPv4 before IPv6 (the order within each family is the
/// resolver's).
pub fn lookup(host: &str) -> Result<Vec<IpAddr>, String> {
    let addrs = (host, 0).to_socket_addrs().map_err(|e| lookup_error(&e))?;
    let mut ips: Vec<IpAddr> = Vec::new();
    for a in addrs {
        if !ips.contains(&a.ip()) {
            ips.push(a.ip());
        }
    }
    ips.sort_by_key(|ip| ip.is_ipv6());
    if ips.is_empty() {
        return Err("no such host".into());
    }
    Ok(ips)
}

/// A resolver failure in Go's words where it means the name does not exist (`no such host`),
/// otherwise the system's own text.
pub fn lookup_error(e: &std::io::Error) -> String {
    let text = io_error_text(e);
    let unknown = [
        "Name or service not known",
        "No address associated",
        "nodename nor servname",
    ];
    if unknown.iter().any(|u| text.contains(u)) {
        "no such host".into()
    } else {
        text
    }
}

fn resolve_dns(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let host = args::check_string(lua, &args, 1, "resolve_dns")?
        .to_string_lossy()
        .to_string();
    if host.is_empty() {
        return Err(args::arg_error(1, "resolve_dns", "empty host name"));
    }
    let name = host.clone();
    match off_thread(lua, "dns", move || lookup(&name))? {
        Ok(ips) => {
            let list = lua.create_sequence_from(ips.iter().map(|ip| ip.to_string()))?;
            Ok(MultiValue::from_iter([
                LuaValue::String(lua.create_string(ips[0].to_string())?),
                LuaValue::Table(list),
            ]))
        }
        Err(msg) => fail(lua, format!("lookup {host}: {msg}")),
    }
}
