//! The interactive prompt (`solvm` on a terminal), modelled on `lua5.4`'s: a line is tried as an
//! expression first (its values are printed with the global `print`), then as a statement; an
//! incomplete chunk asks for more lines. It runs in the main goroutine's state, so goroutines,
//! channels and timers work; timers and other events of the prompt's goroutine run while the prompt
//! waits for input (the line editor has its own thread), and whenever a line blocks, as in a script.

use super::interrupt::Reason;
use super::report::ErrorInfo;
use super::state::GoState;
use super::{events, goroutine, output};
use mlua::{Function, Lua, MultiValue};
use parking_lot::Mutex;
use rustyline::error::ReadlineError;
use std::sync::Arc;

/// Name of the chunks the prompt runs, as in `lua5.4`: errors read `stdin:1: message`.
const CHUNK_NAME: &str = "=stdin";

/// What evaluating the input so far gave.
pub enum Eval {
    /// The chunk is not finished: read another line and try again with it appended.
    Incomplete,
    /// It ran; these are its results (none for a statement).
    Values(MultiValue),
    /// It failed to compile or to run: `file:line: message`.
    Error(String),
}

/// Compiles and runs `input` (one or more lines) in `state`: as `return <input>` if that compiles,
/// otherwise as statements. A leading `=` (Lua 5.1 style) is accepted for an expression.
pub fn eval_line(state: &GoState, input: &str) -> Eval {
    let lua = &state.lua;
    let input = input.strip_prefix('=').unwrap_or(input);
    let chunk = match compile(lua, &format!("return {input}")) {
        Ok(f) => f,
        Err(_) => match compile(lua, input) {
            Ok(f) => f,
            Err(mlua::Error::SyntaxError {
                incomplete_input: true,
                ..
            }) => return Eval::Incomplete,
            Err(e) => return Eval::Error(one_line(lua, &e)),
        },
    };
    let result = chunk.call::<MultiValue>(());
    // Events that came in meanwhile (goroutine errors for on_error, timers now due).
    let after =
        goroutine::drain_events(lua, &state.ctx).and_then(|_| events::run_due(lua, &state.ctx));
    match (result, after) {
        (Err(e), _) | (Ok(_), Err(e)) => Eval::Error(one_line(lua, &e)),
        (Ok(values), Ok(())) => Eval::Values(values),
    }
}

fn compile(lua: &Lua, code: &str) -> mlua::Result<Function> {
    lua.load(code).set_name(CHUNK_NAME).into_function()
}

/// An error as one line, as `lua5.4`'s prompt shows it (no traceback).
pub fn one_line(lua: &Lua, err: &mlua::Error) -> String {
    match err {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        other => ErrorInfo::from_lua_error_in(lua, other).one_line(),
    }
}

/// The values as `print` would show them: each through `tostring`, tab-separated.
pub fn render(lua: &Lua, values: &MultiValue) -> mlua::Result<String> {
    let tostring: Function = lua.globals().get("tostring")?;
    let parts = values
        .iter()
        .map(|v| {
            tostring
                .call::<mlua::LuaString>(v.clone())
                .map(|s| s.to_string_lossy())
        })
        .collect::<mlua::Result<Vec<_>>>()?;
    Ok(parts.join("\t"))
}

/// Shows a result: the values through the global `print`, as `lua5.4` does; an error on stderr.
fn show(lua: &Lua, eval: Eval) {
    match eval {
        Eval::Values(values) if !values.is_empty() => {
            let printed = lua
                .globals()
                .get::<Function>("print")
                .and_then(|print| print.call::<()>(values));
            if let Err(e) = printed {
                eprintln!("{}", one_line(lua, &e));
            }
        }
        Eval::Values(_) | Eval::Incomplete => {}
        Eval::Error(msg) => {
            output::flush();
            eprintln!("{msg}");
        }
    }
}

/// Where the prompt keeps its history: `~/.solvm_history`.
fn history_file() -> Option<std::path::PathBuf> {
    std::env::var_os("HOME").map(|home| std::path::Path::new(&home).join(".solvm_history"))
}

