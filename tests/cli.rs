//! The command line, driven through the real `solvm` binary (SPEC §2 and §4): option spellings, ways
//! to give a script, the `arg` table, exit codes, error and syntax reports, and the whole-run timeout.
//!
//! Timing assertions are liveness bounds only (every run is killed after [`DEADLINE`]); nothing here
//! asserts speed, because the machine running the tests is shared and noisy.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A run that has not ended by then is killed and the test fails: each timeout test must finish well
/// under this.
const DEADLINE: Duration = Duration::from_secs(10);

/// What one run of `solvm` produced.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    stderr_bytes: Vec<u8>,
}

impl Run {
    /// Fails with the whole run shown unless the exit code is `want`.
    fn expect_code(&self, want: i32) -> &Self {
        assert_eq!(
            self.code, want,
            "exit code {} (expected {want})\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    fn expect_stdout(&self, want: &str) -> &Self {
        assert_eq!(
            self.stdout, want,
            "stdout differs; stderr was:\n{}",
            self.stderr
        );
        self
    }

    /// Fails unless stderr contains every one of `parts`.
    fn expect_stderr_has(&self, parts: &[&str]) -> &Self {
        for part in parts {
            assert!(
                self.stderr.contains(part),
                "stderr lacks {part:?}; stderr was:\n{}",
                self.stderr
            );
        }
        self
    }
}

/// A fresh directory for one test's scripts, removed when the test ends.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("solvm-cli-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch directory");
        Scratch { dir }
    }

    /// Writes `name` with `source` into the scratch directory.
    fn script(&self, name: &str, source: &str) -> &Self {
        std::fs::write(self.dir.join(name), source).expect("write script");
        self
    }

    /// Runs `solvm args...` in the scratch directory with stdin closed.
    fn run(&self, args: &[&str]) -> Run {
        run_in(&self.dir, args, None, &[])
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs the binary in `dir` with `args`, feeding `stdin` (or a closed stdin), with `NO_COLOR` unset
/// unless `env` sets it. Kills the process and fails the test if it outlives [`DEADLINE`].
fn run_in(dir: &Path, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_solvm"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let mut child = cmd.spawn().expect("start solvm");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        pipe.write_all(text.as_bytes())
            .expect("write script to stdin");
        // Dropping the pipe closes it: the script ends there.
    }
    // Drain both pipes on their own threads so a chatty child never blocks on a full pipe.
    let mut out_pipe = child.stdout.take().expect("stdout pipe");
    let mut err_pipe = child.stderr.take().expect("stderr pipe");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out_pipe, &mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut err_pipe, &mut buf);
        buf
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for solvm") {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            let stderr =
                String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned();
            panic!("solvm {args:?} still running after {DEADLINE:?}; killed it. stderr:\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stdout = out_reader.join().expect("stdout reader");
    let stderr_bytes = err_reader.join().expect("stderr reader");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr_bytes).into_owned(),
        stderr_bytes,
    }
}

const TIGHT_LOOP: &str = "local n = 0\nwhile true do\n  n = n + 1\nend\n";

// ---------------------------------------------------------------------------------------------------
// Timeout flag spellings

/// `spelling` must set a one-second limit: a tight loop is stopped with 124 and the report names
/// the limit and the loop's line.
fn one_second_limit(test: &str, spelling: &[&str]) {
    let s = Scratch::new(test);
    s.script("loop.lua", TIGHT_LOOP);
    let mut args = spelling.to_vec();
    args.push("loop.lua");
    s.run(&args)
        .expect_code(124)
        .expect_stdout("")
        .expect_stderr_has(&["timeout", "1s", "loop.lua:3"]);
}

#[test]
fn timeout_go_spelling() {
    one_second_limit("go-spelling", &["-timeout", "1s"]);
}

#[test]
fn timeout_double_dash() {
    one_second_limit("double-dash", &["--timeout", "1s"]);
}

