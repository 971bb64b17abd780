//! Filesystem builtins: `read_file`, `write_file` (atomic), `append_file`, `file_exists`, `mkdir`,
//! `remove`, `rename`, `stat` and `list_dir`. Paths are taken as raw bytes, relative to the current
//! directory. I/O failures come back as `nil, err` with Go-style messages that name the path
//! (`open notes.txt: no such file or directory`); wrong argument types raise, as Lua's own library does.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, Metadata, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use mlua::{IntoLuaMulti, Lua, MultiValue, Table, Value as LuaValue};

use crate::runtime::args::{bad_argument, check_string, io_error_text, nil_err};

/// Installs the filesystem globals into `lua`.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    let globals = lua.globals();

    globals.set(
        "read_file",
        lua.create_function(|lua, args: MultiValue| {
            let path = check_string(lua, &args, 1, "read_file")?;
            match read_file(&path.as_bytes()) {
                Ok(bytes) => lua.create_string(bytes)?.into_lua_multi(lua),
                Err(msg) => nil_err(lua, msg),
            }
        })?,
    )?;

    globals.set(
        "write_file",
        lua.create_function(|lua, args: MultiValue| {
            let path = check_string(lua, &args, 1, "write_file")?;
            let data = check_string(lua, &args, 2, "write_file")?;
            ok_or_nil_err(lua, write_file(&path.as_bytes(), &data.as_bytes()))
        })?,
    )?;

    globals.set(
        "append_file",
        lua.create_function(|lua, args: MultiValue| {
            let path = check_string(lua, &args, 1, "append_file")?;
            let data = check_string(lua, &args, 2, "append_file")?;
            ok_or_nil_err(lua, append_file(&path.as_bytes(), &data.as_bytes()))
        })?,
    )?;

    globals.set(
        "file_exists",
        lua.create_function(|lua, args: MultiValue| {
            let path = check_string(lua, &args, 1, "file_exists")?;
            Ok(fs::metadata(to_path(&path.as_bytes())).is_ok())
        })?,
    )?;

    globals.set(
        "mkdir",
        lua.create_function(|lua, args: MultiValue| {
            let path = check_string(lua, &args, 1, "mkdir")?;
            ok_or_nil_err(lua, make_dir(&path.as_bytes()))
        })?,
    )?;

    globals.set(
        "remove",
        lua.create_function(|lua, args: MultiValue| {
            let path = check_string(lua, &args, 1, "remove")?;
            let recursive = match args.get(1) {
                None | Some(LuaValue::Nil) => false,
                Some(LuaValue::Boolean(b)) => *b,
                Some(other) => return Err(bad_argument(2, "remove", "boolean", other)),
            };
            ok_or_nil_err(lua, remove(&path.as_bytes(), recursive))
        })?,
    )?;

    globals.set(
        "rename",
        lua.create_function(|lua, args: MultiValue| {
            let from = check_string(lua, &args, 1, "rename")?;
            let to = check_string(lua, &args, 2, "rename")?;
            ok_or_nil_err(lua, rename(&from.as_bytes(), &to.as_bytes()))
        })?,
    )?;

    globals.set(
        "stat",
        lua.create_function(|lua, args: MultiValue| {
            let path = check_string(lua, &args, 1, "stat")?;
            let path = path.as_bytes();
            match fs::metadata(to_path(&path)) {
                Ok(md) => entry_table(lua, None, &md)?.into_lua_multi(lua),
                Err(e) => nil_err(lua, go_error("stat", &path, &e)),
            }
        })?,
    )?;

    globals.set(
        "list_dir",
        lua.create_function(|lua, args: MultiValue| {
            let path = check_string(lua, &args, 1, "list_dir")?;
            match list_dir(&path.as_bytes()) {
                Ok(entries) => {
                    let list = lua.create_table_with_capacity(entries.len(), 0)?;
                    for (name, md) in &entries {
                        list.push(entry_table(lua, Some(name), md)?)?;
                    }
                    list.into_lua_multi(lua)
                }
                Err(msg) => nil_err(lua, msg),
            }
        })?,
    )?;

    Ok(())
}

/// `true` on success, `nil, err` otherwise: the shape of every mutating builtin here.
fn ok_or_nil_err(lua: &Lua, result: Result<(), String>) -> mlua::Result<MultiValue> {
    match result {
        Ok(()) => true.into_lua_multi(lua),
        Err(msg) => nil_err(lua, msg),
    }
}

