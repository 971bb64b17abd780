//! UDP (SPEC §10): `udp_sendto(host, port, data)` fires one datagram; `udp_recvfrom(port, [host])` →
//! `channel, bound_port`, a listener thread turning each datagram into `{data, addr, port}`.

use super::{fail, off_thread, port_arg};
use crate::builtins::chan::{ChanRef, Channel};
use crate::builtins::net::tcp::deliver;
use crate::runtime::args::{self, io_error_text};
use crate::runtime::goroutine::{self, IO_SLICE};
use crate::runtime::value::{SharedHandle, Value};
use crate::runtime::{ctx, Shared};
use mlua::{Lua, MultiValue, Value as LuaValue};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::Arc;

/// How many received datagrams wait in the channel; beyond that the kernel's buffer fills and
/// datagrams are dropped, as UDP does.
const RECEIVE_BACKLOG: usize = 1024;
/// Largest datagram (the UDP maximum payload).
const MAX_DATAGRAM: usize = 65_536;

/// Installs `udp_sendto` and `udp_recvfrom`.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    let g = lua.globals();
    g.set("udp_sendto", lua.create_function(udp_sendto)?)?;
    g.set("udp_recvfrom", lua.create_function(udp_recvfrom)?)?;
    Ok(())
}

/// The address to send to: an IP literal as is, a name through the system resolver, IPv4 first
/// (a listener on the default `0.0.0.0` would never see a datagram sent to `::1`).
fn target(lua: &Lua, host: &str, port: u16) -> mlua::Result<Result<SocketAddr, String>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(Ok(SocketAddr::new(ip, port)));
    }
    let name = host.to_string();
    off_thread(lua, "udp-resolve", move || {
        let addrs: Vec<SocketAddr> = (name.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| format!("lookup {name}: {}", super::dns::lookup_error(&e)))?
            .collect();
        addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or(addrs.first())
            .copied()
            .ok_or_else(|| format!("lookup {name}: no such host"))
    })
}

/// `udp_sendto(host, port, data)` → `true` | `nil, err`.
fn udp_sendto(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let host = args::check_string(lua, &args, 1, "udp_sendto")?
        .to_string_lossy()
        .to_string();
    let port = port_arg(&args, 2, "udp_sendto", false)?;
    let data = args::check_string(lua, &args, 3, "udp_sendto")?;
    let addr = match target(lua, &host, port)? {
        Ok(a) => a,
        Err(msg) => return fail(lua, format!("write udp {host}:{port}: {msg}")),
    };
    let local: SocketAddr = if addr.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sent = UdpSocket::bind(local).and_then(|s| s.send_to(&data.as_bytes(), addr));
    match sent {
        Ok(_) => Ok(MultiValue::from_iter([LuaValue::Boolean(true)])),
        Err(e) => fail(lua, format!("write udp {addr}: {}", io_error_text(&e))),
    }
}

/// `udp_recvfrom(port, [host])` → `channel, bound_port`; a failed bind raises. Default host `0.0.0.0`.
fn udp_recvfrom(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let port = port_arg(&args, 1, "udp_recvfrom", true)?;
    let host =
        super::opt_string(lua, &args, 2, "udp_recvfrom")?.unwrap_or_else(|| "0.0.0.0".into());
    let bound = UdpSocket::bind((host.as_str(), port)).and_then(|s| {
        s.set_read_timeout(Some(IO_SLICE))?;
        let p = s.local_addr()?.port();
        Ok((s, p))
    });
    // As `tcp_listen`: a socket that cannot be bound raises.
    let (socket, bound) = bound.map_err(|e| {
        mlua::Error::runtime(format!(
            "udp_recvfrom: cannot listen on {host}:{port} (udp): {}",
            io_error_text(&e)
        ))
    })?;
    let ch = Channel::new(None, RECEIVE_BACKLOG);
    let rt = ctx(lua).rt;
    let feed = Arc::clone(&ch);
    std::thread::Builder::new()
        .name(format!("solvm-udp-listen-{bound}"))
        .stack_size(256 * 1024)
        .spawn(move || receive_loop(rt, socket, feed))
        .map_err(|e| mlua::Error::runtime(format!("udp_recvfrom: cannot start a thread: {e}")))?;
    Ok(MultiValue::from_iter([
        ChanRef(ch).push(lua)?,
        LuaValue::Integer(bound as i64),
    ]))
}

/// The listener thread: one message table per datagram until the channel is closed or the run is
/// cancelled; a service meanwhile (SPEC §4).
fn receive_loop(rt: Arc<Shared>, socket: UdpSocket, ch: Arc<Channel>) {
    let _service = rt.start_service();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    while ch.is_open() && rt.cancel.reason().is_none() {
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                let msg = Value::table(vec![
                    (key("data"), Value::Str(buf[..n].into())),
                    (
                        key("addr"),
                        Value::Str(from.ip().to_string().into_bytes().into()),
                    ),
                    (key("port"), Value::Int(from.port() as i64)),
                ]);
                if !deliver(&rt, &ch, msg) {
                    break;
                }
            }
            Err(e) if goroutine::is_slice_timeout(&e) => {}
            Err(_) => {
                // ICMP errors reported on the socket and the like: keep listening.
                let _ = rt.cancel.signal().recv_timeout(IO_SLICE);
            }
        }
    }
}

fn key(name: &str) -> Value {
    Value::Str(name.as_bytes().into())
}
