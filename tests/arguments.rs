//! No argument a script can pass panics or aborts the process (SPEC §4). Walks the builtin catalog
//! (`catalog::builtins()`: the core rows and every family's own, so a family merged later is
//! covered without an edit here) and calls every builtin that takes a number — a parameter typed
//! `number`, `integer` or `any`, or a number field of an options table — with each of NaN, ±inf,
//! 1e300, `math.maxinteger`, -1, 0 and 1e9, in `pcall`, each call in its own `solvm` process. The
//! process must survive with no `panicked` on stderr: the call returns (an error is fine), or it
//! blocks until `--timeout` ends the run normally (exit 124).
//!
//! Objects for methods (`Channel:send`, `TcpConn:read`, ...) come from [`MAKERS`]; a class missing
//! there is made by a catalog function that returns it, called with plain arguments, and the test
//! fails, saying so, when that yields nothing.

use solvm::builtins::catalog::{self, Kind};
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The numbers every number parameter gets, as Lua expressions.
const BAD_NUMBERS: &[&str] = &[
    "0/0",
    "math.huge",
    "-math.huge",
    "1e300",
    "math.maxinteger",
    "-1",
    "0",
    // A size that is affordable only if nothing is allocated up front (`chan(1e9)`).
    "1e9",
];

/// Builtins whose call ends the run by design, so "the call returned" cannot be checked: only
/// that the process ended by itself (no signal) with no panic.
const ENDS_THE_RUN: &[(&str, &str)] = &[("os.exit", "ends the whole run with the given code")];

/// Builtins not called at all, each with the reason. Keep it empty if at all possible: a call that
/// blocks is bounded by `--timeout` (and the watchdog below), not skipped.
const NOT_CALLED: &[(&str, &str)] = &[];

