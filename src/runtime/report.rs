//! Error reports people can act on: the message, `file:line`, the source line with a marker (ariadne),
//! the traceback, and for goroutines their id and name. Colour only on a terminal without `NO_COLOR`.

use super::{output, Shared};
use ariadne::{Color, Config, Label, Report, ReportKind, Source};
use std::io::IsTerminal;

/// Whether reports may use colour: stderr is a terminal and `NO_COLOR` is unset or empty.
pub fn use_color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// An error taken apart: what went wrong, where, and how we got there.
#[derive(Debug, Clone, Default)]
pub struct ErrorInfo {
    /// The message without its `file:line:` prefix.
    pub message: String,
    /// Where it happened, when known.
    pub location: Option<(String, usize)>,
    /// Lua's `stack traceback:` text (without that header line).
    pub traceback: Option<String>,
}

impl ErrorInfo {
    /// Takes apart an error returned by mlua (runtime errors carry Lua's traceback in their text;
    /// callback errors carry it beside their cause).
    pub fn from_lua_error(err: &mlua::Error) -> ErrorInfo {
        let (text, traceback) = flatten(err);
        let (text, tb_in_text) = split_traceback(&text);
        let traceback = traceback.or(tb_in_text);
        // A `host:port:` at the start of a message is not a position: a prefix counts as one when
        // there is no traceback to tell, when the traceback has a frame at that file and line, or
        // when the file names a chunk (a file on disk, `[string "..."]`, a shortened `...name`).
        let in_traceback = |file: &str, line: usize| {
            traceback.as_deref().is_none_or(|tb| {
                tb.lines().any(|l| {
                    split_location(l.trim()).is_some_and(|(f, n, _)| f == file && n == line)
                })
            }) || file.starts_with('[')
                || file.starts_with("...")
                || std::path::Path::new(file).exists()
        };
        let (location, message) = match split_location(&text) {
            Some((file, line, rest)) if in_traceback(&file, line) => (Some((file, line)), rest),
            _ => (None, text.clone()),
        };
        let location = location.or_else(|| traceback.as_deref().and_then(first_lua_frame));
        ErrorInfo {
            message,
            location,
            traceback,
        }
    }

    /// Like [`ErrorInfo::from_lua_error`], for an error that ended a call in `lua`: when the error
    /// was raised by Lua code below a builtin (a module, a callback), the traceback taken where it
    /// was raised replaces the shorter one taken at the top.
    pub fn from_lua_error_in(lua: &mlua::Lua, err: &mlua::Error) -> ErrorInfo {
        let mut info = ErrorInfo::from_lua_error(err);
        if let Some(tb) = super::args::inner_traceback(lua, &info) {
            info.traceback = Some(tb);
        }
        info
    }

    /// `file:line: message`, the form Lua itself prints.
    pub fn one_line(&self) -> String {
        match &self.location {
            Some((f, l)) => format!("{f}:{l}: {}", self.message),
            None => self.message.clone(),
        }
    }
}

/// The innermost message of an mlua error and the traceback it carries, if any.
fn flatten(err: &mlua::Error) -> (String, Option<String>) {
    match err {
        mlua::Error::CallbackError { traceback, cause } => {
            let (msg, inner_tb) = flatten(cause);
            let tb = inner_tb.or_else(|| split_traceback(traceback).1.or(Some(traceback.clone())));
            (msg, tb)
        }
        mlua::Error::RuntimeError(s) | mlua::Error::MemoryError(s) => (s.clone(), None),
        mlua::Error::SyntaxError { message, .. } => (message.clone(), None),
        mlua::Error::WithContext { cause, context } => {
            let (msg, tb) = flatten(cause);
            (format!("{context}: {msg}"), tb)
        }
        mlua::Error::ExternalError(e) => (e.to_string(), None),
        other => (other.to_string(), None),
    }
}

/// Splits `msg\nstack traceback:\n\t...` into the message and the frames.
fn split_traceback(text: &str) -> (String, Option<String>) {
    match text.find("stack traceback:") {
        Some(i) => {
            let frames = text[i + "stack traceback:".len()..].trim_start_matches('\n');
            (text[..i].trim_end().to_string(), Some(frames.to_string()))
        }
        None => (text.to_string(), None),
    }
}

