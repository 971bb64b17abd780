//! Runs every `tests/lua/**/<name>.lua` through the real `solvm` binary and compares:
//! - `<name>.out`: exact stdout (absent: stdout must be empty);
//! - `<name>.err`: required stderr lines (absent: stderr must be empty). Each non-empty line of the
//!   file must equal a whole line of stderr, both trimmed of surrounding whitespace (reports indent
//!   their lines), and they must appear in this order; other stderr lines may come between them
//!   (tracebacks, source excerpts). `...` in an expected line matches any text, for the parts that
//!   change between runs (a port, a temporary path). A fragment does not match: `timeout` does not
//!   match `timeout: the run exceeded ...`, nor the script's own name in a traceback;
//! - `<name>.code`: the exit code (default 0);
//! - `<name>.args`: options placed before the script (whitespace-separated), e.g. `-timeout 1s`.
//!
//! Every `.lua` under `tests/lua` is a golden script and must have at least one of `.out`, `.err`,
//! `.code` (a script that prints nothing and exits 0 has an empty `.out`): a script without one is a
//! failure, not skipped. The exceptions are modules that scripts import: files inside a folder named
//! `modules`, and files whose first line starts with `-- imported by` (a module that must sit beside
//! its script).
//!
//! The script runs with its own folder as the working directory and `TEST_TMP` set to a fresh empty
//! directory. Doc examples (`tests/lua/docs/`, shown on the pages by `tests/doc_examples.rs`) run
//! instead in a scratch copy of their folder, as a reader's copy would: they may create files in the
//! working directory and need no `TEST_TMP`. `NO_COLOR=1` is set so reports are plain text.
//!
//! Two knobs for slow instrumented builds (`scripts/tsan`): `SOLVM_GOLDEN_FILTER` runs only the
//! scripts whose path contains one of its comma-separated parts, and `SOLVM_GOLDEN_TIMEOUT` is passed
//! as `--timeout` to every script whose `.args` does not set one (a 5 s run under ThreadSanitizer is
//! not a 5 s run).

#[path = "support/lines.rs"]
mod lines;

use lines::line_matches;
use std::path::{Path, PathBuf};
use std::process::Command;

fn solvm() -> &'static str {
    env!("CARGO_BIN_EXE_solvm")
}

/// Whether `path` (a `.lua` file without any expectation file) is a module some script imports.
fn is_imported_module(path: &Path) -> bool {
    path.components().any(|c| c.as_os_str() == "modules")
        || std::fs::read_to_string(path).is_ok_and(|text| {
            text.lines()
                .next()
                .unwrap_or("")
                .starts_with("-- imported by")
        })
}

fn has_expectation(script: &Path) -> bool {
    ["out", "err", "code"]
        .iter()
        .any(|ext| script.with_extension(ext).exists())
}

/// Every golden script, and every `.lua` that should be one but has no expectation file.
fn scripts() -> (Vec<PathBuf>, Vec<PathBuf>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lua");
    let mut found = Vec::new();
    let mut orphans = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "lua") {
                if has_expectation(&p) {
                    found.push(p);
                } else if !is_imported_module(&p) {
                    orphans.push(p);
                }
            }
        }
    }
    found.sort();
    orphans.sort();
    if let Ok(filter) = std::env::var("SOLVM_GOLDEN_FILTER") {
        let parts: Vec<&str> = filter.split(',').filter(|p| !p.is_empty()).collect();
        let keep = |p: &PathBuf| parts.iter().any(|part| p.to_string_lossy().contains(part));
        found.retain(keep);
        orphans.retain(keep);
    }
    (found, orphans)
}

/// The expected stderr lines missing from `stderr` (in order): `None` when all are there.
fn missing_err_line<'a>(want: &'a str, stderr: &str) -> Option<&'a str> {
    let mut lines = stderr.lines();
    want.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .find(|expected| !lines.any(|got| line_matches(expected, got)))
}

/// Copies folder `from` (recursively) to `to`.
fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &target)?;
        } else {
            std::fs::copy(e.path(), target)?;
        }
    }
    Ok(())
}