#[test]
fn timeout_double_dash_equals() {
    one_second_limit("double-dash-eq", &["--timeout=1s"]);
}

#[test]
fn timeout_go_spelling_equals() {
    one_second_limit("go-spelling-eq", &["-timeout=1s"]);
}

#[test]
fn timeout_bare_number_is_seconds() {
    one_second_limit("bare-number", &["-timeout", "1"]);
}

#[test]
fn timeout_in_milliseconds() {
    let s = Scratch::new("millis");
    s.script("loop.lua", TIGHT_LOOP);
    s.run(&["--timeout", "500ms", "loop.lua"])
        .expect_code(124)
        .expect_stderr_has(&["timeout", "500ms", "loop.lua:3"]);
}

#[test]
fn timeout_in_minutes_is_accepted() {
    let s = Scratch::new("minutes");
    s.script("quick.lua", "print('quick')\n");
    s.run(&["-timeout", "2m", "quick.lua"])
        .expect_code(0)
        .expect_stdout("quick\n");
}

#[test]
fn timeout_zero_means_no_limit() {
    let s = Scratch::new("zero");
    s.script("nap.lua", "sleep(0.2)\nprint('woke')\n");
    s.run(&["--timeout", "0", "nap.lua"])
        .expect_code(0)
        .expect_stdout("woke\n");
    s.run(&["-timeout", "0", "nap.lua"])
        .expect_code(0)
        .expect_stdout("woke\n");
}

#[test]
fn bad_duration_is_a_command_line_error_naming_the_value() {
    let s = Scratch::new("bad-duration");
    s.script("quick.lua", "print('must not run')\n");
    for args in [
        &["--timeout", "soon", "quick.lua"][..],
        &["-timeout", "soon", "quick.lua"][..],
        &["--timeout=soon", "quick.lua"][..],
    ] {
        s.run(args)
            .expect_code(2)
            .expect_stdout("")
            .expect_stderr_has(&["soon"]);
    }
    s.run(&["-timeout", "-1s", "quick.lua"]).expect_code(2);
    s.run(&["--timeout", "10parsecs", "quick.lua"])
        .expect_code(2)
        .expect_stderr_has(&["10parsecs"]);
}

#[test]
fn timeout_without_a_value_is_a_command_line_error() {
    let s = Scratch::new("no-value");
    s.run(&["--timeout"]).expect_code(2).expect_stdout("");
    s.run(&["-timeout"]).expect_code(2).expect_stdout("");
}

// ---------------------------------------------------------------------------------------------------
// Ways to give a script, and its arguments

#[test]
fn dash_e_runs_a_string() {
    let s = Scratch::new("dash-e");
    s.run(&["-e", "print(1+1)"])
        .expect_code(0)
        .expect_stdout("2\n");
}

#[test]
fn dash_e_passes_arguments() {
    let s = Scratch::new("dash-e-args");
    s.run(&[
        "-e",
        "print(select('#', ...), ...) print(arg[1], arg[2])",
        "x",
        "y",
    ])
    .expect_code(0)
    .expect_stdout("2\tx\ty\nx\ty\n");
}

#[test]
fn arguments_after_dash_e_code_belong_to_the_chunk() {
    let s = Scratch::new("dash-e-options-after");
    s.run(&["-e", "print(select('#', ...), ...)", "-timeout", "1s"])
        .expect_code(0)
        .expect_stdout("2\t-timeout\t1s\n");
    s.run(&["-e", "print(select('#', ...), ...)", "-timeout"])
        .expect_code(0)
        .expect_stdout("1\t-timeout\n");
}

#[test]
fn script_from_piped_stdin() {
    let dir = std::env::temp_dir();
    run_in(&dir, &[], Some("print('from stdin')\n"), &[])
        .expect_code(0)
        .expect_stdout("from stdin\n");
}