/// Splits `file.lua:12: message` into its parts. The file part must not contain spaces at its start
/// and the line must be all digits.
pub fn split_location(text: &str) -> Option<(String, usize, String)> {
    let mut search = 0;
    while let Some(rel) = text[search..].find(':') {
        let colon = search + rel;
        let after = &text[colon + 1..];
        let digits = after.bytes().take_while(|b| b.is_ascii_digit()).count();
        if digits > 0 && after[digits..].starts_with(':') {
            let file = &text[..colon];
            if file.is_empty() || file.contains('\n') {
                return None;
            }
            let line = after[..digits].parse().ok()?;
            let rest = after[digits + 1..].trim_start().to_string();
            return Some((file.to_string(), line, rest));
        }
        search = colon + 1;
        if search >= text.len() || text[..colon].contains('\n') {
            return None;
        }
    }
    None
}

/// The first `file:line:` frame of a traceback that is Lua code (not `[C]`).
fn first_lua_frame(tb: &str) -> Option<(String, usize)> {
    tb.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("[C]") && !l.starts_with("(...tail calls...)"))
        .find_map(|l| split_location(l).map(|(f, n, _)| (f, n)))
}

/// Which goroutine an error belongs to.
pub struct Origin<'a> {
    pub id: u64,
    pub name: &'a str,
    /// `file:line` where it was spawned (none for main).
    pub spawned_at: Option<&'a str>,
}

/// Renders a full report: title line, snippet, goroutine identity, traceback.
pub fn render(rt: &Shared, kind: &str, info: &ErrorInfo, origin: Option<&Origin>) -> String {
    let mut out = String::new();
    let title = format!("{kind}: {}", info.message);
    let snippet = info.location.as_ref().and_then(|(file, line)| {
        let src = source_of(rt, file)?;
        let span = line_span(&src, *line)?;
        Some(snippet(rt.color, &title, file, &src, span, "here"))
    });
    match snippet {
        Some(s) => out.push_str(&s),
        None => {
            out.push_str(&title);
            out.push('\n');
            if let Some((f, l)) = &info.location {
                out.push_str(&format!("  --> {f}:{l}\n"));
            }
        }
    }
    if let Some(o) = origin {
        out.push_str(&format!("  in goroutine {} ({})", o.id, o.name));
        if let Some(at) = o.spawned_at {
            out.push_str(&format!(", started at {at}"));
        }
        out.push('\n');
    }
    if let Some(tb) = &info.traceback {
        let tb = clean_traceback(tb);
        if !tb.is_empty() {
            out.push_str("stack traceback:\n");
            out.push_str(&tb);
            out.push('\n');
        }
    }
    out
}

/// Drops the runtime's own frames (`[C]: in ?` from mlua's call plumbing) from a traceback.
fn clean_traceback(tb: &str) -> String {
    tb.lines()
        .filter(|l| {
            let t = l.trim();
            !t.is_empty() && t != "[C]: in ?"
        })
        .map(|l| format!("  {}", l.trim()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Renders a syntax error: Lua's `file:line: message near 'token'` with the line and a marker at the
/// token's column.
pub fn render_syntax(rt: &Shared, err: &mlua::Error) -> String {
    let text = match err {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        other => flatten(other).0,
    };
    let Some((file, line, message)) = split_location(&text) else {
        return format!("syntax error: {text}\n");
    };
    let title = format!("syntax error: {message}");
    let Some(src) = source_of(rt, &file) else {
        return format!("{title}\n  --> {file}:{line}\n");
    };
    let Some(line_range) = line_span(&src, line) else {
        return format!("{title}\n  --> {file}:{line}\n");
    };
    let span = token_span(&src, line_range.clone(), &message).unwrap_or(line_range);
    snippet(rt.color, &title, &file, &src, span, "here")
}

/// Prints a report to stderr after flushing stdout, so the two appear in order on a terminal.
/// Process-wide: mlua panics with "Lua instance is destroyed" when Rust is called on a Lua state
/// whose handle is gone. vendor/mlua closes states while their handle is alive, so finalizers run
/// at the end can call builtins; should some path still get there, mlua turns the panic into a Lua
/// error, and the default hook would print a backtrace for what is a failed call: one line instead.
pub fn quiet_closing_panics() {
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
        if msg == Some("Lua instance is destroyed") {
            if !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
                emit("solvm: a builtin was called on a Lua state that had already closed; the call failed\n");
            }
            return;
        }
        default(info)
    }));
}

pub fn emit(text: &str) {
    output::flush();
    eprint!("{text}");
}

