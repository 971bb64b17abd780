//! `ft` (SPEC §13, the Go SolVM's file transfer module): `download`/`upload` over the HTTP client
//! (`net::http_client::perform_from_lua`, so they wait like any request: cancellable, timers still
//! fire), `copy`/`move` on the file system. Parents of a destination are created; failures are
//! `nil, err`.

use crate::builtins::catalog::{self, f, table};
use crate::builtins::fs::{go_error, read_file, write_file};
use crate::builtins::net::http_client::{self, Request};
use crate::runtime::args::{self, check_string};
use mlua::{Lua, MultiValue, Value as LuaValue};
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

type Builtin = fn(&Lua, MultiValue) -> mlua::Result<MultiValue>;

/// Installs `ft`.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    let t = lua.create_table()?;
    for (name, func) in FUNCTIONS {
        t.raw_set(*name, lua.create_function(*func)?)?;
    }
    lua.globals().set("ft", t)
}

const FUNCTIONS: &[(&str, Builtin)] = &[
    ("download", download),
    ("upload", upload),
    ("copy", copy),
    ("move", move_file),
];

fn bytes_arg(lua: &Lua, a: &MultiValue, pos: usize, func: &str) -> mlua::Result<Vec<u8>> {
    Ok(check_string(lua, a, pos, func)?.as_bytes().to_vec())
}

fn path(bytes: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(bytes))
}

/// Creates the parent directories of `dst`.
fn make_parents(dst: &[u8]) -> Result<(), String> {
    match path(dst).parent() {
        Some(p) if !p.as_os_str().is_empty() => {
            std::fs::create_dir_all(p).map_err(|e| go_error("mkdir", p.as_os_str().as_bytes(), &e))
        }
        _ => Ok(()),
    }
}

fn finish(lua: &Lua, func: &str, result: Result<(), String>) -> mlua::Result<MultiValue> {
    match result {
        Ok(()) => Ok(MultiValue::from_iter([LuaValue::Boolean(true)])),
        Err(why) => args::nil_err(lua, format!("{func}: {why}")),
    }
}

/// `ft.download(url, path)`: a GET whose 2xx body is written to `path` (atomically).
fn download(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let func = "ft.download";
    let url = http_client::url_arg(lua, &a, 1, func)?;
    let dst = bytes_arg(lua, &a, 2, func)?;
    let result = match http_client::perform_from_lua(lua, Request::get(&url))? {
        Err(why) => Err(why),
        Ok(resp) if !(200..300).contains(&resp.status) => {
            Err(format!("GET {url}: HTTP status {}", resp.status))
        }
        Ok(resp) => make_parents(&dst).and_then(|()| write_file(&dst, &resp.body)),
    };
    finish(lua, func, result)
}

/// `ft.upload(path, url)`: the file's bytes as the body of a POST (`application/octet-stream`).
fn upload(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let func = "ft.upload";
    let src = bytes_arg(lua, &a, 1, func)?;
    let url = http_client::url_arg(lua, &a, 2, func)?;
    let body = match read_file(&src) {
        Ok(b) => b,
        Err(why) => return finish(lua, func, Err(why)),
    };
    let mut req = Request::get(&url);
    req.method = "POST".into();
    req.body = Some(body);
    req.headers = vec![("content-type".into(), "application/octet-stream".into())];
    let result = match http_client::perform_from_lua(lua, req)? {
        Err(why) => Err(why),
        Ok(resp) if !(200..300).contains(&resp.status) => {
            Err(format!("POST {url}: HTTP status {}", resp.status))
        }
        Ok(_) => Ok(()),
    };
    finish(lua, func, result)
}

/// `ft.copy(src, dst)`: a file's bytes and permissions.
fn copy(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let func = "ft.copy";
    let src = bytes_arg(lua, &a, 1, func)?;
    let dst = bytes_arg(lua, &a, 2, func)?;
    let result = make_parents(&dst).and_then(|()| copy_file(&src, &dst));
    finish(lua, func, result)
}

fn copy_file(src: &[u8], dst: &[u8]) -> Result<(), String> {
    if path(src).is_dir() {
        return Err(go_error(
            "copy",
            src,
            &io::Error::from_raw_os_error(libc::EISDIR),
        ));
    }
    std::fs::copy(path(src), path(dst))
        .map(|_| ())
        .map_err(|e| go_error("copy", src, &e))
}

/// `ft.move(src, dst)`: a rename, or copy and remove across file systems.
fn move_file(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let func = "ft.move";
    let src = bytes_arg(lua, &a, 1, func)?;
    let dst = bytes_arg(lua, &a, 2, func)?;
    let result = make_parents(&dst).and_then(|()| match std::fs::rename(path(&src), path(&dst)) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => copy_file(&src, &dst).and_then(|()| {
            std::fs::remove_file(path(&src)).map_err(|e| go_error("remove", &src, &e))
        }),
        Err(e) => Err(go_error("rename", &src, &e)),
    });
    finish(lua, func, result)
}

#[rustfmt::skip]
pub const CATALOG: &[catalog::Builtin] = &[
    table("ft", "File transfer: download, upload, copy, move (parents created)."),
    f("ft.download", &["url: string", "path: string"], &["true?", "string? err"], "GETs `url` and writes a 2xx body to `path` (atomically); `nil, err` otherwise."),
    f("ft.upload", &["path: string", "url: string"], &["true?", "string? err"], "POSTs the file as `application/octet-stream`; `nil, err` unless the status is 2xx."),
    f("ft.copy", &["src: string", "dst: string"], &["true?", "string? err"], "Copies a file (bytes and permissions)."),
    f("ft.move", &["src: string", "dst: string"], &["true?", "string? err"], "Moves a file or directory (rename; copy and remove across file systems for a file)."),
];
