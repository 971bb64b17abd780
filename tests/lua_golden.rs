//! Runs every `tests/lua/<family>/<name>.lua` through the real `solvm` binary and compares:
//! - `<name>.out`: exact stdout (absent: stdout must be empty);
//! - `<name>.err`: each non-empty line must appear in stderr, in order (absent: stderr must be empty);
//! - `<name>.code`: the exit code (default 0);
//! - `<name>.args`: options placed before the script (whitespace-separated), e.g. `-timeout 1s`.
//!
//! The script runs with its own folder as the working directory and `TEST_TMP` set to a fresh empty
//! directory. `NO_COLOR=1` is set so reports are plain text.
//!
//! Two knobs for slow instrumented builds (`scripts/tsan`): `SOLVM_GOLDEN_FILTER` runs only the
//! scripts whose path contains one of its comma-separated parts, and `SOLVM_GOLDEN_TIMEOUT` is passed
//! as `--timeout` to every script whose `.args` does not set one (a 5 s run under ThreadSanitizer is
//! not a 5 s run).

use std::path::{Path, PathBuf};
use std::process::Command;

fn solvm() -> &'static str {
    env!("CARGO_BIN_EXE_solvm")
}

fn scripts() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lua");
    let mut found = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "lua") && p.with_extension("out").exists()
                || p.extension().is_some_and(|x| x == "lua")
                    && (p.with_extension("err").exists() || p.with_extension("code").exists())
            {
                found.push(p);
            }
        }
    }
    found.sort();
    if let Ok(filter) = std::env::var("SOLVM_GOLDEN_FILTER") {
        let parts: Vec<&str> = filter.split(',').filter(|p| !p.is_empty()).collect();
        found.retain(|p| parts.iter().any(|part| p.to_string_lossy().contains(part)));
    }
    found
}

/// Checks one script; returns a description of every mismatch.
fn check(script: &Path) -> Result<(), String> {
    let dir = script.parent().expect("script has a folder");
    let name = script.file_name().expect("script has a name");
    let read = |ext: &str| std::fs::read_to_string(script.with_extension(ext)).ok();
    let tmp = std::env::temp_dir().join(format!(
        "solvm-golden-{}-{}",
        std::process::id(),
        script.to_string_lossy().replace(['/', '\\'], "_")
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
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
        .current_dir(dir)
        .env("TEST_TMP", &tmp)
        .env("NO_COLOR", "1")
        .output()
        .map_err(|e| format!("cannot run solvm: {e}"))?;
    let _ = std::fs::remove_dir_all(&tmp);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut problems = Vec::new();
    let want_code: i32 = read("code")
        .map(|c| c.trim().parse().unwrap_or(-1))
        .unwrap_or(0);
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
            let mut rest: &str = &stderr;
            for line in want.lines().map(str::trim).filter(|l| !l.is_empty()) {
                match rest.find(line) {
                    Some(i) => rest = &rest[i + line.len()..],
                    None => {
                        problems.push(format!(
                            "stderr lacks (in order) {line:?}; stderr was:\n{stderr}"
                        ));
                        break;
                    }
                }
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
    let scripts = scripts();
    assert!(
        !scripts.is_empty(),
        "no golden scripts found under tests/lua"
    );
    let mut failures = Vec::new();
    for s in &scripts {
        if let Err(why) = check(s) {
            failures.push(format!("{}:\n{why}", s.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden scripts failed:\n\n{}",
        failures.len(),
        scripts.len(),
        failures.join("\n\n")
    );
    eprintln!("{} golden scripts passed", scripts.len());
}