/// Ctrl-C while a line runs stops it wherever it is and brings the prompt back with the state kept,
/// as `lua5.4`'s does for running Lua code: the interrupt hook stops Lua code, and an
/// [`goroutine::Event::Interrupted`] wakes a wait (`sleep`, `receive`, `wait`, socket I/O). Further
/// Ctrl-Cs do the same again. Only a line that has ignored them for [`STUCK_AFTER`] (a blocking C
/// call such as `io.read` that neither reaches) is given up on: a third Ctrl-C then ends the session.
/// At the prompt the terminal is in raw mode, so Ctrl-C reaches rustyline as a key instead.
struct CtrlC {
    hits: Arc<Mutex<Hits>>,
    handle: Option<signal_hook::iterator::Handle>,
}

/// While a line runs: how many Ctrl-Cs it got and when the first came; `None` between lines.
type Hits = Option<(u32, Option<std::time::Instant>)>;

/// How long a line may ignore Ctrl-C before a third one ends the session.
const STUCK_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

impl CtrlC {
    fn install(state: &GoState) -> CtrlC {
        let hits: Arc<Mutex<Hits>> = Arc::new(Mutex::new(None));
        let handle = signal_hook::iterator::Signals::new([signal_hook::consts::SIGINT])
            .ok()
            .map(|mut signals| {
                let handle = signals.handle();
                let (hits, interrupt, events, rt) = (
                    Arc::clone(&hits),
                    Arc::clone(&state.ctx.interrupt),
                    state.ctx.info.events.clone(),
                    Arc::clone(&state.ctx.rt),
                );
                std::thread::spawn(move || {
                    for _ in signals.forever() {
                        let mut hits = hits.lock();
                        let Some((n, first)) = hits.as_mut() else {
                            continue;
                        };
                        *n += 1;
                        let first = *first.get_or_insert_with(std::time::Instant::now);
                        if *n >= 3 && first.elapsed() >= STUCK_AFTER {
                            output::flush();
                            eprintln!(
                                "\nsolvm: the line did not stop (blocked in a C call such as io.read?); ending the session"
                            );
                            super::exit_now(Some(&rt), 130);
                        }
                        interrupt.fire(Reason::Signal);
                        let _ = events.send(goroutine::Event::Interrupted);
                    }
                });
                handle
            });
        CtrlC { hits, handle }
    }

    /// Runs one evaluation with Ctrl-C interrupting it.
    fn around(&self, state: &GoState, eval: impl FnOnce() -> Eval) -> Eval {
        *self.hits.lock() = Some((0, None));
        let result = eval();
        let hits = self.hits.lock().take();
        if hits.is_some_and(|(n, _)| n > 0) && state.ctx.rt.cancel.reason().is_none() {
            // An `Interrupt` event still queued is stale from here on (`fired` is `None`).
            state.ctx.interrupt.reset();
        }
        result
    }
}

impl Drop for CtrlC {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.close();
        }
    }
}

/// What the line-editor thread reports.
type Read = Result<String, ReadlineError>;