#[test]
fn script_from_stdin_with_dash() {
    let dir = std::env::temp_dir();
    run_in(
        &dir,
        &["-", "p", "q"],
        Some("print('dash', ...)\nprint(arg[1], arg[2])\n"),
        &[],
    )
    .expect_code(0)
    .expect_stdout("dash\tp\tq\np\tq\n");
}

#[test]
fn errors_in_a_stdin_script_are_reported() {
    let dir = std::env::temp_dir();
    run_in(
        &dir,
        &["-"],
        Some("local x = 1\nerror('from the pipe')\n"),
        &[],
    )
    .expect_code(1)
    .expect_stderr_has(&["from the pipe", "stdin:2"]);
}

#[test]
fn arg_table_and_chunk_varargs() {
    let s = Scratch::new("arg-table");
    s.script(
        "args.lua",
        "print(arg[0])\nprint(#arg, arg[1], arg[2], arg[3])\nprint(select('#', ...), ...)\n",
    );
    s.run(&["args.lua", "one", "two words", "3"])
        .expect_code(0)
        .expect_stdout("args.lua\n3\tone\ttwo words\t3\n3\tone\ttwo words\t3\n");
    s.run(&["args.lua"])
        .expect_code(0)
        .expect_stdout("args.lua\n0\tnil\tnil\tnil\n0\n");
}

#[test]
fn options_after_the_script_belong_to_the_script() {
    let s = Scratch::new("options-after");
    s.script("args.lua", "print(select('#', ...), ...)\n");
    s.run(&["args.lua", "-timeout", "x"])
        .expect_code(0)
        .expect_stdout("2\t-timeout\tx\n");
    s.run(&[
        "args.lua",
        "x",
        "--timeout=bogus",
        "--help",
        "--check",
        "-e",
    ])
    .expect_code(0)
    .expect_stdout("5\tx\t--timeout=bogus\t--help\t--check\t-e\n");
    // Options before the script still apply while the script gets the rest.
    s.run(&["-timeout", "5s", "args.lua", "-timeout", "1"])
        .expect_code(0)
        .expect_stdout("2\t-timeout\t1\n");
}

#[test]
fn double_dash_options_after_the_script_belong_to_the_script() {
    let s = Scratch::new("double-dash-after");
    s.script("args.lua", "print(select('#', ...), ...)\n");
    for (args, want) in [
        (&["args.lua", "--help"][..], "1\t--help\n"),
        (&["args.lua", "--check"][..], "1\t--check\n"),
        (&["args.lua", "--timeout", "1"][..], "2\t--timeout\t1\n"),
        (&["args.lua", "--timeout=bogus"][..], "1\t--timeout=bogus\n"),
        (&["args.lua", "-e", "x"][..], "2\t-e\tx\n"),
    ] {
        s.run(args).expect_code(0).expect_stdout(want);
    }
}

#[test]
fn shebang_line_is_allowed_and_keeps_line_numbers() {
    let s = Scratch::new("shebang");
    s.script(
        "tool.lua",
        "#!/usr/bin/env solvm\nprint('shebang ok')\nerror('third line')\n",
    );
    s.run(&["tool.lua"])
        .expect_code(1)
        .expect_stdout("shebang ok\n")
        .expect_stderr_has(&["third line", "tool.lua:3"]);
    s.run(&["--check", "tool.lua"])
        .expect_code(0)
        .expect_stdout("");
}

#[test]
fn version_flag() {
    let s = Scratch::new("version");
    let run = s.run(&["--version"]);
    run.expect_code(0);
    assert!(
        run.stdout.contains(env!("CARGO_PKG_VERSION")),
        "--version printed {:?}",
        run.stdout
    );
    // The release of the Lua inside, read from Lua itself (scripts/bench quotes it).
    assert!(
        run.stdout.trim_end().ends_with(')') && run.stdout.contains("(Lua 5.4."),
        "--version printed {:?}",
        run.stdout
    );
    s.run(&["-version"]).expect_code(0);
}

