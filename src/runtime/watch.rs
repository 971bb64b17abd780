//! File watching for `watch_file(path, fn)` and `--watch`: one callback per burst of changes to the
//! file's content.
//!
//! The watch is on the file's parent directory, filtered by the file's name, so it survives editors
//! that save by writing a temporary file and renaming it over the original (a watch on the file
//! itself would follow the old, replaced inode). Only content changes count: a write, a create, a
//! rename to or from the name, a remove (and closing a file opened for writing). Opening or reading
//! the file does not, nor does a change of its metadata, so a callback that reads its own file, or a
//! run that reads its script, does not trigger itself. A burst ends after [`DEBOUNCE`] of quiet;
//! whether it was a create, modify or remove is read off the file's existence before and after it,
//! which stays right however the editor got there.

use notify::event::{AccessKind, AccessMode, ModifyKind};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use parking_lot::ReentrantMutex;
use std::cell::Cell;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Quiet time after the last change before a burst counts as finished.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// An active watch; dropping it stops the watch.
pub struct FileWatch {
    /// Set (under the lock) when the watch is dropped. The lock is also held while the callback
    /// runs, so once `drop` returns no callback is running or will run. Reentrant, because the
    /// callback itself may drop the watch.
    stopped: Arc<ReentrantMutex<Cell<bool>>>,
    /// Kept for its `Drop`, which ends the watcher; the burst thread then ends too.
    _watcher: RecommendedWatcher,
}

impl std::fmt::Debug for FileWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileWatch").finish_non_exhaustive()
    }
}

impl Drop for FileWatch {
    fn drop(&mut self) {
        self.stopped.lock().set(true);
    }
}

/// Whether an event of this kind changes what the file holds (see the module comment).
fn changes_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) | EventKind::Any => true,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Modify(_) => true,
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) | EventKind::Other => false,
    }
}

