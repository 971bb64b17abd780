//! `tar.create/extract/list` (the `tar` crate; gzip through `flate2`). Names in an archive are
//! relative to the archived directory; extraction is checked whole before anything is written
//! (`paths::Guard`): an entry named `../x` or `/etc/x`, or a link leading out, refuses the archive
//! with an error naming the entry.

use super::compress::{self, Format};
use super::paths::{self, EntryKind, Guard, Kind};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::path::Path;

/// One entry as `tar.list` shows it.
pub struct Listed {
    pub name: String,
    pub size: u64,
    pub mode: u32,
    pub kind: &'static str,
    pub mod_time: i64,
    pub link: Option<String>,
}

/// Opens an archive, gunzipping when it starts with the gzip magic (whatever its name).
fn open(archive: &Path) -> io::Result<tar::Archive<Box<dyn Read>>> {
    let mut file = File::open(archive)?;
    let mut magic = [0u8; 2];
    let gzipped = file.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    file.rewind()?;
    let reader: Box<dyn Read> = if gzipped {
        compress::reader(Format::Gzip, BufReader::new(file))?
    } else {
        Box::new(BufReader::new(file))
    };
    Ok(tar::Archive::new(reader))
}

fn kind_name(t: tar::EntryType) -> &'static str {
    match t {
        tar::EntryType::Regular | tar::EntryType::Continuous => "file",
        tar::EntryType::Directory => "dir",
        tar::EntryType::Symlink => "symlink",
        tar::EntryType::Link => "hardlink",
        _ => "other",
    }
}

/// The entries of `archive`.
pub fn list(archive: &Path) -> Result<Vec<Listed>, String> {
    let fail = |e: io::Error| format!("{}: {e}", archive.display());
    let mut ar = open(archive).map_err(fail)?;
    let mut out = Vec::new();
    for entry in ar.entries().map_err(fail)? {
        let entry = entry.map_err(fail)?;
        let header = entry.header();
        out.push(Listed {
            name: entry.path().map_err(fail)?.to_string_lossy().into_owned(),
            size: entry.size(),
            mode: header.mode().unwrap_or(0) & 0o7777,
            kind: kind_name(header.entry_type()),
            mod_time: header.mtime().unwrap_or(0) as i64,
            link: entry
                .link_name()
                .ok()
                .flatten()
                .map(|l| l.to_string_lossy().into_owned()),
        });
    }
    Ok(out)
}

/// Checks every entry; the first refused one is the error. The files' sizes (from their headers:
/// tar writes exactly that many bytes of each) must add up to `max_bytes` at most.
fn check_all(archive: &Path, max_bytes: u64) -> Result<(), String> {
    let mut total: u64 = 0;
    let fail = |e: io::Error| format!("{}: {e}", archive.display());
    let mut ar = open(archive).map_err(fail)?;
    let mut guard = Guard::default();
    for entry in ar.entries().map_err(fail)? {
        let entry = entry.map_err(fail)?;
        let name = entry.path().map_err(fail)?.into_owned();
        let link = entry.link_name().map_err(fail)?.map(|l| l.into_owned());
        let kind = match (entry.header().entry_type(), &link) {
            (tar::EntryType::Regular | tar::EntryType::Continuous, _) => EntryKind::File,
            (tar::EntryType::Directory, _) => EntryKind::Dir,
            (tar::EntryType::Symlink, Some(target)) => EntryKind::Symlink(target),
            (tar::EntryType::Link, Some(target)) => EntryKind::Hardlink(target),
            _ => EntryKind::Other,
        };
        if matches!(kind, EntryKind::File) {
            total = total.saturating_add(entry.size());
        }
        guard
            .check(&name, kind)
            .map_err(|why| format!("refused entry {}: {why}", name.display()))?;
        if total > max_bytes {
            return Err(format!(
                "refused entry {}: the files would take more than max_bytes ({max_bytes} bytes)",
                name.display()
            ));
        }
    }
    Ok(())
}

/// Extracts `archive` into `dir` (created if missing) once every entry has passed the guard.
pub fn extract(archive: &Path, dir: &Path, max_bytes: u64) -> Result<(), String> {
    check_all(archive, max_bytes)?;
    let fail = |e: io::Error| format!("{}: {e}", archive.display());
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut ar = open(archive).map_err(fail)?;
    ar.set_overwrite(true);
    for entry in ar.entries().map_err(fail)? {
        let mut entry = entry.map_err(fail)?;
        let name = entry.path().map_err(fail)?.into_owned();
        // The crate checks again (a symlink already on disk, say) and skips what would leave `dir`.
        match entry.unpack_in(dir) {
            Ok(true) => {}
            Ok(false) => {
                return Err(format!(
                    "refused entry {}: outside the destination",
                    name.display()
                ))
            }
            Err(e) => return Err(format!("entry {}: {e}", name.display())),
        }
    }
    Ok(())
}

/// Archives the tree under `dir` into `archive` (gzipped when `gzip`), written to a temporary file
/// first so a failure leaves no half archive.
pub fn create(archive: &Path, dir: &Path, gzip: bool) -> Result<(), String> {
    let items = paths::walk(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let temp = super::temp_beside(archive);
    let result = (|| -> io::Result<()> {
        let file = BufWriter::new(File::create(&temp)?);
        let mut file = if gzip {
            let gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
            build(tar::Builder::new(gz), &items)?.finish()?
        } else {
            build(tar::Builder::new(file), &items)?
        };
        file.flush()?;
        std::fs::rename(&temp, archive)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        format!("{}: {e}", archive.display())
    })
}

/// Writes `items` with their permission bits only (no file-type bits in the mode field, as GNU tar
/// writes it), their mtime, and symlinks as links.
fn build<W: io::Write>(mut b: tar::Builder<W>, items: &[paths::Item]) -> io::Result<W> {
    for item in items {
        let md = std::fs::symlink_metadata(&item.disk)?;
        let mut header = tar::Header::new_gnu();
        header.set_metadata(&md);
        header.set_mode(item.mode);
        match item.kind {
            Kind::Dir => {
                header.set_size(0);
                b.append_data(&mut header, &item.name, io::empty())?;
            }
            Kind::Symlink => {
                let target = std::fs::read_link(&item.disk)?;
                header.set_size(0);
                b.append_link(&mut header, &item.name, target)?;
            }
            Kind::File => {
                let file = File::open(&item.disk)?;
                b.append_data(&mut header, &item.name, file)?;
            }
        }
    }
    b.into_inner()
}