#[test]
fn help_flag() {
    let s = Scratch::new("help");
    let run = s.run(&["--help"]);
    run.expect_code(0);
    for word in ["Usage", "--timeout", "--check", "-e"] {
        assert!(
            run.stdout.contains(word),
            "--help lacks {word:?}:\n{}",
            run.stdout
        );
    }
    s.run(&["-help"]).expect_code(0);
}

#[test]
fn unknown_option_is_a_command_line_error() {
    let s = Scratch::new("unknown-option");
    s.script("quick.lua", "print('must not run')\n");
    for opt in ["--bogus", "-x"] {
        s.run(&[opt, "quick.lua"])
            .expect_code(2)
            .expect_stdout("")
            .expect_stderr_has(&[opt]);
    }
}

#[test]
fn unknown_go_style_option_is_named_in_full() {
    let s = Scratch::new("unknown-go-option");
    s.script("quick.lua", "print('must not run')\n");
    s.run(&["-bogus", "quick.lua"])
        .expect_code(2)
        .expect_stderr_has(&["-bogus"]);
    s.run(&["-timout", "1s", "quick.lua"])
        .expect_code(2)
        .expect_stderr_has(&["-timout"]);
}

#[test]
fn missing_script_file_is_a_command_line_error() {
    let s = Scratch::new("missing-file");
    s.run(&["no-such-script.lua"])
        .expect_code(2)
        .expect_stdout("")
        .expect_stderr_has(&["no-such-script.lua", "no such file"]);
}

// ---------------------------------------------------------------------------------------------------
// Exit codes and reports

#[test]
fn success_exits_zero() {
    let s = Scratch::new("success");
    s.script("ok.lua", "io.write('a')\nprint('b')\n");
    s.run(&["ok.lua"]).expect_code(0).expect_stdout("ab\n");
}

#[test]
fn runtime_error_exits_one_with_a_report() {
    let s = Scratch::new("runtime-error");
    s.script(
        "boom.lua",
        "print('before')\nlocal function f()\n  error('kaboom')\nend\nf()\nprint('after')\n",
    );
    s.run(&["boom.lua"])
        .expect_code(1)
        .expect_stdout("before\n")
        .expect_stderr_has(&["kaboom", "boom.lua:3", "error('kaboom')", "traceback"]);
}

#[test]
fn runtime_error_in_dash_e_exits_one() {
    let s = Scratch::new("runtime-error-e");
    s.run(&["-e", "local t = nil; print(t.x)"])
        .expect_code(1)
        .expect_stderr_has(&["attempt to index", "(command line):1"]);
}

const SYNTAX_ERROR: &str = "local x = 1\nprint(x y)\nprint('never')\n";

/// The syntax report: header `bad.lua:2:9`, the offending line, a marker under the column.
fn expect_syntax_report(run: &Run) {
    run.expect_code(1).expect_stdout("").expect_stderr_has(&[
        "syntax error",
        "near 'y'",
        "bad.lua:2:9",
        "print(x y)",
    ]);
    let lines: Vec<&str> = run.stderr.lines().collect();
    let src = lines
        .iter()
        .position(|l| l.contains("print(x y)"))
        .expect("source line in report");
    let line = lines[src];
    let column_of_y = line.find("y)").expect("token on the line");
    let marker = lines.get(src + 1).copied().unwrap_or_default();
    let marked = marker
        .char_indices()
        .find(|(_, c)| !c.is_whitespace() && *c != '│')
        .map(|(i, _)| marker[..i].chars().count());
    assert_eq!(
        marked,
        Some(line[..column_of_y].chars().count()),
        "marker is not under the offending token:\n{}",
        run.stderr
    );
}

#[test]
fn syntax_error_exits_one_with_line_column_and_marker() {
    let s = Scratch::new("syntax-error");
    s.script("bad.lua", SYNTAX_ERROR);
    expect_syntax_report(&s.run(&["bad.lua"]));
}

