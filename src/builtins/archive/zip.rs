//! `zip.create/extract/list` (the `zip` crate, deflate through `flate2`/`zlib-rs`). Extraction
//! checks every entry with `paths::Guard` before writing anything; ZIP times carry no zone and are
//! read and written as UTC.

use super::paths::{self, EntryKind, Guard, Kind};
use super::tar::Listed;
use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use zip::write::SimpleFileOptions;

fn open(archive: &Path) -> Result<zip::ZipArchive<BufReader<File>>, String> {
    let file = File::open(archive).map_err(|e| format!("{}: {e}", archive.display()))?;
    zip::ZipArchive::new(BufReader::new(file)).map_err(|e| format!("{}: {e}", archive.display()))
}

/// Seconds since the epoch of a ZIP time taken as UTC.
fn unix_time(t: Option<zip::DateTime>) -> i64 {
    let Some(t) = t else { return 0 };
    chrono::NaiveDate::from_ymd_opt(t.year().into(), t.month().into(), t.day().into())
        .and_then(|d| d.and_hms_opt(t.hour().into(), t.minute().into(), t.second().into()))
        .map_or(0, |dt| dt.and_utc().timestamp())
}

/// A ZIP time for `secs` (UTC), clamped to what ZIP can hold (1980 to 2107).
fn zip_time(secs: i64) -> zip::DateTime {
    use chrono::{Datelike, Timelike};
    let dt = chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default();
    zip::DateTime::from_date_and_time(
        dt.year().clamp(1980, 2107) as u16,
        dt.month() as u8,
        dt.day() as u8,
        dt.hour() as u8,
        dt.minute() as u8,
        dt.second() as u8,
    )
    .unwrap_or_default()
}

pub fn list(archive: &Path) -> Result<Vec<Listed>, String> {
    let mut ar = open(archive)?;
    let mut out = Vec::with_capacity(ar.len());
    for i in 0..ar.len() {
        let mut f = ar
            .by_index(i)
            .map_err(|e| format!("{}: {e}", archive.display()))?;
        let kind = if f.is_symlink() {
            "symlink"
        } else if f.is_dir() {
            "dir"
        } else {
            "file"
        };
        let mut link = None;
        if f.is_symlink() {
            let mut target = String::new();
            let _ = (&mut f).take(4096).read_to_string(&mut target);
            link = Some(target);
        }
        out.push(Listed {
            name: f
                .name()
                .map_err(|e| format!("{}: {e}", archive.display()))?
                .into_owned(),
            size: f.size(),
            mode: f.unix_mode().unwrap_or(0) & 0o7777,
            kind,
            mod_time: unix_time(f.last_modified()),
            link,
        });
    }
    Ok(out)
}

/// What to do with one checked entry.
enum Planned {
    Dir(PathBuf),
    File(PathBuf, usize, Option<u32>),
    Symlink(PathBuf, PathBuf),
}