/// A Lua string is bytes, and so is a Unix path: no UTF-8 round trip, so any file name works.
fn to_path(bytes: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(bytes))
}

/// Go's wording: `open notes.txt: no such file or directory`. Rust's own `Display` appends
/// `(os error 2)` and capitalises, which reads like an internal error to a script author.
pub fn go_error(op: &str, path: &[u8], err: &io::Error) -> String {
    format!(
        "{op} {}: {}",
        String::from_utf8_lossy(path),
        io_error_text(err)
    )
}

/// The whole file, or a Go-worded error (shared with the families that read files: csv, ini, ...).
pub fn read_file(path: &[u8]) -> Result<Vec<u8>, String> {
    let mut file = File::open(to_path(path)).map_err(|e| go_error("open", path, &e))?;
    let mut contents = Vec::new();
    // A directory opens fine on Unix; the read is what fails, with EISDIR: `read notes: is a directory`.
    file.read_to_end(&mut contents)
        .map_err(|e| go_error("read", path, &e))?;
    Ok(contents)
}

/// Replaces `path` atomically: the data goes to a temporary file in the same directory, is flushed to
/// disk, and is renamed over the target, so a crash leaves either the old file or the new one. An
/// existing target keeps its permission bits (and, when allowed, its owner); a symlink is followed so
/// the file it points to is replaced, not the link. Shared with the families that write files.
pub fn write_file(path: &[u8], data: &[u8]) -> Result<(), String> {
    let last = path.rsplit(|&b| b == b'/').next().unwrap_or_default();
    if path.is_empty() {
        return Err(go_error(
            "open",
            path,
            &io::Error::from_raw_os_error(libc::ENOENT),
        ));
    }
    if matches!(last, b"" | b"." | b"..") {
        return Err(go_error(
            "open",
            path,
            &io::Error::from_raw_os_error(libc::EISDIR),
        ));
    }

    let target = resolve_symlink(to_path(path));
    let existing = fs::metadata(&target).ok();
    if existing.as_ref().is_some_and(Metadata::is_dir) {
        return Err(go_error(
            "open",
            path,
            &io::Error::from_raw_os_error(libc::EISDIR),
        ));
    }
    let dir = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = target.file_name().unwrap_or(OsStr::new("file"));

    let (temp_path, mut file) =
        create_temp(&dir, file_name, existing.is_some()).map_err(|e| go_error("open", path, &e))?;

    let written = (|| -> io::Result<()> {
        file.write_all(data)?;
        if let Some(md) = &existing {
            // Owner first: chown clears set-uid bits, which the chmod below restores. Changing the
            // owner needs privilege, so failing to is not an error.
            let _ = std::os::unix::fs::fchown(&file, Some(md.uid()), Some(md.gid()));
            file.set_permissions(Permissions::from_mode(md.mode() & 0o7777))?;
        }
        file.sync_all()
    })();
    drop(file);
    if let Err(e) = written {
        let _ = fs::remove_file(&temp_path);
        return Err(go_error("write", path, &e));
    }
    if let Err(e) = fs::rename(&temp_path, &target) {
        let _ = fs::remove_file(&temp_path);
        return Err(go_error("rename", path, &e));
    }
    // Make the rename itself durable. Some filesystems cannot fsync a directory; the data is safe anyway.
    if let Ok(dir_handle) = File::open(&dir) {
        let _ = dir_handle.sync_all();
    }
    Ok(())
}

/// The file a symlink points to, so that writing through a link updates its target. A dangling link
/// resolves to itself (and is then replaced by a regular file).
fn resolve_symlink(path: &Path) -> PathBuf {
    match fs::symlink_metadata(path) {
        Ok(md) if md.file_type().is_symlink() => {
            fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
        }
        _ => path.to_path_buf(),
    }
}