/// Calls `on_change(path, event)` once per burst of content changes to the file `path` (after
/// ~150 ms of quiet); `event` is "modify", "create" or "remove". Editors that replace the file by
/// writing a temp file and renaming it over the original still produce a callback (the parent
/// directory is watched and filtered by file name, so the watch survives the file being replaced).
/// A path that does not exist → Err with a clear message
/// (`watch_file: cannot watch 'x': no such file or directory`).
///
/// The callback runs on the watch's own thread.
pub fn watch(
    path: &Path,
    on_change: Box<dyn Fn(PathBuf, &'static str) + Send + 'static>,
) -> Result<FileWatch, String> {
    watch_debounced(path, DEBOUNCE, on_change)
}

/// [`watch`] with another quiet time (tests use a long one, so that a burst stays one burst on a
/// loaded machine).
fn watch_debounced(
    path: &Path,
    quiet: Duration,
    on_change: Box<dyn Fn(PathBuf, &'static str) + Send + 'static>,
) -> Result<FileWatch, String> {
    let fail = |why: &str| format!("watch_file: cannot watch '{}': {why}", path.display());
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => return Err(fail("is a directory")),
        Ok(_) => {}
        Err(err) if err.kind() == ErrorKind::NotFound => {
            return Err(fail("no such file or directory"))
        }
        Err(err) => return Err(fail(&err.to_string())),
    }
    let name = path
        .file_name()
        .ok_or_else(|| fail("not a file name"))?
        .to_owned();
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // Event paths are the watched directory joined with the entry's name; canonical on both sides so
    // that a relative or symlinked parent still compares equal.
    let dir = parent
        .canonicalize()
        .map_err(|err| fail(&err.to_string()))?;
    let target = dir.join(&name);

    // The watcher's thread reports each content change of the file; the burst thread folds them.
    let (changed, changes) = crossbeam_channel::unbounded::<()>();
    let watched = target.clone();
    let handler = move |result: notify::Result<notify::Event>| {
        // Backend errors (a watch limit, a vanished directory) have nowhere useful to go: the watch
        // simply stays quiet.
        if let Ok(event) = result {
            if changes_content(&event.kind) && event.paths.contains(&watched) {
                let _ = changed.send(());
            }
        }
    };
    let mut watcher = notify::recommended_watcher(handler).map_err(|err| fail(&err.to_string()))?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(|err| fail(&err.to_string()))?;

    let stopped = Arc::new(ReentrantMutex::new(Cell::new(false)));
    let reported_path = path.to_path_buf();
    let stop = Arc::clone(&stopped);
    std::thread::Builder::new()
        .name("solvm-watch".into())
        .stack_size(128 * 1024)
        .spawn(move || {
            let mut existed = true;
            // Ends when the watcher (and with it the sender) is dropped.
            while changes.recv().is_ok() {
                loop {
                    match changes.recv_timeout(quiet) {
                        Ok(()) => continue,
                        Err(crossbeam_channel::RecvTimeoutError::Timeout) => break,
                        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
                    }
                }
                let exists = target.exists();
                let event = match (existed, exists) {
                    (true, true) => "modify",
                    (false, true) => "create",
                    (true, false) => "remove",
                    // Created and removed again within one burst: nothing to report.
                    (false, false) => continue,
                };
                existed = exists;
                let guard = stop.lock();
                if !guard.get() {
                    on_change(reported_path.clone(), event);
                }
            }
        })
        .map_err(|err| fail(&err.to_string()))?;
    Ok(FileWatch {
        stopped,
        _watcher: watcher,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::io::Write;
    use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};

    /// Generous bound for a callback to arrive.
    const ARRIVES_WITHIN: Duration = Duration::from_secs(5);
    /// Quiet time after which a burst is surely over (several debounce periods).
    const SETTLE: Duration = Duration::from_millis(800);

    fn start(path: &Path) -> (FileWatch, Receiver<(PathBuf, &'static str)>) {
        start_with(path, DEBOUNCE)
    }

    fn start_with(path: &Path, quiet: Duration) -> (FileWatch, Receiver<(PathBuf, &'static str)>) {
        let (tx, rx) = channel();
        let watch = watch_debounced(
            path,
            quiet,
            Box::new(move |p, event| {
                let _ = tx.send((p, event));
            }),
        )
        .expect("watch starts");
        (watch, rx)
    }

    /// Exactly one callback arrives for the burst just made, then nothing more.
    fn expect_one(rx: &Receiver<(PathBuf, &'static str)>, path: &Path, event: &str) {
        let (got_path, got_event) = rx
            .recv_timeout(ARRIVES_WITHIN)
            .unwrap_or_else(|_| panic!("no '{event}' callback within {ARRIVES_WITHIN:?}"));
        assert_eq!(got_path, path);
        assert_eq!(got_event, event);
        expect_none(rx);
    }

    fn expect_none(rx: &Receiver<(PathBuf, &'static str)>) {
        match rx.recv_timeout(SETTLE) {
            Err(RecvTimeoutError::Timeout) => {}
            other => panic!("unexpected callback: {other:?}"),
        }
    }

    fn fixture() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.lua");
        fs::write(&path, "return 1\n").unwrap();
        (dir, path)
    }

    #[test]
    fn one_callback_per_burst_of_writes() {
        // A burst is writes closer together than the quiet time. With a quiet time of 2 s the five
        // writes below are one burst even on a loaded machine; if they did take longer (measured),
        // each write may have been reported, never more.
        const QUIET: Duration = Duration::from_secs(2);
        let (_dir, path) = fixture();
        let (_watch, rx) = start_with(&path, QUIET);
        let started = std::time::Instant::now();
        for i in 0..5 {
            fs::write(&path, format!("return {i}\n")).unwrap();
        }
        if started.elapsed() < QUIET {
            expect_one(&rx, &path, "modify");
        } else {
            let mut got = vec![rx.recv_timeout(ARRIVES_WITHIN).expect("a callback")];
            while let Ok(more) = rx.recv_timeout(QUIET + SETTLE) {
                got.push(more);
            }
            assert!(got.len() <= 5, "{got:?}");
            assert!(
                got.iter().all(|(p, e)| p == &path && *e == "modify"),
                "{got:?}"
            );
        }
    }

    #[test]
    fn append_replace_by_rename_and_later_changes() {
        let (dir, path) = fixture();
        let (_watch, rx) = start(&path);

        let mut file = fs::OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"-- appended\n").unwrap();
        drop(file);
        expect_one(&rx, &path, "modify");

        // What many editors do on save.
        let tmp = dir.path().join(".config.lua.swp");
        fs::write(&tmp, "return 2\n").unwrap();
        fs::rename(&tmp, &path).unwrap();
        expect_one(&rx, &path, "modify");

        // The watch survived the replacement: a separate change later is reported again.
        fs::write(&path, "return 3\n").unwrap();
        expect_one(&rx, &path, "modify");

        // Other files in the same directory are not reported.
        fs::write(dir.path().join("other.txt"), "x").unwrap();
        expect_none(&rx);
    }

    #[test]
    fn remove_then_create() {
        let (_dir, path) = fixture();
        let (_watch, rx) = start(&path);
        fs::remove_file(&path).unwrap();
        expect_one(&rx, &path, "remove");
        fs::write(&path, "return 4\n").unwrap();
        expect_one(&rx, &path, "create");
    }

    #[test]
    fn reading_the_file_or_touching_its_metadata_is_not_a_change() {
        let (_dir, path) = fixture();
        let (_watch, rx) = start(&path);
        for _ in 0..5 {
            let _ = fs::read(&path).unwrap();
            let _ = fs::File::open(&path).unwrap();
        }
        let mut perms = fs::metadata(&path).unwrap().permissions();
        perms.set_readonly(true);
        fs::set_permissions(&path, perms.clone()).unwrap();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        fs::set_permissions(&path, perms).unwrap();
        expect_none(&rx);
        // A write afterwards is still seen.
        fs::write(&path, "return 7\n").unwrap();
        expect_one(&rx, &path, "modify");
    }

    #[test]
    fn dropping_the_watch_stops_callbacks() {
        let (_dir, path) = fixture();
        let (watch, rx) = start(&path);
        fs::write(&path, "return 5\n").unwrap();
        expect_one(&rx, &path, "modify");
        drop(watch);
        fs::write(&path, "return 6\n").unwrap();
        match rx.recv_timeout(SETTLE) {
            // The callback (and its sender) is gone with the watch, or simply never called.
            Err(_) => {}
            Ok(got) => panic!("callback after drop: {got:?}"),
        }
    }

    #[test]
    fn missing_paths_and_directories_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.lua");
        let err = watch(&missing, Box::new(|_, _| {})).unwrap_err();
        assert_eq!(
            err,
            format!(
                "watch_file: cannot watch '{}': no such file or directory",
                missing.display()
            )
        );
        let err = watch(dir.path(), Box::new(|_, _| {})).unwrap_err();
        assert!(err.ends_with("is a directory"), "{err}");
    }

    #[test]
    fn file_watch_can_move_between_threads() {
        fn assert_send<T: Send>() {}
        assert_send::<FileWatch>();
    }
}
