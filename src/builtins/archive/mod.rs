//! Compression and archives (SPEC §13): the `compress` family (`compress.encode/decode`) and the
//! `archive` family (`tar`, `zip`). Each format is a crate; what is ours is the checking: decoding
//! stops at `max_bytes`, and extraction refuses entries that would land outside the target
//! directory (see `paths`).

pub mod compress;
mod paths;
mod tar;
mod zip;

use crate::builtins::catalog::{self, f, table};
use crate::builtins::serde_lua;
use crate::runtime::args::{self, check_string};
use mlua::{Lua, MultiValue, Value as LuaValue};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A builtin of these families: gets the call's arguments.
type Builtin = fn(&Lua, MultiValue) -> mlua::Result<MultiValue>;

/// Installs `compress`.
pub fn register_compress(lua: &Lua) -> mlua::Result<()> {
    install(lua, "compress", compress::FUNCTIONS)
}

/// Installs `tar` and `zip`.
pub fn register_archives(lua: &Lua) -> mlua::Result<()> {
    install(lua, "tar", TAR)?;
    install(lua, "zip", ZIP)
}

fn install(lua: &Lua, name: &str, functions: &[(&str, Builtin)]) -> mlua::Result<()> {
    let t = lua.create_table()?;
    for (field, func) in functions {
        t.raw_set(*field, lua.create_function(*func)?)?;
    }
    lua.globals().set(name, t)
}

const TAR: &[(&str, Builtin)] = &[
    ("create", |lua, a| {
        let (archive, dir) = (
            path_arg(lua, &a, 1, "tar.create")?,
            path_arg(lua, &a, 2, "tar.create")?,
        );
        let gzip = match a.get(2) {
            None | Some(LuaValue::Nil) => {
                let name = archive.to_string_lossy();
                name.ends_with(".gz") || name.ends_with(".tgz")
            }
            Some(LuaValue::Boolean(b)) => *b,
            Some(v) => return Err(args::bad_argument(3, "tar.create", "boolean", v)),
        };
        done(lua, "tar.create", tar::create(&archive, &dir, gzip))
    }),
    ("extract", |lua, a| {
        let (archive, dir) = (
            path_arg(lua, &a, 1, "tar.extract")?,
            path_arg(lua, &a, 2, "tar.extract")?,
        );
        let max =
            compress::max_bytes_option(&a, 3, "tar.extract", compress::DEFAULT_EXTRACT_MAX_BYTES)?;
        done(lua, "tar.extract", tar::extract(&archive, &dir, max))
    }),
    ("list", |lua, a| {
        let archive = path_arg(lua, &a, 1, "tar.list")?;
        listed(lua, "tar.list", tar::list(&archive))
    }),
];

const ZIP: &[(&str, Builtin)] = &[
    ("create", |lua, a| {
        let (archive, dir) = (
            path_arg(lua, &a, 1, "zip.create")?,
            path_arg(lua, &a, 2, "zip.create")?,
        );
        done(lua, "zip.create", zip::create(&archive, &dir))
    }),
    ("extract", |lua, a| {
        let (archive, dir) = (
            path_arg(lua, &a, 1, "zip.extract")?,
            path_arg(lua, &a, 2, "zip.extract")?,
        );
        let max =
            compress::max_bytes_option(&a, 3, "zip.extract", compress::DEFAULT_EXTRACT_MAX_BYTES)?;
        done(lua, "zip.extract", zip::extract(&archive, &dir, max))
    }),
    ("list", |lua, a| {
        let archive = path_arg(lua, &a, 1, "zip.list")?;
        listed(lua, "zip.list", zip::list(&archive))
    }),
];

fn path_arg(lua: &Lua, a: &MultiValue, pos: usize, func: &str) -> mlua::Result<PathBuf> {
    let s = check_string(lua, a, pos, func)?;
    Ok(PathBuf::from(OsStr::from_bytes(&s.as_bytes())))
}

/// A temporary name next to `path`, for writing an archive that appears whole or not at all.
fn temp_beside(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or(OsStr::new("archive"));
    path.with_file_name(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ))
}