/// The line editor runs on its own thread, so that while it waits for input the prompt's
/// goroutine goes on running its timers, cron jobs and `on_error` deliveries. Lines they print
/// appear above the prompt (rustyline's external printer redraws it).
struct Reader {
    prompts: crossbeam_channel::Sender<String>,
    lines: crossbeam_channel::Receiver<Read>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Reader {
    fn start() -> Result<Reader, String> {
        let mut editor = rustyline::DefaultEditor::new()
            .map_err(|e| format!("cannot start the line editor: {e}"))?;
        if let Ok(printer) = editor.create_external_printer() {
            output::set_prompt_printer(Some(Box::new(printer)));
        }
        let (prompts, prompt_rx) = crossbeam_channel::unbounded::<String>();
        let (line_tx, lines) = crossbeam_channel::unbounded::<Read>();
        let thread = std::thread::Builder::new()
            .name("repl-reader".into())
            .spawn(move || {
                let history = history_file();
                if let Some(h) = &history {
                    let _ = editor.load_history(h);
                }
                for prompt in prompt_rx {
                    let read = editor.readline(&prompt);
                    if let Ok(line) = &read {
                        if !line.trim().is_empty() {
                            let _ = editor.add_history_entry(line.as_str());
                            // At once: `os.exit` ends the process without unwinding.
                            if let Some(h) = &history {
                                let _ = editor.append_history(h);
                            }
                        }
                    }
                    if line_tx.send(read).is_err() {
                        break;
                    }
                }
                if let Some(h) = &history {
                    let _ = editor.save_history(h);
                }
            })
            .map_err(|e| format!("cannot start the line editor: {e}"))?;
        Ok(Reader {
            prompts,
            lines,
            thread: Some(thread),
        })
    }

    /// Shows `prompt` and waits for the line, running the goroutine's events meanwhile. `None`
    /// when the run was cancelled while waiting (`os.exit` in a timer, say).
    fn read(&self, state: &GoState, prompt: &str) -> Option<Read> {
        let (lua, ctx) = (&state.lua, &state.ctx);
        if self.prompts.send(prompt.to_string()).is_err() {
            return Some(Err(ReadlineError::Eof));
        }
        output::prompting(true);
        let read = loop {
            output::flush();
            if ctx.rt.cancel.reason().is_some() {
                break None;
            }
            let wake = events::next_due(lua)
                .unwrap_or_else(|| std::time::Instant::now() + std::time::Duration::from_secs(1));
            let outcome = crossbeam_channel::select! {
                recv(self.lines) -> line => break Some(line.unwrap_or(Err(ReadlineError::Eof))),
                recv(ctx.events) -> ev => match ev {
                    Ok(ev) => goroutine::handle_event(lua, ctx, ev),
                    Err(_) => Ok(()),
                },
                recv(ctx.rt.cancel.signal()) -> _ => Ok(()),
                default(wake.saturating_duration_since(std::time::Instant::now())) => {
                    events::run_due(lua, ctx)
                }
            };
            if let Err(e) = outcome {
                output::flush();
                output::print_line(&format!("{}\n", one_line(lua, &e)));
            }
        };
        output::prompting(false);
        read
    }

    /// Ends the editor thread (it saves the history) unless it is still waiting for input.
    fn finish(mut self, waiting: bool) {
        drop(self.prompts);
        output::set_prompt_printer(None);
        if let Some(t) = self.thread.take() {
            if !waiting {
                let _ = t.join();
            }
        }
    }
}

/// The terminal's settings at start, put back when the session ends: a session ended while the
/// editor thread waits in raw mode (`os.exit` from a timer) must not leave the terminal raw.
struct TerminalGuard;

/// The settings [`TerminalGuard`] saved, for [`restore_terminal`].
static SAVED_TERMINAL: Mutex<Option<libc::termios>> = Mutex::new(None);

impl TerminalGuard {
    fn save() -> TerminalGuard {
        // Safety: tcgetattr only writes the struct we hand it; stdin may not be a terminal.
        let saved = unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            (libc::tcgetattr(0, &mut t) == 0).then_some(t)
        };
        *SAVED_TERMINAL.lock() = saved;
        TerminalGuard
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Puts the terminal back as the REPL found it, if a REPL is running (`os.exit` ends the process
/// without unwinding, maybe while the line editor has the terminal in raw mode).
pub fn restore_terminal() {
    if let Some(t) = SAVED_TERMINAL.lock().as_ref() {
        // Safety: puts back settings tcgetattr gave for the same descriptor.
        unsafe {
            libc::tcsetattr(0, libc::TCSANOW, t);
        }
    }
}

/// Reads and runs lines until Ctrl-D (or `os.exit`). Ctrl-C drops the input being typed.
pub fn interact(state: &GoState) {
    let _terminal = TerminalGuard::save();
    let ctrl_c = CtrlC::install(state);
    let reader = match Reader::start() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("solvm: {e}");
            return;
        }
    };
    println!(
        "SolVM {} ({}), Ctrl-D to exit",
        env!("CARGO_PKG_VERSION"),
        mlua::Lua::new()
            .globals()
            .get::<String>("_VERSION")
            .unwrap_or_default()
    );
    let mut pending = String::new();
    let mut waiting = false;
    loop {
        output::flush();
        let prompt = if pending.is_empty() { "> " } else { ">> " };
        let Some(read) = reader.read(state, prompt) else {
            waiting = true;
            break;
        };
        match read {
            Ok(line) => {
                if pending.is_empty() {
                    pending = line;
                } else {
                    pending.push('\n');
                    pending.push_str(&line);
                }
                let eval = ctrl_c.around(state, || eval_line(state, &pending));
                if matches!(eval, Eval::Incomplete) {
                    continue;
                }
                pending.clear();
                if state.ctx.rt.cancel.reason().is_some() {
                    // `os.exit`: the session ends, without the unwinding error it raised.
                    break;
                }
                show(&state.lua, eval);
            }
            Err(ReadlineError::Interrupted) => pending.clear(),
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("solvm: cannot read input: {e}");
                break;
            }
        }
    }
    reader.finish(waiting);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::runtime::Shared;

