//! Every script in `examples/` runs as a user would run it (from `examples/`) and succeeds.

use std::path::Path;
use std::process::Command;

#[test]
fn every_example_runs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut ran = 0;
    let mut failures = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("examples/ exists")
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.extension().is_none_or(|x| x != "lua") {
            continue;
        }
        let out = Command::new(env!("CARGO_BIN_EXE_solvm"))
            .arg(path.file_name().expect("file name"))
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .output()
            .expect("run solvm");
        ran += 1;
        if !out.status.success() || out.stdout.is_empty() && !path.ends_with("debug.lua") {
            failures.push(format!(
                "{}: exit {:?}\nstdout:\n{}\nstderr:\n{}",
                path.display(),
                out.status.code(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(ran >= 5, "only {ran} examples found");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