fn snippet(
    color: bool,
    title: &str,
    file: &str,
    src: &str,
    span: std::ops::Range<usize>,
    label: &str,
) -> String {
    let id = file.to_string();
    let mut buf = Vec::new();
    let config = Config::default()
        .with_color(color)
        .with_index_type(ariadne::IndexType::Byte);
    let report = Report::build(ReportKind::Error, (id.clone(), span.clone()))
        .with_config(config)
        .with_message(title)
        .with_label(
            Label::new((id.clone(), span))
                .with_message(label)
                .with_color(Color::Red),
        )
        .finish();
    if report.write((id, Source::from(src)), &mut buf).is_err() {
        return format!("{title}\n");
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    // ariadne prints "Error: <title>"; our title already says what kind of error it is.
    text.replacen("Error: ", "", 1)
}

fn source_of(rt: &Shared, file: &str) -> Option<String> {
    if let Some(src) = rt.sources.lock().get(file) {
        return Some(String::from_utf8_lossy(src).into_owned());
    }
    let bytes = std::fs::read(file).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

fn line_start(src: &str, line: usize) -> Option<usize> {
    if line == 0 {
        return None;
    }
    let mut start = 0;
    for _ in 1..line {
        start += src[start..].find('\n')? + 1;
    }
    Some(start)
}

/// Byte range of line `line` (1-based) without its leading indentation and newline.
fn line_span(src: &str, line: usize) -> Option<std::ops::Range<usize>> {
    let start = line_start(src, line)?;
    if start > src.len() {
        return None;
    }
    let end = src[start..]
        .find('\n')
        .map(|i| start + i)
        .unwrap_or(src.len());
    let text = &src[start..end];
    let indent = text.len() - text.trim_start().len();
    let trimmed_end = start + text.trim_end().len();
    if start + indent >= trimmed_end {
        return Some(start..end.max(start));
    }
    Some(start + indent..trimmed_end)
}

/// Where the token of `... near 'tok'` sits on the line; `<eof>` marks the end of the line.
fn token_span(
    src: &str,
    line: std::ops::Range<usize>,
    message: &str,
) -> Option<std::ops::Range<usize>> {
    let near = message.rfind("near ")?;
    let tok = message[near + 5..].trim();
    if tok == "<eof>" {
        return Some(line.end.saturating_sub(1)..line.end);
    }
    let tok = tok.strip_prefix('\'').and_then(|t| t.strip_suffix('\''))?;
    let text = &src[line.clone()];
    // Lua reports the line, not the column. The token it stopped at is usually the last whole-token
    // occurrence on the line (earlier ones parsed fine), so prefer that over the first.
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let whole = |i: usize| {
        let before = text[..i].chars().next_back();
        let after = text[i + tok.len()..].chars().next();
        let starts_word = tok.chars().next().is_some_and(is_word);
        let ends_word = tok.chars().next_back().is_some_and(is_word);
        !(starts_word && before.is_some_and(is_word) || ends_word && after.is_some_and(is_word))
    };
    let at = text
        .match_indices(tok)
        .map(|(i, _)| i)
        .filter(|&i| whole(i))
        .last()
        .or_else(|| text.find(tok))?;
    Some(line.start + at..line.start + at + tok.len().max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_split_from_messages() {
        assert_eq!(
            split_location("main.lua:12: boom: bang"),
            Some(("main.lua".into(), 12, "boom: bang".into()))
        );
        assert_eq!(split_location("no location here"), None);
        assert_eq!(split_location("a:b: c"), None);
        assert_eq!(
            split_location("dir/x y.lua:3: attempt to call a nil value"),
            Some((
                "dir/x y.lua".into(),
                3,
                "attempt to call a nil value".into()
            ))
        );
    }

    #[test]
    fn first_lua_frame_skips_c_frames() {
        let tb = "\t[C]: in function 'error'\n\tscript.lua:4: in function 'f'\n\tscript.lua:9: in main chunk";
        assert_eq!(first_lua_frame(tb), Some(("script.lua".into(), 4)));
    }

    #[test]
    fn token_columns() {
        let src = "local x = 1\nprint(x y)\n";
        let line = line_span(src, 2).unwrap();
        let span = token_span(src, line, "')' expected near 'y'").unwrap();
        assert_eq!(&src[span.clone()], "y");
        assert_eq!(span.start - line_start(src, 2).unwrap() + 1, 9);
        // An earlier use of the same name is not the culprit.
        let src = "local b = 1 print(a b)";
        let span = token_span(src, line_span(src, 1).unwrap(), "')' expected near 'b'").unwrap();
        assert_eq!(span.start + 1, 21);
        // Nor is a name that merely contains the token.
        let src = "local ab = 1 print(a b ab2)";
        let span = token_span(src, line_span(src, 1).unwrap(), "')' expected near 'b'").unwrap();
        assert_eq!(span.start + 1, 22);
    }
}