/// Creates `.<name>.<pid>-<n>.tmp` next to the target, exclusively (never reusing someone else's file).
/// A new file gets the usual 0666 & umask; a replacement starts private and gets the old mode later.
fn create_temp(dir: &Path, file_name: &OsStr, replacing: bool) -> io::Result<(PathBuf, File)> {
    // Keep the temporary name within NAME_MAX however long the target's name is.
    let stem: Vec<u8> = file_name.as_bytes().iter().copied().take(128).collect();
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut last_err = io::Error::from(io::ErrorKind::AlreadyExists);
    for attempt in 0..100u32 {
        let mut name = b".".to_vec();
        name.extend_from_slice(&stem);
        name.extend_from_slice(
            format!(".{}-{}.tmp", std::process::id(), seed.wrapping_add(attempt)).as_bytes(),
        );
        let temp_path = dir.join(OsString::from_vec(name));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(if replacing { 0o600 } else { 0o666 })
            .open(&temp_path)
        {
            Ok(file) => return Ok((temp_path, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_err = e,
            Err(e) => return Err(e),
        }
    }
    Err(last_err)
}

fn append_file(path: &[u8], data: &[u8]) -> Result<(), String> {
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o666)
        .open(to_path(path))
        .map_err(|e| go_error("open", path, &e))?;
    file.write_all(data)
        .map_err(|e| go_error("write", path, &e))
}

/// `mkdir -p`: parents are created, and a directory that already exists is success.
fn make_dir(path: &[u8]) -> Result<(), String> {
    if path.is_empty() {
        // std treats "" as already existing; there is no such directory.
        return Err(go_error(
            "mkdir",
            path,
            &io::Error::from_raw_os_error(libc::ENOENT),
        ));
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o777)
        .create(to_path(path))
        .map_err(|e| go_error("mkdir", path, &e))
}

/// Removes a file, a symlink (never what it points to) or an empty directory; with `recursive`, a
/// directory and everything in it.
fn remove(path: &[u8], recursive: bool) -> Result<(), String> {
    let p = to_path(path);
    let md = fs::symlink_metadata(p).map_err(|e| go_error("remove", path, &e))?;
    let result = if !md.is_dir() {
        fs::remove_file(p)
    } else if recursive {
        fs::remove_dir_all(p)
    } else {
        fs::remove_dir(p)
    };
    result.map_err(|e| go_error("remove", path, &e))
}

fn rename(from: &[u8], to: &[u8]) -> Result<(), String> {
    fs::rename(to_path(from), to_path(to)).map_err(|e| {
        format!(
            "rename {} {}: {}",
            String::from_utf8_lossy(from),
            String::from_utf8_lossy(to),
            io_error_text(&e)
        )
    })
}

/// The directory's entries as (name, lstat metadata), sorted by name bytewise. Like Go's `os.ReadDir`,
/// a symlink is reported as itself (mode `L...`, `is_dir` false), not as what it points to.
fn list_dir(path: &[u8]) -> Result<Vec<(Vec<u8>, Metadata)>, String> {
    let reader = fs::read_dir(to_path(path)).map_err(|e| go_error("open", path, &e))?;
    let mut entries = Vec::new();
    for entry in reader {
        let entry = entry.map_err(|e| go_error("readdir", path, &e))?;
        let name = entry.file_name().into_vec();
        match entry.metadata() {
            Ok(md) => entries.push((name, md)),
            // Deleted between listing and lstat: it is no longer in the directory.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                let mut full = path.to_vec();
                if !full.ends_with(b"/") {
                    full.push(b'/');
                }
                full.extend_from_slice(&name);
                return Err(go_error("lstat", &full, &e));
            }
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(entries)
}

/// `{name?, is_dir, is_file, size, mode, mod_time}` for `stat` and each `list_dir` entry.
fn entry_table(lua: &Lua, name: Option<&[u8]>, md: &Metadata) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(0, 6)?;
    if let Some(name) = name {
        t.set("name", lua.create_string(name)?)?;
    }
    t.set("is_dir", md.is_dir())?;
    t.set("is_file", md.is_file())?;
    t.set("size", i64::try_from(md.size()).unwrap_or(i64::MAX))?;
    t.set("mode", mode_string(md.mode()))?;
    t.set("mod_time", md.mtime())?;
    Ok(t)
}

/// A raw `st_mode` in Go's `FileMode.String` form: type letters (`d` directory, `L` symlink, `D`
/// device, `p` pipe, `S` socket, `u` setuid, `g` setgid, `c` char device, `t` sticky), or `-` when
/// none apply, then the nine `rwx` permission bits. So `-rw-r--r--`, `drwxr-xr-x`, `dtrwxrwxrwx`.
fn mode_string(mode: u32) -> String {
    const IFMT: u32 = 0o170_000;
    let kind = mode & IFMT;
    let mut s = String::with_capacity(12);
    let letters = [
        (kind == 0o040_000, 'd'),
        (kind == 0o120_000, 'L'),
        (kind == 0o060_000 || kind == 0o020_000, 'D'),
        (kind == 0o010_000, 'p'),
        (kind == 0o140_000, 'S'),
        (mode & 0o4000 != 0, 'u'),
        (mode & 0o2000 != 0, 'g'),
        (kind == 0o020_000, 'c'),
        (mode & 0o1000 != 0, 't'),
    ];
    for (set, letter) in letters {
        if set {
            s.push(letter);
        }
    }
    if s.is_empty() {
        s.push('-');
    }
    for (i, letter) in "rwxrwxrwx".chars().enumerate() {
        s.push(if mode & (1 << (8 - i)) != 0 {
            letter
        } else {
            '-'
        });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A fresh directory under the system temp dir, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Scratch {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let dir =
                std::env::temp_dir().join(format!("solvm-fs-{tag}-{}-{nanos}", std::process::id()));
            fs::create_dir_all(&dir).expect("create scratch dir");
            Scratch(dir)
        }

        /// `name` inside the scratch dir, as the bytes a script would pass.
        fn path(&self, name: &str) -> Vec<u8> {
            self.0.join(name).into_os_string().into_vec()
        }

        fn names(&self) -> Vec<String> {
            let mut names: Vec<String> = fs::read_dir(&self.0)
                .expect("read scratch")
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn lua_with_fs() -> Lua {
        let lua = Lua::new();
        register(&lua).expect("register");
        lua
    }

    fn shown(p: &[u8]) -> String {
        String::from_utf8_lossy(p).into_owned()
    }

    #[test]
    fn mode_strings_follow_go() {
        assert_eq!(mode_string(0o100_644), "-rw-r--r--");
        assert_eq!(mode_string(0o100_000), "----------");
        assert_eq!(mode_string(0o040_755), "drwxr-xr-x");
        assert_eq!(mode_string(0o120_777), "Lrwxrwxrwx");
        assert_eq!(mode_string(0o041_777), "dtrwxrwxrwx");
        assert_eq!(mode_string(0o104_755), "urwxr-xr-x");
        assert_eq!(mode_string(0o020_666), "Dcrw-rw-rw-");
        assert_eq!(mode_string(0o060_660), "Drw-rw----");
        assert_eq!(mode_string(0o010_644), "prw-r--r--");
        assert_eq!(mode_string(0o140_755), "Srwxr-xr-x");
    }

    #[test]
    fn errors_read_like_go() {
        let err = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(
            go_error("open", b"missing.txt", &err),
            "open missing.txt: no such file or directory"
        );
        let err = io::Error::from_raw_os_error(libc::EACCES);
        assert_eq!(
            go_error("open", b"/root/x", &err),
            "open /root/x: permission denied"
        );
    }

    #[test]
    fn read_write_round_trip_binary() {
        let dir = Scratch::new("rw");
        let path = dir.path("data.bin");
        let data: Vec<u8> = (0..=255u8).chain([0, 0, 0xff, 0xfe]).collect();
        write_file(&path, &data).expect("write");
        assert_eq!(read_file(&path).expect("read"), data);
        write_file(&path, b"").expect("write empty");
        assert_eq!(read_file(&path).expect("read empty"), b"");
    }

    #[test]
    fn read_errors() {
        let dir = Scratch::new("readerr");
        let missing = dir.path("missing.txt");
        assert_eq!(
            read_file(&missing).unwrap_err(),
            format!("open {}: no such file or directory", shown(&missing))
        );
        let folder = dir.path("notes");
        fs::create_dir(to_path(&folder)).expect("mkdir");
        assert_eq!(
            read_file(&folder).unwrap_err(),
            format!("read {}: is a directory", shown(&folder))
        );
    }

    #[test]
    fn write_is_atomic_and_leaves_no_temp_files() {
        let dir = Scratch::new("atomic");
        let path = dir.path("out.txt");
        write_file(&path, b"first").expect("write 1");
        write_file(&path, b"second, longer").expect("write 2");
        assert_eq!(read_file(&path).expect("read"), b"second, longer");
        assert_eq!(dir.names(), vec!["out.txt".to_string()]);
    }

    #[test]
    fn write_keeps_permissions_of_existing_file() {
        let dir = Scratch::new("perm");
        let path = dir.path("script.sh");
        fs::write(to_path(&path), b"old").expect("seed");
        fs::set_permissions(to_path(&path), Permissions::from_mode(0o751)).expect("chmod");
        write_file(&path, b"new").expect("write");
        let md = fs::metadata(to_path(&path)).expect("stat");
        assert_eq!(md.mode() & 0o7777, 0o751);
        assert_eq!(read_file(&path).expect("read"), b"new");
    }

    #[test]
    fn write_follows_symlinks() {
        let dir = Scratch::new("link");
        let real = dir.path("real.txt");
        let link = dir.path("link.txt");
        fs::write(to_path(&real), b"old").expect("seed");
        symlink(to_path(&real), to_path(&link)).expect("symlink");
        write_file(&link, b"new").expect("write");
        assert!(fs::symlink_metadata(to_path(&link))
            .expect("lstat")
            .file_type()
            .is_symlink());
        assert_eq!(read_file(&real).expect("read"), b"new");
        assert_eq!(
            dir.names(),
            vec!["link.txt".to_string(), "real.txt".to_string()]
        );
    }

    #[test]
    fn write_errors() {
        let dir = Scratch::new("writeerr");
        let nested = dir.path("no/such/dir/file.txt");
        assert_eq!(
            write_file(&nested, b"x").unwrap_err(),
            format!("open {}: no such file or directory", shown(&nested))
        );
        assert!(!dir.0.join("no").exists(), "parents must not be created");
        let folder = dir.path("folder");
        fs::create_dir(to_path(&folder)).expect("mkdir");
        assert_eq!(
            write_file(&folder, b"x").unwrap_err(),
            format!("open {}: is a directory", shown(&folder))
        );
        let mut slash = dir.path("new");
        slash.push(b'/');
        assert!(write_file(&slash, b"x")
            .unwrap_err()
            .ends_with("is a directory"));
        assert!(write_file(b"", b"x")
            .unwrap_err()
            .ends_with("no such file or directory"));
        assert_eq!(dir.names(), vec!["folder".to_string()]);
    }

    #[test]
    fn append_creates_then_appends() {
        let dir = Scratch::new("append");
        let path = dir.path("log.txt");
        append_file(&path, b"one\n").expect("append 1");
        append_file(&path, b"two\n").expect("append 2");
        assert_eq!(read_file(&path).expect("read"), b"one\ntwo\n");
        let bad = dir.path("missing/log.txt");
        assert_eq!(
            append_file(&bad, b"x").unwrap_err(),
            format!("open {}: no such file or directory", shown(&bad))
        );
    }

    #[test]
    fn mkdir_creates_parents_and_accepts_existing() {
        let dir = Scratch::new("mkdir");
        let nested = dir.path("a/b/c");
        make_dir(&nested).expect("mkdir -p");
        assert!(dir.0.join("a/b/c").is_dir());
        make_dir(&nested).expect("existing dir is fine");
        let file = dir.path("file");
        fs::write(to_path(&file), b"").expect("seed");
        assert!(make_dir(&file)
            .unwrap_err()
            .starts_with(&format!("mkdir {}: ", shown(&file))));
        assert!(make_dir(b"").is_err());
    }

    #[test]
    fn remove_files_and_directories() {
        let dir = Scratch::new("remove");
        let file = dir.path("f.txt");
        fs::write(to_path(&file), b"x").expect("seed");
        remove(&file, false).expect("remove file");
        assert!(!dir.0.join("f.txt").exists());
        assert_eq!(
            remove(&file, false).unwrap_err(),
            format!("remove {}: no such file or directory", shown(&file))
        );

        let tree = dir.path("tree");
        fs::create_dir_all(dir.0.join("tree/sub")).expect("seed tree");
        fs::write(dir.0.join("tree/sub/x"), b"x").expect("seed file");
        assert_eq!(
            remove(&tree, false).unwrap_err(),
            format!("remove {}: directory not empty", shown(&tree))
        );
        remove(&tree, true).expect("remove recursive");
        assert!(!dir.0.join("tree").exists());

        let empty = dir.path("empty");
        fs::create_dir(to_path(&empty)).expect("seed empty");
        remove(&empty, false).expect("remove empty dir");
    }

    #[test]
    fn remove_recursive_does_not_follow_symlinks() {
        let dir = Scratch::new("removelink");
        fs::create_dir(dir.0.join("keep")).expect("seed");
        fs::write(dir.0.join("keep/x"), b"x").expect("seed file");
        symlink(dir.0.join("keep"), dir.0.join("link")).expect("symlink");
        remove(&dir.path("link"), true).expect("remove link");
        assert!(dir.0.join("keep/x").exists());
    }

    #[test]
    fn rename_moves_and_reports_both_paths() {
        let dir = Scratch::new("rename");
        let from = dir.path("a.txt");
        let to = dir.path("b.txt");
        fs::write(to_path(&from), b"x").expect("seed");
        rename(&from, &to).expect("rename");
        assert_eq!(read_file(&to).expect("read"), b"x");
        assert_eq!(
            rename(&from, &to).unwrap_err(),
            format!(
                "rename {} {}: no such file or directory",
                shown(&from),
                shown(&to)
            )
        );
    }

    #[test]
    fn list_dir_sorted_with_metadata() {
        let dir = Scratch::new("list");
        fs::write(dir.0.join("b.txt"), b"12345").expect("seed");
        fs::write(dir.0.join("a.txt"), b"").expect("seed");
        fs::write(dir.0.join("é.txt"), b"x").expect("seed");
        fs::create_dir(dir.0.join("C")).expect("seed");
        let entries = list_dir(&dir.path("")).expect("list");
        let names: Vec<String> = entries.iter().map(|(n, _)| shown(n)).collect();
        assert_eq!(names, vec!["C", "a.txt", "b.txt", "é.txt"]);
        assert!(entries[0].1.is_dir());
        assert_eq!(entries[2].1.size(), 5);

        let empty = dir.path("C");
        assert!(list_dir(&empty).expect("list empty").is_empty());
        let missing = dir.path("missing");
        assert_eq!(
            list_dir(&missing).unwrap_err(),
            format!("open {}: no such file or directory", shown(&missing))
        );
        let file = dir.path("a.txt");
        assert!(list_dir(&file).unwrap_err().ends_with("not a directory"));
    }

    #[test]
    fn lua_bindings_end_to_end() {
        let dir = Scratch::new("lua");
        let lua = lua_with_fs();
        lua.globals()
            .set("DIR", dir.0.to_string_lossy().into_owned())
            .expect("set DIR");
        let out: String = lua
            .load(
                r#"
                local p = DIR .. "/x.bin"
                assert(write_file(p, "a\0b") == true)
                assert(append_file(p, "\0c") == true)
                assert(read_file(p) == "a\0b\0c")
                assert(file_exists(p) and file_exists(DIR) and not file_exists(DIR .. "/nope"))
                assert(mkdir(DIR .. "/d/e") == true)
                local st = stat(p)
                assert(st.size == 5 and st.is_dir == false and st.is_file == true)
                assert(math.type(st.size) == "integer" and math.type(st.mod_time) == "integer")
                assert(stat(DIR .. "/d").mode:sub(1, 1) == "d")
                local list = list_dir(DIR)
                assert(#list == 2 and list[1].name == "d" and list[2].name == "x.bin")
                assert(list[1].is_dir and not list[2].is_dir and list[2].size == 5)
                assert(rename(p, DIR .. "/y.bin") == true)
                local ok, err = remove(DIR .. "/d")
                assert(ok == nil and err:find("directory not empty", 1, true))
                assert(remove(DIR .. "/d", true) == true)
                local v, e = read_file(DIR .. "/x.bin")
                assert(v == nil and e:find("no such file or directory", 1, true))
                local s, e2 = stat(DIR .. "/x.bin")
                assert(s == nil and e2:find("^stat "))
                return "ok"
                "#,
            )
            .eval()
            .expect("script");
        assert_eq!(out, "ok");
    }

    #[test]
    fn lua_argument_errors_raise() {
        let lua = lua_with_fs();
        let cases = [
            (
                "read_file()",
                "bad argument #1 to 'read_file' (string expected, got no value)",
            ),
            (
                "read_file({})",
                "bad argument #1 to 'read_file' (string expected, got table)",
            ),
            (
                "write_file('x')",
                "bad argument #2 to 'write_file' (string expected, got no value)",
            ),
            (
                "append_file(true, 'x')",
                "bad argument #1 to 'append_file' (string expected, got boolean)",
            ),
            (
                "file_exists()",
                "bad argument #1 to 'file_exists' (string expected, got no value)",
            ),
            (
                "mkdir({})",
                "bad argument #1 to 'mkdir' (string expected, got table)",
            ),
            (
                "remove('x', 'yes')",
                "bad argument #2 to 'remove' (boolean expected, got string)",
            ),
            (
                "rename('a')",
                "bad argument #2 to 'rename' (string expected, got no value)",
            ),
            (
                "stat(print)",
                "bad argument #1 to 'stat' (string expected, got function)",
            ),
            (
                "list_dir()",
                "bad argument #1 to 'list_dir' (string expected, got no value)",
            ),
        ];
        for (code, expected) in cases {
            let err = lua.load(code).exec().expect_err(code).to_string();
            assert!(err.contains(expected), "{code}: {err}");
        }
    }
}
