//! The `solvm` command line: parse flags, hand the program to the runtime, map the outcome to an exit
//! code (SPEC §2).

use clap::Parser;
use solvm::config::{parse_duration, parse_size, Config};
use solvm::runtime::{self, Program};
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::time::Duration;

#[global_allocator]
static ALLOC: solvm::runtime::alloc::Counting = solvm::runtime::alloc::Counting;

#[derive(Parser, Debug)]
#[command(
    name = "solvm",
    version = version_text(),
    about = "Run Lua 5.4 scripts with goroutines, channels, servers and batteries included",
    override_usage = "solvm [OPTIONS] <script.lua> [ARGS...]\n       solvm [OPTIONS] -e '<code>' [ARGS...]\n       solvm [OPTIONS]            (REPL on a terminal; reads a script from stdin otherwise)"
)]
struct Cli {
    /// Bound on the whole run: 500ms, 10s, 2m, 1h, or seconds; 0 = no limit. Go's `-timeout 10s` works too.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    timeout: Duration,
    /// Memory limit per Lua state (each goroutine and server worker), e.g. 256MB.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory_limit: Option<usize>,
    /// Most goroutines alive at once.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    max_goroutines: usize,
    /// Server workers kept ready per server (default 2 × cores); more start while handlers block.
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Rerun the script when it or a module it imported changes.
    #[arg(long)]
    watch: bool,
    /// Report goroutines whose Lua memory keeps growing.
    #[arg(long)]
    leak_check: bool,
    /// Share `store`, cluster channels and pub/sub with every process started with the same
    /// Redis (or Valkey): redis://[user:pass@]host:port[/db] or rediss:// (TLS). Default: $SOLVM_CLUSTER.
    #[arg(long, value_name = "URL")]
    cluster: Option<String>,
    /// Check the script's syntax and exit.
    #[arg(long)]
    check: bool,
    /// Write LuaLS (lua-language-server) definitions of every builtin to DIR/solvm.lua (default
    /// `types/` in the working directory) and exit.
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = "types")]
    types: Option<PathBuf>,
    /// Run this code instead of a script file.
    #[arg(short = 'e', value_name = "CODE")]
    exec: Option<String>,
    /// The script to run (`-` reads it from stdin), then its arguments.
    #[arg(value_name = "SCRIPT")]
    script: Option<String>,
    #[arg(
        value_name = "ARGS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    args: Vec<String>,
}

/// Long options that may also be spelled Go style with one dash (`-timeout 10s`).
const LONG_OPTIONS: &[&str] = &[
    "timeout",
    "memory-limit",
    "max-goroutines",
    "workers",
    "watch",
    "leak-check",
    "cluster",
    "check",
    "types",
    "version",
    "help",
];

/// Long options that take a value.
const VALUE_OPTIONS: &[&str] = &[
    "--timeout",
    "--memory-limit",
    "--max-goroutines",
    "--workers",
    "--cluster",
];

/// Prepares the command line for clap: Go-style `-timeout` becomes `--timeout` (any other
/// multi-letter single-dash word too, so a typo is reported in full), and a `--` goes in front of the
/// script name — or after `-e CODE` — so everything after it belongs to the script, as in `lua`.
fn normalize_args(raw: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(raw.len() + 1);
    let mut iter = raw.into_iter().peekable();
    if let Some(bin) = iter.next() {
        out.push(bin);
    }
    while let Some(a) = iter.next() {
        if a == "--" {
            out.push(a);
            break;
        }
        let word = a
            .strip_prefix('-')
            .filter(|r| r.len() > 1 && !r.starts_with('-'));
        let a = match word {
            Some(w) => {
                let name = w.split('=').next().unwrap_or(w);
                let go_style = LONG_OPTIONS.contains(&name)
                    || (!name.starts_with('e')
                        && name.chars().all(|c| c.is_ascii_lowercase() || c == '-'));
                if go_style {
                    format!("-{a}")
                } else {
                    a
                }
            }
            None => a,
        };
        if a == "-e" {
            out.push(a);
            if let Some(code) = iter.next() {
                out.push(code);
            }
            out.push("--".into());
            break;
        }
        if a.starts_with("-e") && !a.starts_with("--") {
            // `-eCODE`
            out.push(a);
            out.push("--".into());
            break;
        }
        if a == "--types" {
            // Its directory is optional: take the next word unless it is an option.
            out.push(a);
            if let Some(dir) = iter.next_if(|d| !d.starts_with('-')) {
                out.push(dir);
            }
            continue;
        }
        if VALUE_OPTIONS.contains(&a.as_str()) {
            out.push(a);
            if let Some(v) = iter.next() {
                out.push(v);
            }
            continue;
        }
        if a.starts_with('-') && a != "-" {
            out.push(a);
            continue;
        }
        // The script: it and everything after are positional.
        out.push("--".into());
        out.push(a);
        break;
    }
    out.extend(iter);
    out
}

extern "C" {
    /// Lua's identification string (lapi.c): `$LuaVersion: Lua 5.4.9  Copyright (C) ... $...`.
    static lua_ident: std::ffi::c_char;
}