/// How to make an object of a class, as Lua statements leaving it in `obj`. The socket classes get
/// a peer that sends one message at once, so a method reading with a huge timeout returns.
const MAKERS: &[(&str, &str)] = &[
    ("Channel", "local obj = chan(1)"),
    ("Regex", r#"local obj = regex.new("a+")"#),
    // A child that prints one line and then waits on its stdin, so reads return and waits end
    // when the run kills it.
    (
        "ChildProcess",
        r#"local obj = process.spawn("sh", {"-c", "echo hello; echo oops >&2; exec cat"})"#,
    ),
    (
        "TcpConn",
        r#"local listener, port = tcp_listen(0, "127.0.0.1")
local obj = tcp_connect("127.0.0.1", port)
local peer = receive(listener)
peer:write("hello\n")"#,
    ),
    (
        "WebSocket",
        r#"create_server("argument_test", {port = 0, host = "127.0.0.1"})
handle_ws("argument_test", "/ws", function(ws) ws.send("hello") ws.receive() end)
local port = start_server("argument_test")
local obj = ws_connect("ws://127.0.0.1:" .. port .. "/ws")"#,
    ),
];

/// Each run's `--timeout`: what bounds a call that blocks (a `sleep(math.huge)`).
const RUN_TIMEOUT: &str = "3s";
/// A run still alive after this (a service keeps it up and the call blocks) is killed and fails.
const WATCHDOG: Duration = Duration::from_secs(60);

/// One parameter: its name, its type, whether it is `...`.
struct Param {
    name: String,
    ty: String,
    varargs: bool,
}

/// Splits `s` at `sep` outside brackets and parentheses.
fn split_top(s: &str, sep: char) -> Vec<String> {
    let (mut parts, mut cur, mut depth) = (Vec::new(), String::new(), 0i32);
    for c in s.chars() {
        match c {
            '(' | '{' | '<' | '[' => depth += 1,
            ')' | '}' | '>' | ']' => depth -= 1,
            _ => {}
        }
        if c == sep && depth == 0 {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    if !cur.trim().is_empty() {
        parts.push(cur);
    }
    parts.into_iter().map(|p| p.trim().to_string()).collect()
}

fn parse_param(p: &str) -> Param {
    let (name, ty) = p.split_once(':').unwrap_or((p, "any"));
    let name = name.trim().trim_end_matches('?').to_string();
    Param {
        varargs: name == "...",
        name,
        ty: ty.trim().to_string(),
    }
}

/// The parameter lists of a builtin: its own, and each overload's (`fun(size?: integer): Channel`).
fn signatures(b: &catalog::Builtin) -> Vec<Vec<Param>> {
    let mut sigs = vec![b.params.iter().map(|p| parse_param(p)).collect()];
    for o in b.overloads {
        let inner = o
            .strip_prefix("fun(")
            .and_then(|rest| {
                let mut depth = 1;
                let end = rest.char_indices().find(|&(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })?;
                Some(&rest[..end.0])
            })
            .unwrap_or("");
        sigs.push(
            split_top(inner, ',')
                .iter()
                .map(|p| parse_param(p))
                .collect(),
        );
    }
    sigs
}

fn alternatives(ty: &str) -> Vec<String> {
    split_top(ty.trim_end_matches('?'), '|')
}

fn is_class(name: &str) -> bool {
    catalog::classes().any(|c| c.name == name)
}

/// Whether a parameter of type `ty` accepts a number.
fn takes_number(ty: &str) -> bool {
    alternatives(ty)
        .iter()
        .any(|a| matches!(a.as_str(), "number" | "integer" | "any"))
}

/// The number fields of an options-table type: a class (`HttpOptions`) or an inline `{a: number}`.
fn number_fields(ty: &str) -> Vec<String> {
    let mut fields = Vec::new();
    for alt in alternatives(ty) {
        if let Some(class) = catalog::classes().find(|c| c.name == alt) {
            for (name, fty, _) in class.fields {
                if takes_number(fty) {
                    fields.push(name.to_string());
                }
            }
        } else if let Some(inner) = alt.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            for f in split_top(inner, ',') {
                let p = parse_param(&f);
                if takes_number(&p.ty) {
                    fields.push(p.name);
                }
            }
        }
    }
    fields
}

/// A plain value of type `ty` for a parameter named `name`, as a Lua expression; `objects` holds
/// the classes whose instance is in a local (`obj_<Class>`).
fn plain_value(name: &str, ty: &str, objects: &mut Vec<String>) -> String {
    let alts = alternatives(ty);
    // A class instance first (a channel rather than a channel's name), then simple types.
    for a in &alts {
        if is_class(a) && (MAKERS.iter().any(|(c, _)| c == a) || maker_function(a).is_some()) {
            if !objects.contains(a) {
                objects.push(a.clone());
            }
            return format!("obj_{a}");
        }
    }
    for a in &alts {
        let a = a.as_str();
        let v = match a {
            "number" | "integer" => "1",
            "boolean" => "false",
            "function" => "function() end",
            "any" => "1",
            "string" => match name {
                "url" => "\"http://127.0.0.1:1/\"",
                "host" => "\"127.0.0.1\"",
                "method" => "\"GET\"",
                "expr" => "\"* * * * * *\"",
                "pattern" => "\"/argument_test\"",
                "path" | "from" | "to" => "\"scratch.txt\"",
                "text" => "\"[1]\"",
                _ => "\"argument_test\"",
            },
            _ if a.starts_with("fun(") => "function() end",
            _ if a.starts_with("table") || a.starts_with('{') || a.ends_with("[]") => "{}",
            _ if is_class(a) => "{}",
            _ => continue,
        };
        return v.to_string();
    }
    "nil".to_string()
}

/// A catalog function that returns an object of `class` (for a class with no [`MAKERS`] entry).
fn maker_function(class: &str) -> Option<&'static catalog::Builtin> {
    catalog::builtins().find(|b| {
        b.kind == Kind::Function
            && b.returns.first().is_some_and(|r| {
                r.split_whitespace()
                    .next()
                    .is_some_and(|t| t.trim_end_matches('?') == class)
            })
    })
}

/// A dotted builtin name as a Lua expression: a part that is a Lua keyword (`text.repeat`) is
/// indexed with brackets (`text["repeat"]`).
fn lua_path(name: &str) -> String {
    const KEYWORDS: &[&str] = &[
        "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if",
        "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
    ];
    let mut parts = name.split('.');
    let mut out = parts.next().unwrap_or_default().to_string();
    for p in parts {
        if KEYWORDS.contains(&p) {
            out.push_str(&format!("[\"{p}\"]"));
        } else {
            out.push('.');
            out.push_str(p);
        }
    }
    out
}

/// Lua statements that leave an object of `class` in `obj_<class>`.
fn make_object(class: &str) -> String {
    let body = match MAKERS.iter().find(|(c, _)| *c == class) {
        Some((_, code)) => code.to_string(),
        None => {
            // No way to make one: the run reports it, and the test asks for a MAKERS entry.
            let Some(f) = maker_function(class) else {
                return format!("io.stderr:write(\"NO OBJECT {class}\\n\") os.exit(3)\n");
            };
            let mut objects = Vec::new();
            let args: Vec<String> = signatures(f)[0]
                .iter()
                .filter(|p| !p.ty.ends_with('?') && !p.varargs)
                .map(|p| plain_value(&p.name, &p.ty, &mut objects))
                .collect();
            format!("local obj = {}({})", f.name, args.join(", "))
        }
    };
    format!(
        "local obj_{class} = (function()\n{body}\nreturn obj\nend)()\nif obj_{class} == nil then \
         io.stderr:write(\"NO OBJECT {class}\\n\") os.exit(3) end\n"
    )
}

/// One call to make: the builtin, and the Lua source of the whole script.
struct Case {
    builtin: &'static str,
    what: String,
    script: String,
}

/// Every call for builtin `b`: one per number position (parameter or options field) and value.
fn cases_for(b: &'static catalog::Builtin) -> Vec<Case> {
    let mut cases = Vec::new();
    let method = (b.kind == Kind::Method).then(|| b.name.split_once(':').expect("Class:method"));
    for sig in signatures(b) {
        for (i, p) in sig.iter().enumerate() {
            // Where the bad number goes: the parameter itself, or a field of it.
            let mut slots: Vec<Option<String>> = Vec::new();
            if takes_number(&p.ty) {
                slots.push(None);
            }
            slots.extend(number_fields(&p.ty).into_iter().map(Some));
            for field in slots {
                for bad in BAD_NUMBERS {
                    let mut objects = Vec::new();
                    let mut args: Vec<String> = sig[..i]
                        .iter()
                        .map(|q| plain_value(&q.name, &q.ty, &mut objects))
                        .collect();
                    let value = match &field {
                        None => format!("({bad})"),
                        Some(f) => format!("{{{f} = {bad}}}"),
                    };
                    // A `...` of channels and numbers (select): also a channel, then the number.
                    if p.varargs && alternatives(&p.ty).iter().any(|a| is_class(a)) {
                        let mut with_object = args.clone();
                        with_object.push(plain_value(&p.name, &p.ty, &mut objects));
                        with_object.push(value.clone());
                        cases.push(case(
                            b,
                            method,
                            &with_object,
                            &objects,
                            &p.name,
                            bad,
                            &field,
                        ));
                    }
                    args.push(value);
                    // Required parameters after this one get plain values.
                    for q in &sig[i + 1..] {
                        if !q.ty.ends_with('?') && !q.varargs {
                            args.push(plain_value(&q.name, &q.ty, &mut objects));
                        }
                    }
                    cases.push(case(b, method, &args, &objects, &p.name, bad, &field));
                }
            }
        }
    }
    cases
}

fn case(
    b: &'static catalog::Builtin,
    method: Option<(&str, &str)>,
    args: &[String],
    objects: &[String],
    param: &str,
    bad: &str,
    field: &Option<String>,
) -> Case {
    let mut objects = objects.to_vec();
    let call = match method {
        Some((class, name)) => {
            if !objects.iter().any(|o| o == class) {
                objects.push(class.to_string());
            }
            format!("obj_{class}:{name}({})", args.join(", "))
        }
        None => format!("{}({})", lua_path(b.name), args.join(", ")),
    };
    let setup: String = objects.iter().map(|c| make_object(c)).collect();
    let script = format!(
        "{setup}io.stderr:write(\"CALLING\\n\")\n\
         local ok, err = pcall(function() return {call} end)\n\
         io.stderr:write(\"RETURNED \", tostring(ok), \" \", tostring(err), \"\\n\")\n\
         os.exit(0)\n"
    );
    let place = match field {
        Some(f) => format!("{param}.{f}"),
        None => param.to_string(),
    };
    Case {
        builtin: b.name,
        what: format!("{} with {place} = {bad}: {call}", b.name),
        script,
    }
}

/// How one run ended, when it is acceptable.
#[derive(Debug, PartialEq)]
enum Outcome {
    Returned,
    StoppedByTimeout,
    /// Blocked forever with nothing that could wake it: the deadlock report ends the run.
    Deadlock,
    EndedTheRun,
}

/// Runs one case; `Err` says what went wrong.
fn run(case: &Case) -> Result<Outcome, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let script = dir.path().join("call.lua");
    std::fs::write(&script, &case.script).map_err(|e| e.to_string())?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_solvm"))
        .args(["--timeout", RUN_TIMEOUT, "call.lua"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run solvm: {e}"))?;
    let mut stderr_pipe = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr_pipe.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break Some(status);
        }
        if start.elapsed() > WATCHDOG {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = reader.join().unwrap_or_default();
    let explain = |why: &str| format!("{why}; stderr:\n{stderr}");
    let Some(status) = status else {
        return Err(explain(
            "still running after the watchdog (a service kept it alive?)",
        ));
    };
    if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
        return Err(explain("a Rust panic"));
    }
    if stderr.contains("NO OBJECT") {
        return Err(explain(
            "could not make the object for this method: add its class to MAKERS in tests/arguments.rs",
        ));
    }
    let Some(code) = status.code() else {
        return Err(explain(&format!("killed by a signal ({status})")));
    };
    if !stderr.contains("CALLING") {
        return Err(explain(&format!(
            "exit {code} before the call (setup failed)"
        )));
    }
    if ENDS_THE_RUN.iter().any(|(n, _)| *n == case.builtin) {
        return Ok(Outcome::EndedTheRun);
    }
    if stderr.contains("RETURNED ") && code == 0 {
        return Ok(Outcome::Returned);
    }
    if code == 124 && stderr.contains("exceeded its time limit") {
        return Ok(Outcome::StoppedByTimeout);
    }
    if code == 1 && stderr.contains("fatal: all goroutines are asleep - deadlock!") {
        return Ok(Outcome::Deadlock);
    }
    Err(explain(&format!("the call did not return (exit {code})")))
}

#[test]
fn no_number_argument_panics_any_builtin() {
    let mut cases = Vec::new();
    let mut covered = Vec::new();
    for b in catalog::builtins() {
        if !matches!(b.kind, Kind::Function | Kind::Method)
            || NOT_CALLED.iter().any(|(n, _)| *n == b.name)
        {
            continue;
        }
        let mine = cases_for(b);
        if !mine.is_empty() {
            covered.push(b.name);
        }
        cases.extend(mine);
    }
    // Builtins that certainly take numbers: if these are not covered, the catalog walk is broken.
    for must in [
        "sleep",
        "set_timeout",
        "chan",
        "receive",
        "Channel:send",
        "TcpConn:read",
    ] {
        assert!(
            covered.contains(&must),
            "{must} was not called: {covered:?}"
        );
    }
    let queue = Mutex::new(cases.iter());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| loop {
                let Some(case) = queue.lock().expect("queue").next() else {
                    break;
                };
                let r = run(case);
                results.lock().expect("results").push((case, r));
            });
        }
    });
    let results = results.into_inner().expect("results");
    let failures: Vec<String> = results
        .iter()
        .filter_map(|(c, r)| r.as_ref().err().map(|e| format!("{}\n{e}", c.what)))
        .collect();
    let count = |o: Outcome| results.iter().filter(|(_, r)| r.as_ref() == Ok(&o)).count();
    eprintln!("called: {}", covered.join(", "));
    eprintln!(
        "{} builtins, {} calls: {} returned, {} stopped by --timeout, {} deadlocked, {} ended the \
         run",
        covered.len(),
        results.len(),
        count(Outcome::Returned),
        count(Outcome::StoppedByTimeout),
        count(Outcome::Deadlock),
        count(Outcome::EndedTheRun)
    );
    assert!(
        failures.is_empty(),
        "{} of {} calls failed:\n\n{}",
        failures.len(),
        results.len(),
        failures.join("\n\n")
    );
}

#[test]
fn a_class_nothing_can_make_is_reported_not_skipped() {
    let case = Case {
        builtin: "Nope:method",
        what: "Nope:method".into(),
        script: make_object("Nope"),
    };
    let err = run(&case).expect_err("no object");
    assert!(err.contains("add its class to MAKERS"), "{err}");
    // A class in MAKERS is made as written there.
    assert!(make_object("Channel").contains("chan(1)"));
}