/// `true`, or `nil, "func: why"`.
fn done(lua: &Lua, func: &str, result: Result<(), String>) -> mlua::Result<MultiValue> {
    match result {
        Ok(()) => Ok(MultiValue::from_iter([LuaValue::Boolean(true)])),
        Err(why) => args::nil_err(lua, format!("{func}: {why}")),
    }
}

/// `{ {name, size, mode, type, mod_time, link?} }`, or `nil, err`.
fn listed(
    lua: &Lua,
    func: &str,
    result: Result<Vec<tar::Listed>, String>,
) -> mlua::Result<MultiValue> {
    let entries = match result {
        Ok(e) => e,
        Err(why) => return args::nil_err(lua, format!("{func}: {why}")),
    };
    let list = lua.create_table_with_capacity(entries.len(), 0)?;
    if entries.is_empty() {
        list.set_metatable(Some(serde_lua::array_metatable(lua)?))?;
    }
    for (i, e) in entries.into_iter().enumerate() {
        let t = lua.create_table_with_capacity(0, 6)?;
        t.raw_set("name", e.name)?;
        t.raw_set("size", e.size)?;
        t.raw_set("mode", e.mode)?;
        t.raw_set("type", e.kind)?;
        t.raw_set("mod_time", e.mod_time)?;
        if let Some(link) = e.link {
            t.raw_set("link", link)?;
        }
        list.raw_set(i + 1, t)?;
    }
    Ok(MultiValue::from_iter([LuaValue::Table(list)]))
}

const ENTRY: &str = "{name: string, size: integer, mode: integer, type: 'file'|'dir'|'symlink'|'hardlink'|'other', mod_time: integer, link?: string}[]";

#[rustfmt::skip]
pub const COMPRESS_CATALOG: &[catalog::Builtin] = &[
    table("compress", "gzip, zlib, deflate, zstd, brotli and lz4."),
    f("compress.encode", &["format: 'gzip'|'zlib'|'deflate'|'zstd'|'brotli'|'lz4'", "data: string", "level?: integer"], &["string"], "Compressed `data` (levels: gzip/zlib/deflate 0-9, default 6; zstd -7-22, default 3; brotli 0-11, default 6; lz4 has none)."),
    f("compress.decode", &["format: 'gzip'|'zlib'|'deflate'|'zstd'|'brotli'|'lz4'", "data: string", "opts?: {max_bytes?: integer}"], &["string?", "string? err"], "Decompressed `data`, or `nil, err` when corrupt or larger than `max_bytes` (default 256 MiB)."),
];

#[rustfmt::skip]
pub const ARCHIVE_CATALOG: &[catalog::Builtin] = &[
    table("tar", "tar archives (gzipped or not)."),
    f("tar.create", &["archive: string", "dir: string", "gzip?: boolean"], &["true?", "string? err"], "Archives the tree under `dir` (names relative to it, symlinks kept); gzip defaults to a `.gz`/`.tgz` name."),
    f("tar.extract", &["archive: string", "dir: string", "opts?: {max_bytes?: integer}"], &["true?", "string? err"], "Extracts into `dir` (gzip detected); refuses the whole archive if an entry would land outside `dir` or its files add up to more than `max_bytes` (default 1 GiB)."),
    f("tar.list", &["archive: string"], &[ENTRY, "string? err"], "The entries of an archive."),
    table("zip", "zip archives."),
    f("zip.create", &["archive: string", "dir: string"], &["true?", "string? err"], "Archives the tree under `dir` (deflate; names relative to it, symlinks kept)."),
    f("zip.extract", &["archive: string", "dir: string", "opts?: {max_bytes?: integer}"], &["true?", "string? err"], "Extracts into `dir`; refuses the whole archive if an entry would land outside `dir` or its files add up to more than `max_bytes` (default 1 GiB)."),
    f("zip.list", &["archive: string"], &[ENTRY, "string? err"], "The entries of an archive."),
];