/// `0.1.0 (Lua 5.4.9)`: the release of the Lua compiled into this binary, read from Lua itself
/// (`_VERSION` only says `Lua 5.4`), so `--version` and the benchmarks report what really runs.
fn version_text() -> &'static str {
    // Safety: `lua_ident` is a NUL-terminated constant array defined by the linked Lua library.
    let ident = unsafe { std::ffi::CStr::from_ptr(std::ptr::addr_of!(lua_ident)) };
    let ident = ident.to_string_lossy();
    let release = ident
        .strip_prefix("$LuaVersion: ")
        .and_then(|rest| rest.split("  ").next())
        .unwrap_or("Lua");
    Box::leak(format!("{} ({release})", env!("CARGO_PKG_VERSION")).into_boxed_str())
}

fn main() {
    let cli = match Cli::try_parse_from(normalize_args(std::env::args().collect())) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let config = Config {
        timeout: Some(cli.timeout).filter(|d| !d.is_zero()),
        memory_limit: cli.memory_limit,
        max_goroutines: cli.max_goroutines.max(1),
        workers: cli.workers,
        watch: cli.watch,
        leak_check: cli.leak_check,
        cluster: cli
            .cluster
            .clone()
            .or_else(|| std::env::var("SOLVM_CLUSTER").ok())
            .filter(|u| !u.is_empty()),
    };
    if let Some(dir) = &cli.types {
        match solvm::builtins::catalog::write_definitions(dir) {
            Ok(file) => {
                println!("wrote {}", file.display());
                std::process::exit(0);
            }
            Err(e) => {
                eprintln!(
                    "solvm: cannot write {}: {e}",
                    dir.join("solvm.lua").display()
                );
                std::process::exit(1);
            }
        }
    }
    if let (Some(url), false) = (&config.cluster, cli.check) {
        // SPEC §15: a cluster that cannot be reached is a bad command line, said before any run.
        if let Err(msg) = solvm::builtins::cluster::check_reachable(url) {
            eprintln!("solvm: --cluster: {msg}");
            std::process::exit(2);
        }
    }
    if cli.exec.is_none() && cli.script.is_none() && std::io::stdin().is_terminal() && !cli.check {
        runtime::goroutine::configure_spinning();
        runtime::report::quiet_closing_panics();
        std::process::exit(runtime::run_repl(config).exit_code());
    }
    let program = match load_program(&cli) {
        Ok(p) => p,
        Err(msg) => {
            eprintln!("solvm: {msg}");
            std::process::exit(2);
        }
    };
    if cli.check {
        std::process::exit(runtime::check_syntax(&program));
    }
    runtime::goroutine::configure_spinning();
    runtime::report::quiet_closing_panics();
    let outcome = runtime::run(config, program);
    std::process::exit(outcome.exit_code());
}

/// Works out what to run: `-e` code, a script file, or a script on stdin.
fn load_program(cli: &Cli) -> Result<Program, String> {
    if let Some(code) = &cli.exec {
        let mut args = cli.args.clone();
        if let Some(s) = &cli.script {
            args.insert(0, s.clone());
        }
        return Ok(Program {
            source: code.clone().into_bytes(),
            chunk_name: "(command line)".into(),
            path: None,
            args,
        });
    }
    match cli.script.as_deref() {
        Some("-") | None => {
            let mut source = Vec::new();
            std::io::stdin()
                .read_to_end(&mut source)
                .map_err(|e| format!("cannot read the script from stdin: {e}"))?;
            Ok(Program {
                source,
                chunk_name: "stdin".into(),
                path: None,
                args: cli.args.clone(),
            })
        }
        Some(path) => {
            let source = std::fs::read(path).map_err(|e| {
                format!(
                    "cannot open {path}: {}",
                    solvm::runtime::args::io_error_text(&e)
                )
            })?;
            Ok(Program {
                source,
                chunk_name: path.to_string(),
                path: Some(PathBuf::from(path)),
                args: cli.args.clone(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_args;

    fn norm(v: &[&str]) -> Vec<String> {
        normalize_args(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn go_spelling_becomes_long_option() {
        assert_eq!(
            norm(&["solvm", "-timeout", "10s", "x.lua"]),
            ["solvm", "--timeout", "10s", "--", "x.lua"]
        );
        assert_eq!(
            norm(&["solvm", "-timeout=1s", "x.lua"]),
            ["solvm", "--timeout=1s", "--", "x.lua"]
        );
    }

    #[test]
    fn types_takes_an_optional_directory() {
        assert_eq!(
            norm(&["solvm", "--types", "out"]),
            ["solvm", "--types", "out"]
        );
        assert_eq!(norm(&["solvm", "-types"]), ["solvm", "--types"]);
        assert_eq!(
            norm(&["solvm", "--types", "--timeout", "1s"]),
            ["solvm", "--types", "--timeout", "1s"]
        );
    }

    #[test]
    fn script_arguments_are_left_alone() {
        assert_eq!(
            norm(&["solvm", "x.lua", "-timeout", "3"]),
            ["solvm", "--", "x.lua", "-timeout", "3"]
        );
        assert_eq!(
            norm(&["solvm", "--timeout", "2s", "-watch", "a.lua", "-check"]),
            [
                "solvm",
                "--timeout",
                "2s",
                "--watch",
                "--",
                "a.lua",
                "-check"
            ]
        );
    }
}