pub fn extract(archive: &Path, dir: &Path, max_bytes: u64) -> Result<(), String> {
    let mut ar = open(archive)?;
    let too_big = |p: &Path| {
        format!(
            "refused entry {}: the files would take more than max_bytes ({max_bytes} bytes)",
            p.display()
        )
    };
    let mut declared: u64 = 0;
    let fail = |e: zip::result::ZipError| format!("{}: {e}", archive.display());
    let mut guard = Guard::default();
    let mut plan = Vec::with_capacity(ar.len());
    for i in 0..ar.len() {
        let mut f = ar.by_index(i).map_err(fail)?;
        let name = PathBuf::from(f.name().map_err(fail)?.as_ref());
        let refuse = |why: String| format!("refused entry {}: {why}", name.display());
        if f.is_symlink() {
            let mut target = String::new();
            (&mut f)
                .take(4096)
                .read_to_string(&mut target)
                .map_err(|e| refuse(e.to_string()))?;
            let target = PathBuf::from(target);
            let path = guard
                .check(&name, EntryKind::Symlink(&target))
                .map_err(refuse)?;
            plan.push(Planned::Symlink(path, target));
        } else if f.is_dir() {
            plan.push(Planned::Dir(
                guard.check(&name, EntryKind::Dir).map_err(refuse)?,
            ));
        } else {
            let path = guard.check(&name, EntryKind::File).map_err(refuse)?;
            declared = declared.saturating_add(f.size());
            if declared > max_bytes {
                return Err(too_big(&name));
            }
            plan.push(Planned::File(path, i, f.unix_mode()));
        }
    }
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // The sizes checked above are what the archive declares; what is written is counted too.
    let mut left = max_bytes;
    for step in plan {
        match step {
            Planned::Dir(p) => {
                let target = dir.join(&p);
                fs::create_dir_all(&target).map_err(|e| format!("entry {}: {e}", p.display()))?;
                if !paths::inside(dir, &target) {
                    return Err(format!(
                        "refused entry {}: outside the destination",
                        p.display()
                    ));
                }
            }
            Planned::File(p, index, mode) => {
                let target = writable(dir, &p)?;
                let mut f = ar.by_index(index).map_err(fail)?;
                let mut over = false;
                let result = File::create(&target).and_then(|mut out| {
                    let n = io::copy(&mut (&mut f).take(left.saturating_add(1)), &mut out)?;
                    over = n > left;
                    left = left.saturating_sub(n);
                    match mode {
                        Some(m) => out.set_permissions(fs::Permissions::from_mode(m & 0o777)),
                        None => Ok(()),
                    }
                });
                result.map_err(|e| format!("entry {}: {e}", p.display()))?;
                if over {
                    let _ = fs::remove_file(&target);
                    return Err(too_big(&p));
                }
            }
            Planned::Symlink(p, link_target) => {
                let target = writable(dir, &p)?;
                std::os::unix::fs::symlink(&link_target, &target)
                    .map_err(|e| format!("entry {}: {e}", p.display()))?;
            }
        }
    }
    Ok(())
}

/// `dir/p` ready to be created: parents made and checked to be inside `dir` (a symlink already on
/// disk could lead out), and whatever was there removed (a file is replaced, never written through).
fn writable(dir: &Path, p: &Path) -> Result<PathBuf, String> {
    let target = dir.join(p);
    let parent = target.parent().unwrap_or(dir);
    fs::create_dir_all(parent).map_err(|e| format!("entry {}: {e}", p.display()))?;
    if !paths::inside(dir, parent) {
        return Err(format!(
            "refused entry {}: outside the destination",
            p.display()
        ));
    }
    if let Ok(md) = fs::symlink_metadata(&target) {
        if md.is_dir() {
            return Err(format!("entry {}: a directory is in the way", p.display()));
        }
        fs::remove_file(&target).map_err(|e| format!("entry {}: {e}", p.display()))?;
    }
    Ok(target)
}

pub fn create(archive: &Path, dir: &Path) -> Result<(), String> {
    let items = paths::walk(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let temp = super::temp_beside(archive);
    let result = (|| -> Result<(), String> {
        let file = File::create(&temp).map_err(|e| e.to_string())?;
        let mut w = zip::ZipWriter::new(io::BufWriter::new(file));
        for item in &items {
            let options = SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .unix_permissions(item.mode)
                .last_modified_time(zip_time(item.mod_time));
            let named = |e: &dyn std::fmt::Display| format!("{}: {e}", item.name);
            match item.kind {
                Kind::Dir => w.add_directory(format!("{}/", item.name), options),
                Kind::Symlink => {
                    let target = fs::read_link(&item.disk).map_err(|e| named(&e))?;
                    w.add_symlink(&item.name, target.to_string_lossy(), options)
                }
                Kind::File => {
                    w.start_file(&item.name, options).map_err(|e| named(&e))?;
                    let mut src = File::open(&item.disk).map_err(|e| named(&e))?;
                    io::copy(&mut src, &mut w).map_err(|e| named(&e))?;
                    Ok(())
                }
            }
            .map_err(|e| named(&e))?;
        }
        let mut out = w.finish().map_err(|e| e.to_string())?;
        io::Write::flush(&mut out).map_err(|e| e.to_string())?;
        fs::rename(&temp, archive).map_err(|e| e.to_string())
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&temp);
        format!("{}: {e}", archive.display())
    })
}