#[test]
fn syntax_error_in_dash_e_and_stdin() {
    let s = Scratch::new("syntax-error-e");
    s.run(&["-e", "print((1)"])
        .expect_code(1)
        .expect_stderr_has(&["syntax error", "(command line):1"]);
    run_in(&s.dir, &[], Some("\nlocal = 3\n"), &[])
        .expect_code(1)
        .expect_stderr_has(&["syntax error", "stdin:2", "local = 3"]);
}

#[test]
fn syntax_error_marker_is_on_the_offending_token_not_an_earlier_twin() {
    let s = Scratch::new("syntax-twin");
    s.run(&["-e", "local b = 1 print(a b)"])
        .expect_code(1)
        .expect_stderr_has(&["(command line):1:21"]);
    s.script("twin.lua", "x = = 1\n");
    s.run(&["twin.lua"])
        .expect_code(1)
        .expect_stderr_has(&["twin.lua:1:5"]);
}

#[test]
fn check_on_a_good_script_is_silent() {
    let s = Scratch::new("check-good");
    // It would print and fail if it ran.
    s.script("good.lua", "print('ran')\nerror('ran')\n");
    let run = s.run(&["--check", "good.lua"]);
    run.expect_code(0).expect_stdout("");
    assert_eq!(run.stderr, "", "--check printed to stderr");
    s.run(&["-check", "good.lua"])
        .expect_code(0)
        .expect_stdout("");
}

#[test]
fn check_on_a_bad_script_reports_the_syntax_error() {
    let s = Scratch::new("check-bad");
    s.script("bad.lua", SYNTAX_ERROR);
    expect_syntax_report(&s.run(&["--check", "bad.lua"]));
}

