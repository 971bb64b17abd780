//! What `tar` and `zip` share: walking a directory to archive it (sorted, so an archive of the same
//! tree is the same), and the guard that decides whether an entry may be extracted. The guard
//! refuses absolute names, `..` segments, links whose target leaves the destination, and entries
//! that would be written through a link the archive made (so a link cannot smuggle a later entry
//! out); the crates' own checks stay on as a second line.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

/// One thing to archive: its path on disk, its name in the archive (`/`-separated, relative) and
/// what it is.
pub struct Item {
    pub disk: PathBuf,
    pub name: String,
    pub kind: Kind,
    pub mode: u32,
    pub mod_time: i64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
}

/// Every file, directory and symlink under `dir` (symlinks not followed), parents before their
/// contents, names sorted.
pub fn walk(dir: &Path) -> io::Result<Vec<Item>> {
    let mut items = Vec::new();
    let mut pending = vec![(dir.to_path_buf(), String::new())];
    while let Some((disk_dir, prefix)) = pending.pop() {
        let mut entries: Vec<_> = fs::read_dir(&disk_dir)?.collect::<io::Result<_>>()?;
        entries.sort_by_key(|e| e.file_name());
        let mut subdirs = Vec::new();
        for entry in entries {
            let md = fs::symlink_metadata(entry.path())?;
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            let kind = if md.file_type().is_symlink() {
                Kind::Symlink
            } else if md.is_dir() {
                Kind::Dir
            } else if md.is_file() {
                Kind::File
            } else {
                // Sockets, FIFOs and devices have no place in a portable archive.
                continue;
            };
            if kind == Kind::Dir {
                subdirs.push((entry.path(), format!("{name}/")));
            }
            items.push(Item {
                disk: entry.path(),
                name,
                kind,
                mode: md.mode() & 0o7777,
                mod_time: md.mtime(),
            });
        }
        // Depth first, in name order: pushed reversed so the first name comes out first.
        pending.extend(subdirs.into_iter().rev());
    }
    // Keep each directory before what it holds, and otherwise name order.
    items.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(items)
}

/// What an archive entry is, as the guard needs to know it.
pub enum EntryKind<'a> {
    File,
    Dir,
    /// A symbolic link to this target (as stored).
    Symlink(&'a Path),
    /// A hard link to this other entry of the archive.
    Hardlink(&'a Path),
    /// Devices, FIFOs, ...: never extracted.
    Other,
}

/// Checks the entries of one archive, in order, before anything is extracted.
#[derive(Default)]
pub struct Guard {
    /// Names of the links seen so far: no later entry may be written through one.
    links: Vec<PathBuf>,
}

impl Guard {
    /// The entry's safe relative path, or why it is refused (the caller names the entry).
    pub fn check(&mut self, name: &Path, kind: EntryKind<'_>) -> Result<PathBuf, String> {
        let path = relative(name)?;
        if path.as_os_str().is_empty() {
            // `./` itself: the destination directory.
            return Ok(path);
        }
        if let Some(link) = self
            .links
            .iter()
            .find(|l| path.starts_with(l) && **l != path)
        {
            return Err(format!(
                "it would be written through the link {}",
                link.display()
            ));
        }
        match kind {
            EntryKind::File | EntryKind::Dir => {}
            EntryKind::Symlink(target) => {
                if target.is_absolute() {
                    return Err(format!("a link to the absolute path {}", target.display()));
                }
                let base = path.parent().unwrap_or(Path::new(""));
                if escapes(&base.join(target)) {
                    return Err(format!(
                        "a link to {}, outside the destination",
                        target.display()
                    ));
                }
                self.links.push(path.clone());
            }
            EntryKind::Hardlink(target) => {
                let target = relative(target).map_err(|why| format!("a hard link to {why}"))?;
                if self.links.iter().any(|l| target.starts_with(l)) {
                    return Err("a hard link through a symbolic link".into());
                }
                self.links.push(path.clone());
            }
            EntryKind::Other => return Err("not a file, directory or link".into()),
        }
        Ok(path)
    }
}

/// `name` as a relative path without `.` segments; refused when absolute or with `..`.
fn relative(name: &Path) -> Result<PathBuf, String> {
    let mut out = PathBuf::new();
    for part in name.components() {
        match part {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => return Err(format!("a `..` in {}", name.display())),
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!("the absolute path {}", name.display()))
            }
        }
    }
    Ok(out)
}

/// Whether a relative path, resolved lexically, leaves the directory it is relative to.
fn escapes(path: &Path) -> bool {
    let mut depth: i64 = 0;
    for part in path.components() {
        match part {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            Component::RootDir | Component::Prefix(_) => return true,
        }
    }
    false
}

/// Whether `path` (under `root`, both existing) really is inside `root` once symlinks already on
/// disk are followed: the last check before a file is written.
pub fn inside(root: &Path, path: &Path) -> bool {
    match (fs::canonicalize(root), fs::canonicalize(path)) {
        (Ok(root), Ok(path)) => path.starts_with(root),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(guard: &mut Guard, name: &str, kind: EntryKind<'_>) -> Result<PathBuf, String> {
        guard.check(Path::new(name), kind)
    }

    #[test]
    fn refuses_what_leaves_the_destination() {
        let mut g = Guard::default();
        assert_eq!(
            check(&mut g, "./a/b.txt", EntryKind::File),
            Ok("a/b.txt".into())
        );
        assert!(check(&mut g, "../../x", EntryKind::File).is_err());
        assert!(check(&mut g, "a/../../x", EntryKind::File).is_err());
        assert!(check(&mut g, "/etc/x", EntryKind::File).is_err());
        assert!(check(&mut g, "l", EntryKind::Symlink(Path::new("/etc"))).is_err());
        assert!(check(&mut g, "a/l", EntryKind::Symlink(Path::new("../../x"))).is_err());
        assert!(check(&mut g, "a/ok", EntryKind::Symlink(Path::new("../b"))).is_ok());
        // Nothing goes through a link the archive made, even one pointing inside.
        assert!(check(&mut g, "a/ok/x", EntryKind::File).is_err());
        assert!(check(&mut g, "h", EntryKind::Hardlink(Path::new("../x"))).is_err());
        assert!(check(&mut g, "h", EntryKind::Hardlink(Path::new("a/ok/y"))).is_err());
        assert!(check(&mut g, "h2", EntryKind::Hardlink(Path::new("a/b.txt"))).is_ok());
        assert!(check(&mut g, "dev", EntryKind::Other).is_err());
    }

    #[test]
    fn escapes_is_lexical() {
        assert!(!escapes(Path::new("a/../b")));
        assert!(escapes(Path::new("a/../../b")));
        assert!(escapes(Path::new("..")));
        assert!(!escapes(Path::new("./x")));
    }
}
