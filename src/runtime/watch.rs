//! File watching (placeholder until the notify-based module lands).

/// Dropping it stops the watch.
pub struct FileWatch;

/// Calls `on_change(path, event)` once per burst of changes to `path`.
pub fn watch(
    path: &std::path::Path,
    _on_change: Box<dyn Fn(std::path::PathBuf, &'static str) + Send + 'static>,
) -> Result<FileWatch, String> {
    Err(format!(
        "watch_file: cannot watch '{}': file watching is not built yet",
        path.display()
    ))
}