#[test]
fn no_escape_codes_without_a_terminal() {
    let s = Scratch::new("no-color");
    s.script("bad.lua", SYNTAX_ERROR);
    s.script("boom.lua", "local x = 1\nerror('plain')\n");
    s.script("loop.lua", TIGHT_LOOP);
    for env in [&[("NO_COLOR", "1")][..], &[][..]] {
        for args in [
            &["bad.lua"][..],
            &["boom.lua"][..],
            &["-timeout", "300ms", "loop.lua"][..],
            &["--bogus"][..],
        ] {
            let run = run_in(&s.dir, args, None, env);
            assert!(!run.stderr.is_empty(), "no report for {args:?}");
            assert!(
                !run.stderr_bytes.contains(&0x1b),
                "ESC in stderr for {args:?} with env {env:?}:\n{}",
                run.stderr
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// The whole-run timeout stops the script wherever it is

#[test]
fn timeout_stops_a_tight_loop() {
    let s = Scratch::new("tight-loop");
    s.script("spin.lua", "print('start')\nwhile true do end\n");
    s.run(&["-timeout", "1s", "spin.lua"])
        .expect_code(124)
        .expect_stdout("start\n")
        .expect_stderr_has(&["timeout", "spin.lua:2"]);
}

#[test]
fn timeout_stops_a_loop_inside_coroutine_wrap() {
    let s = Scratch::new("coroutine-wrap");
    s.script(
        "co.lua",
        "local f = coroutine.wrap(function()\n  coroutine.yield(1)\n  local n = 0\n  while true do n = n + 1 end\nend)\nprint(f())\nf()\nprint('after')\n",
    );
    s.run(&["-timeout", "1s", "co.lua"])
        .expect_code(124)
        .expect_stdout("1\n")
        .expect_stderr_has(&["timeout", "co.lua:4"]);
}

#[test]
fn timeout_stops_a_loop_inside_coroutine_resume() {
    let s = Scratch::new("coroutine-resume");
    s.script(
        "co.lua",
        "local co = coroutine.create(function()\n  while true do end\nend)\nprint(coroutine.resume(co))\nprint('after')\n",
    );
    // The main chunk must not carry on after resume() returns the timeout as an error value.
    s.run(&["-timeout", "1s", "co.lua"])
        .expect_code(124)
        .expect_stdout("")
        .expect_stderr_has(&["timeout", "co.lua:2"]);
}

#[test]
fn timeout_stops_nested_coroutines() {
    let s = Scratch::new("coroutine-nested");
    s.script(
        "nest.lua",
        "local outer = coroutine.wrap(function()\n  local inner = coroutine.wrap(function()\n    while true do end\n  end)\n  inner()\nend)\nouter()\n",
    );
    s.run(&["-timeout", "1s", "nest.lua"])
        .expect_code(124)
        .expect_stderr_has(&["timeout", "nest.lua:3"]);
}

#[test]
fn timeout_stops_sleep() {
    let s = Scratch::new("sleep");
    s.script("nap.lua", "print('zz')\nsleep(100)\nprint('woke')\n");
    s.run(&["-timeout", "1s", "nap.lua"])
        .expect_code(124)
        .expect_stdout("zz\n")
        .expect_stderr_has(&["timeout", "nap.lua:2"]);
}

#[test]
fn pcall_cannot_swallow_the_timeout() {
    let s = Scratch::new("pcall");
    s.script(
        "sneaky.lua",
        "while true do\n  local ok, err = pcall(function() while true do end end)\n  print('swallowed', ok, err)\nend\n",
    );
    s.run(&["-timeout", "1s", "sneaky.lua"])
        .expect_code(124)
        .expect_stdout("")
        .expect_stderr_has(&["timeout", "sneaky.lua:2"]);
}

#[test]
fn pcall_around_sleep_cannot_swallow_the_timeout() {
    let s = Scratch::new("pcall-sleep");
    s.script(
        "sneaky.lua",
        "local ok, err = pcall(sleep, 100)\nprint('swallowed', ok, err)\n",
    );
    s.run(&["-timeout", "1s", "sneaky.lua"])
        .expect_code(124)
        .expect_stdout("");
}

#[test]
fn xpcall_handler_cannot_swallow_the_timeout() {
    let s = Scratch::new("xpcall");
    s.script(
        "sneaky.lua",
        "while true do\n  xpcall(function() while true do end end, function(e) return e end)\nend\n",
    );
    s.run(&["-timeout", "1s", "sneaky.lua"])
        .expect_code(124)
        .expect_stderr_has(&["timeout"]);
}

#[test]
fn timeout_bounds_a_finalizer_that_never_returns() {
    let s = Scratch::new("finalizer");
    s.script(
        "gc.lua",
        "setmetatable({}, {__gc = function() while true do end end})\nprint('done')\n",
    );
    s.run(&["-timeout", "1s", "gc.lua"]).expect_code(124);
}

#[test]
fn timeout_bounds_a_blocking_c_call() {
    let s = Scratch::new("blocking-c");
    s.script("shell.lua", "os.execute('sleep 15')\n");
    s.run(&["-timeout", "1s", "shell.lua"])
        .expect_code(124)
        .expect_stderr_has(&["timeout"]);
}

#[test]
fn types_writes_luals_definitions_and_exits() {
    let dir = tempfile::tempdir().expect("tempdir");
    run_in(dir.path(), &["--types"], None, &[])
        .expect_code(0)
        .expect_stdout("wrote types/solvm.lua\n");
    let text = std::fs::read_to_string(dir.path().join("types/solvm.lua")).expect("written");
    assert!(text.starts_with("---@meta\n"));
    assert!(text.contains("function chan(name, size) end"));
    assert!(text.contains("function create_server(name, port, https, cert, key) end"));
    run_in(dir.path(), &["-types", "editor/defs"], None, &[]).expect_code(0);
    assert!(dir.path().join("editor/defs/solvm.lua").is_file());
}
