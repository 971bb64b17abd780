//! Stock Lua behaviour kept (SPEC §16) and first-hour friction (issue 14), through the real binary:
//! `print` flushing each line, `os.exit`'s stock semantics, the warning system, `arg[-1]`, tracebacks
//! that start at the script's own line, and the timeout message. Exact stderr checks live here
//! (golden `.err` files only check that lines appear in order).

use std::io::BufRead;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn solvm() -> &'static str {
    env!("CARGO_BIN_EXE_solvm")
}

/// Writes `script` as `main.lua` in a fresh folder and runs it with `args` before it.
fn run_with(args: &[&str], script: &str) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("main.lua"), script).expect("write");
    Command::new(solvm())
        .args(args)
        .arg("main.lua")
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .output()
        .expect("run solvm")
}

fn run(script: &str) -> Output {
    run_with(&[], script)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

#[test]
fn traceback_starts_at_the_scripts_line() {
    let out = run("local t = {}\nfunction t.great(x) return x.y.z end\nt.great({})\n");
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "stack traceback:\n  main.lua:2: in field 'great'\n  main.lua:3: in main chunk\n"
        ),
        "{err}"
    );
    let out = run("local function f()\n  great()\nend\nf()\n");
    let err = text(&out.stderr);
    assert!(
        err.contains("stack traceback:\n  main.lua:2: in local 'f'\n  main.lua:4: in main chunk\n"),
        "{err}"
    );
    // A C function's frame that is the script's own call stays, as in stock Lua.
    let out = run("error('boom')\n");
    let err = text(&out.stderr);
    assert!(
        err.contains("stack traceback:\n  [C]: in function 'error'\n  main.lua:1: in main chunk\n"),
        "{err}"
    );
}

#[test]
fn print_flushes_each_line_in_order_with_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("main.lua"),
        "print('one')\nio.stderr:write('two\\n')\nprint('three')\nio.stderr:write('four\\n')\n",
    )
    .unwrap();
    // Both streams into one pipe, as `solvm x.lua 2>&1 | less` does.
    let out = Command::new("sh")
        .args(["-c", &format!("exec '{}' main.lua 2>&1", solvm())])
        .current_dir(dir.path())
        .output()
        .expect("run sh");
    assert_eq!(text(&out.stdout), "one\ntwo\nthree\nfour\n");
}

#[test]
fn printed_lines_reach_a_pipe_while_the_script_runs() {
    let mut child = Command::new(solvm())
        .args(["-e", "print('ready') sleep(30) print('late')"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(15));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(line.as_deref(), Ok("ready\n"));
}

#[test]
fn os_exit_close_runs_pending_close_variables_and_finalizers() {
    let out = run(
        "local obj <close> = setmetatable({}, {__close = function() print('closed obj') end})\n\
         setmetatable({}, {__gc = function() print('finalized') end})\n\
         print(xpcall(function() os.exit(4, true) end, function(m) print('handler saw', m) end))\n",
    );
    assert_eq!(code(&out), Some(4), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "closed obj\nfinalized\n");
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn os_exit_without_close_ends_at_once_and_is_not_catchable() {
    let out = run(
        "local obj <close> = setmetatable({}, {__close = function() print('closed obj') end})\n\
         io.write('no newline')\n\
         print(pcall(os.exit, 5))\nprint('not reached')\n",
    );
    assert_eq!(code(&out), Some(5), "{}", text(&out.stderr));
    // Output is flushed, pending `<close>` variables do not run (stock `exit(3)`).
    assert_eq!(text(&out.stdout), "no newline");
}

#[test]
fn os_exit_arguments_are_stocks() {
    for (args, want) in [
        ("", 0),
        ("true", 0),
        ("false", 1),
        ("'6'", 6),
        ("7.0", 7),
        ("nil, true", 0),
        ("300", 300 & 0xff),
    ] {
        let out = run(&format!("os.exit({args})\n"));
        assert_eq!(
            code(&out),
            Some(want),
            "os.exit({args}): {}",
            text(&out.stderr)
        );
    }
    let out = run("print(pcall(os.exit, 3.7))\nprint(pcall(os.exit, {}))\n");
    assert_eq!(code(&out), Some(0));
    assert_eq!(
        text(&out.stdout),
        "false\tbad argument #1 to 'os.exit' (number has no integer representation)\n\
         false\tbad argument #1 to 'os.exit' (number expected, got table)\n"
    );
}

#[test]
fn warnings_work_as_in_lua_c() {
    let out = run(
        "warn('hidden: warnings start off')\nwarn('@on')\nwarn('one ', 'message')\n\
         setmetatable({}, {__gc = function() error('oops', 0) end})\ncollectgarbage()\n\
         warn('@off')\nwarn('hidden again')\nprint('done')\n",
    );
    assert_eq!(code(&out), Some(0));
    assert_eq!(text(&out.stdout), "done\n");
    assert_eq!(
        text(&out.stderr),
        "Lua warning: one message\nLua warning: error in __gc (oops)\n"
    );
}

#[test]
fn arg_minus_one_relaunches_the_interpreter() {
    let out = run("print(arg[-1])\n\
         print(os.execute(string.format('%q -e %q', arg[-1], 'os.exit(7)')))\n");
    assert_eq!(
        text(&out.stdout),
        format!("{}\nnil\texit\t7\n", solvm()),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_timeout_message_says_how_to_lift_it() {
    let out = run_with(&["--timeout", "1s"], "while true do end\n");
    assert_eq!(code(&out), Some(124));
    let err = text(&out.stderr);
    assert!(
        err.contains("the run exceeded its time limit of 1s (--timeout)")
            && err.contains("--timeout 0"),
        "{err}"
    );
}

/// Collects a child's output as it comes.
fn collect(
    stream: impl std::io::Read + Send + 'static,
) -> std::sync::Arc<parking_lot::Mutex<String>> {
    let buf = std::sync::Arc::new(parking_lot::Mutex::new(String::new()));
    let out = std::sync::Arc::clone(&buf);
    std::thread::spawn(move || {
        let mut r = std::io::BufReader::new(stream);
        let mut line = String::new();
        while r.read_line(&mut line).is_ok_and(|n| n > 0) {
            out.lock().push_str(&line);
            line.clear();
        }
    });
    buf
}

/// Waits (20 s at most) until `buf` holds `want`.
fn wait_for(buf: &parking_lot::Mutex<String>, want: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !buf.lock().contains(want) {
        assert!(
            std::time::Instant::now() < deadline,
            "never saw {want:?}; got {:?}",
            buf.lock()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn watch_does_not_rerun_a_failing_script_without_an_edit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("w.lua");
    std::fs::write(&script, "print('run 1')\nerror('boom')\n").unwrap();
    let mut child = Command::new(solvm())
        .args(["--watch", "w.lua"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = collect(child.stdout.take().unwrap());
    let stderr = collect(child.stderr.take().unwrap());
    wait_for(&stderr, "waiting for changes");
    // Reading the script (to run it, for the error's snippet) is not a change: no rerun follows.
    std::thread::sleep(Duration::from_secs(2));
    let runs = stdout.lock().matches("run 1").count();
    // An edit still reruns it.
    std::fs::write(&script, "print('run 2')\n").unwrap();
    wait_for(&stdout, "run 2");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(runs, 1, "reran without an edit:\n{}", stderr.lock());
}
