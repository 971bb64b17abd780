//! Expected-output lines shared by the tests that compare a run's output with a file
//! (`tests/lua_golden.rs`, `tests/examples.rs`): a line matches when it is equal once both are
//! trimmed, `...` in the expected line standing for any text (a port, a time, a size).

/// Whether output line `got` is what `want` describes.
pub fn line_matches(want: &str, got: &str) -> bool {
    let (want, got) = (want.trim(), got.trim());
    let mut parts = want.split("...");
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = got.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}