/// Checks one script; returns a description of every mismatch.
fn check(script: &Path) -> Result<(), String> {
    let dir = script.parent().expect("script has a folder");
    let name = script.file_name().expect("script has a name");
    let read = |ext: &str| std::fs::read_to_string(script.with_extension(ext)).ok();
    let base = std::env::temp_dir().join(format!(
        "solvm-golden-{}-{}",
        std::process::id(),
        script.to_string_lossy().replace(['/', '\\'], "_")
    ));
    let _ = std::fs::remove_dir_all(&base);
    let tmp = base.join("tmp");
    std::fs::create_dir_all(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    // Doc examples run in a scratch copy of their folder (modules beside them included).
    let workdir = if dir.file_name().is_some_and(|d| d == "docs") {
        let copy = base.join("docs");
        copy_dir(dir, &copy).map_err(|e| format!("cannot copy {}: {e}", dir.display()))?;
        copy
    } else {
        dir.to_path_buf()
    };
    let mut cmd = Command::new(solvm());
    let args = read("args").unwrap_or_default();
    if !args.contains("timeout") {
        if let Ok(limit) = std::env::var("SOLVM_GOLDEN_TIMEOUT") {
            cmd.args(["--timeout", &limit]);
        }
    }
    cmd.args(args.split_whitespace());
    let out = cmd
        .arg(name)
        .current_dir(&workdir)
        .env("TEST_TMP", &tmp)
        .env("NO_COLOR", "1")
        .output()
        .map_err(|e| format!("cannot run solvm: {e}"))?;
    let _ = std::fs::remove_dir_all(&base);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut problems = Vec::new();
    let want_code: i32 = match read("code") {
        Some(c) => c
            .trim()
            .parse()
            .map_err(|_| format!("{}.code is not an exit code: {c:?}", name.to_string_lossy()))?,
        None => 0,
    };
    let code = out.status.code().unwrap_or(-1);
    if code != want_code {
        problems.push(format!("exit code {code}, expected {want_code}"));
    }
    let want_out = read("out").unwrap_or_default();
    if stdout != want_out {
        problems.push(format!(
            "stdout differs:\n--- expected\n{want_out}--- got\n{stdout}---"
        ));
    }
    match read("err") {
        None if !stderr.is_empty() => problems.push(format!("unexpected stderr:\n{stderr}")),
        None => {}
        Some(want) => {
            if let Some(line) = missing_err_line(&want, &stderr) {
                problems.push(format!(
                    "stderr lacks the line {line:?} (whole lines, in order); stderr was:\n{stderr}"
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

#[test]
fn lua_golden_scripts() {
    let (scripts, orphans) = scripts();
    assert!(
        !scripts.is_empty(),
        "no golden scripts found under tests/lua"
    );
    let mut failures: Vec<String> = orphans
        .iter()
        .map(|p| {
            format!(
                "{}: no .out, .err or .code beside it (an empty .out if it prints nothing; a module \
                 goes in a modules/ folder or starts with `-- imported by`)",
                p.display()
            )
        })
        .collect();
    for s in &scripts {
        if let Err(why) = check(s) {
            failures.push(format!("{}:\n{why}", s.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden scripts failed:\n\n{}",
        failures.len(),
        scripts.len() + orphans.len(),
        failures.join("\n\n")
    );
    eprintln!("{} golden scripts passed", scripts.len());
}

#[test]
fn expected_stderr_lines_are_whole_lines_in_order() {
    let stderr = "timeout: the run exceeded its time limit of 1s (--timeout)\n  \
                  goroutine 1 (main) was stopped at timeout.lua:6\n";
    assert_eq!(missing_err_line("timeout", stderr), Some("timeout"));
    assert_eq!(
        missing_err_line("timeout.lua:6", stderr),
        Some("timeout.lua:6")
    );
    assert_eq!(
        missing_err_line(
            "timeout: the run exceeded its time limit of 1s (--timeout)\ngoroutine 1 (main) was stopped at timeout.lua:6",
            stderr
        ),
        None
    );
    assert_eq!(
        missing_err_line("goroutine 1 (main) was stopped at ...", stderr),
        None
    );
    assert_eq!(
        missing_err_line("timeout: ... limit of ... (--timeout)", stderr),
        None
    );
    // Order matters, and one stderr line satisfies one expected line.
    assert!(missing_err_line("goroutine 1 ...\ntimeout: ...", stderr).is_some());
    assert!(missing_err_line("timeout: ...\ntimeout: ...", stderr).is_some());
    assert!(missing_err_line("...: the run", stderr).is_some());
}
