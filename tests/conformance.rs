//! Third-party conformance suites under the real binary (tests/conformance/README.md): Lua 5.4's own
//! test suite must end with `final OK !!!`, and every JSONTestSuite parsing case must be accepted
//! (`y_`), rejected (`n_`) or at least survived (`i_`) by `json_decode`. A change that breaks stock
//! Lua or the JSON parser fails here. Both take about a second.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn suite(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/conformance")
        .join(name)
}

/// A copy of Lua's suite in a fresh folder: the tests write scratch files beside themselves.
fn lua_suite_copy() -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("mkdir");
        for e in std::fs::read_dir(from).expect("read suite") {
            let e = e.expect("entry");
            let target = to.join(e.file_name());
            if e.file_type().expect("type").is_dir() {
                copy(&e.path(), &target);
            } else {
                std::fs::copy(e.path(), &target).expect("copy");
            }
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    copy(&suite("lua-5.4-testes"), dir.path());
    dir
}

/// Runs `solvm --timeout 0 -e code` in `dir`, stdin a pipe (so `io.stdin:seek` fails as the suite
/// expects of a non-file).
fn run_code(dir: &Path, code: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_solvm"))
        .args(["--timeout", "0", "-e", code])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .output()
        .expect("run solvm")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn lua_test_suite_passes() {
    let dir = lua_suite_copy();
    // `_U`: the portable, soft mode (no tests that need the C test library or a specific machine).
    let out = run_code(dir.path(), r#"_U = true; dofile("all.lua")"#);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success() && stdout.contains("\nfinal OK !!!\n"),
        "Lua's test suite failed ({}):\n--- stdout (end)\n{}\n--- stderr\n{stderr}",
        out.status,
        &stdout[stdout.len().saturating_sub(3000)..]
    );
    // `all.lua` turns warnings on and expects these two on stderr, as `lua.c` prints them.
    for w in [
        "Lua warning: #This is an expected warning\n",
        "Lua warning: #This is another one\n",
    ] {
        assert!(stderr.contains(w), "missing {w:?} in stderr:\n{stderr}");
    }
}

#[test]
fn lua_files_suite_relaunches_the_interpreter_through_arg() {
    // Non-portable `files.lua`: `io.popen`/`os.execute` of `arg[-1] -e "os.exit(20, true)"` and
    // friends must report the exit codes stock `lua` gives.
    let dir = lua_suite_copy();
    let out = run_code(
        dir.path(),
        r#"_soft = true; _port = false; _nomsg = true; dofile("files.lua"); print("files OK")"#,
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success() && stdout.contains("testing popen/pclose and execute"),
        "files.lua failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    assert!(stdout.ends_with("files OK\n"), "{stdout}\n{stderr}");
}

#[test]
fn json_test_suite_parsing_cases() {
    let dir = suite("JSONTestSuite/test_parsing");
    // One process for all cases; each name is printed before it is decoded, so a crash names its case.
    let script = r#"
local dir = ...
local names = {}
for _, e in ipairs(assert(list_dir(dir))) do
  if e.name:match("%.json$") then names[#names + 1] = e.name end
end
table.sort(names)
for _, name in ipairs(names) do
  print("case " .. name)
  local text = assert(read_file(dir .. "/" .. name))
  local ok, value, err = pcall(json_decode, text)
  local accepted = ok and (value ~= nil or err == nil)
  print((accepted and "accepted " or "rejected ") .. name)
end
print("done " .. #names)
"#;
    let out = Command::new(env!("CARGO_BIN_EXE_solvm"))
        .args(["--timeout", "0", "-e", script])
        .arg(&dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run solvm");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    let last_case = stdout.lines().rfind(|l| l.starts_with("case "));
    assert!(
        out.status.success() && stdout.lines().any(|l| l.starts_with("done ")),
        "the run did not finish ({}), last case: {last_case:?}\n{stderr}",
        out.status
    );
    let mut wrong = Vec::new();
    let mut counted = 0;
    for line in stdout.lines() {
        let Some((verdict, name)) = line.split_once(' ') else {
            continue;
        };
        let accepted = match verdict {
            "accepted" => true,
            "rejected" => false,
            _ => continue,
        };
        counted += 1;
        if name.starts_with("y_") && !accepted {
            wrong.push(format!("{name}: valid JSON rejected"));
        }
        if name.starts_with("n_") && accepted {
            wrong.push(format!("{name}: invalid JSON accepted"));
        }
    }
    assert!(counted >= 300, "only {counted} cases ran:\n{stdout}");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