    fn with_state(test: impl FnOnce(&GoState)) {
        let rt = Shared::new(Config::default(), ".".into());
        let state = crate::runtime::state::main_state(&rt).expect("state");
        test(&state);
        goroutine::unregister(&rt, state.ctx.gid);
    }

    fn eval(state: &GoState, input: &str) -> String {
        match eval_line(state, input) {
            Eval::Values(v) => render(&state.lua, &v).expect("render"),
            Eval::Incomplete => "<incomplete>".into(),
            Eval::Error(e) => format!("<error> {e}"),
        }
    }

    #[test]
    fn expressions_print_their_values() {
        with_state(|s| {
            assert_eq!(eval(s, "1+1"), "2");
            assert_eq!(eval(s, "=2*3"), "6");
            assert_eq!(eval(s, "1, 'a', nil"), "1\ta\tnil");
            assert_eq!(eval(s, "json_encode({1, 2})"), "[1,2]");
        });
    }

    #[test]
    fn statements_have_effects_and_no_values() {
        with_state(|s| {
            assert_eq!(eval(s, "x = 20"), "");
            assert_eq!(eval(s, "local y = 1"), "");
            assert_eq!(eval(s, "x + 1"), "21");
            assert_eq!(eval(s, "function f(n) return n * x end"), "");
            assert_eq!(eval(s, "f(2)"), "40");
        });
    }

    #[test]
    fn unfinished_chunks_ask_for_more() {
        with_state(|s| {
            assert_eq!(eval(s, "for i = 1, 3 do"), "<incomplete>");
            assert_eq!(eval(s, "function g()\n  return 5"), "<incomplete>");
            assert_eq!(eval(s, "function g()\n  return 5\nend"), "");
            assert_eq!(eval(s, "g()"), "5");
            // As in lua5.4, a string cut off at the end of the input is unfinished, not wrong.
            assert_eq!(eval(s, "x = 'abc"), "<incomplete>");
            assert_eq!(
                eval(s, "x = 'abc\ny'"),
                "<error> stdin:1: unfinished string near ''abc'"
            );
        });
    }

    #[test]
    fn errors_are_one_line() {
        with_state(|s| {
            assert_eq!(eval(s, "error('boom')"), "<error> stdin:1: boom");
            assert_eq!(
                eval(s, "x = = 1"),
                "<error> stdin:1: unexpected symbol near '='"
            );
            let e = eval(s, "nil + 1");
            assert!(
                e.starts_with("<error> stdin:1: attempt to perform arithmetic"),
                "{e}"
            );
            let e = eval(s, "sleep('soon')");
            assert_eq!(
                e,
                "<error> stdin:1: bad argument #1 to 'sleep' (number expected, got string)"
            );
            // The session goes on.
            assert_eq!(eval(s, "1"), "1");
        });
    }

    #[test]
    fn goroutines_and_channels_work() {
        with_state(|s| {
            assert_eq!(eval(s, "ch = chan() go(function() ch:send(41+1) end)"), "");
            assert_eq!(eval(s, "ch:receive()"), "42\ttrue");
            assert_eq!(
                eval(s, "n = 0 set_timeout(function() n = n + 1 end, 0)"),
                ""
            );
            assert_eq!(eval(s, "sleep(0.05) return n"), "1");
        });
    }
}
