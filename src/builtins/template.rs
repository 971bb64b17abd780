//! `template` (SPEC §14): Jinja templates through minijinja (a well-kept engine; no hand-written
//! one). A parsed template is a callable object that crosses goroutines by reference, so a server
//! handler can render templates parsed at the top of the script. HTML auto-escaping for `.html`,
//! `.htm` and `.xml` files and `{html = true}`; `parse_files`/`parse_glob` load includes and
//! layouts (named by file name). Lua data is converted once per render: arrays become lists, other
//! tables maps. Errors name the template, line and column.

use super::catalog::{self, f, m};
use super::support::{method_table, multi, this, Method};
use crate::runtime::args::{bad_argument, check_string, io_error_text, nil_err};
use crate::runtime::value::{self, SharedHandle};
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value as JValue};
use mlua::{Lua, MultiValue, Table, UserData, Value as LuaValue};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The template family's catalog rows.
pub const CATALOG: &[catalog::Builtin] = &[
    catalog::table("template", "Jinja templates (minijinja): auto-escaped HTML, includes and layouts."),
    f("template.parse", &["source: string", "opts?: TemplateOptions"], &["Template"], "Parses a template; call the result with the data to render it."),
    f("template.parse_file", &["path: string", "opts?: TemplateOptions"], &["Template?", "string?"], "Parses a file (HTML-escaped when it ends in `.html`); `nil, err` if it cannot be read."),
    f("template.parse_files", &["path: string", "...: string"], &["Template?", "string?"], "Parses files; the first is rendered, the others are includes and layouts (by file name)."),
    f("template.parse_glob", &["pattern: string"], &["Template?", "string?"], "Parses the files matching `pattern` (`*`, `?`, `[...]`); the first in name order is rendered."),
    f("template.render", &["source: string", "data?: table", "opts?: TemplateOptions"], &["string"], "Parses and renders at once."),
    m("Template:render", &["data?: table"], &["string"], "Renders with `data` (also `tpl(data)`)."),
];

/// The template family's classes.
pub const CLASSES: &[catalog::Class] = &[
    catalog::Class {
        name: "Template",
        doc: "A parsed template: `tpl(data)` or `tpl:render(data)` → string. Crosses goroutines.",
        fields: &[(
            "name",
            "string",
            "The name errors use (the file name for files).",
        )],
    },
    catalog::Class {
        name: "TemplateOptions",
        doc: "Options of `template.parse`.",
        fields: &[
            (
                "html",
                "boolean?",
                "HTML auto-escaping (default: on for `.html`, `.htm`, `.xml` names).",
            ),
            (
                "name",
                "string?",
                "The name errors use (default `template`).",
            ),
            (
                "strict",
                "boolean?",
                "Undefined variables are errors instead of empty.",
            ),
        ],
    },
];

/// The methods of a `Template`.
pub const METHODS: &[(&str, Method)] = &[("render", tpl_render)];

/// Deepest nesting of Lua data a render converts (cycles end here too).
const MAX_DATA_DEPTH: usize = 128;

/// A parsed template set and the one to render.
struct Parsed {
    env: Environment<'static>,
    /// Sources by name, for error columns.
    sources: HashMap<String, Arc<str>>,
    main: String,
}

/// A parsed template as a Lua value; crosses goroutines by reference.
#[derive(Clone)]
pub struct Template(Arc<Parsed>);

impl SharedHandle for Template {
    fn kind(&self) -> &'static str {
        "template"
    }
    fn push(&self, lua: &Lua) -> mlua::Result<LuaValue> {
        value::register_handle_type::<Template>(lua);
        Ok(LuaValue::UserData(lua.create_userdata(self.clone())?))
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl UserData for Template {
    fn add_methods<M: mlua::UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_function(
            mlua::MetaMethod::Index,
            |lua, (ud, key): (mlua::AnyUserData, LuaValue)| {
                if let LuaValue::String(k) = &key {
                    if k.as_bytes().as_ref() == b"name" {
                        let t = ud.borrow::<Template>()?;
                        return Ok(LuaValue::String(lua.create_string(&t.0.main)?));
                    }
                }
                method_table(lua, "Template", METHODS)?.raw_get::<LuaValue>(key)
            },
        );
        m.add_meta_method(mlua::MetaMethod::ToString, |_, this, ()| {
            Ok(format!("template: {}", this.0.main))
        });
    }
    fn add_fields<F: mlua::UserDataFields<Self>>(fields: &mut F) {
        fields.add_meta_field("__name", "Template");
        // The wrapped `render`, so a call's errors read like Lua's own.
        fields.add_meta_field_with("__call", |lua| {
            method_table(lua, "Template", METHODS)?.raw_get::<mlua::Function>("render")
        });
    }
}

/// Installs the `template` table.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    value::register_handle_type::<Template>(lua);
    let t = lua.create_table()?;
    t.raw_set("parse", lua.create_function(parse)?)?;
    t.raw_set("parse_file", lua.create_function(parse_file)?)?;
    t.raw_set("parse_files", lua.create_function(parse_files)?)?;
    t.raw_set("parse_glob", lua.create_function(parse_glob)?)?;
    t.raw_set("render", lua.create_function(render_source)?)?;
    lua.globals().set("template", t)
}

/// `template.parse`'s options.
#[derive(Default)]
struct Options {
    html: Option<bool>,
    name: Option<String>,
    strict: bool,
}

fn options(args: &MultiValue, pos: usize, func: &str) -> mlua::Result<Options> {
    let t = match args.get(pos - 1) {
        None | Some(LuaValue::Nil) => return Ok(Options::default()),
        Some(LuaValue::Table(t)) => t,
        other => return Err(bad_argument(pos, func, "table", other)),
    };
    Ok(Options {
        html: t.get::<Option<bool>>("html")?,
        name: t.get::<Option<String>>("name")?,
        strict: t.get::<Option<bool>>("strict")?.unwrap_or(false),
    })
}

/// Parses `(name, source)` pairs into one environment; the first is the one rendered.
fn build(files: Vec<(String, String)>, opts: &Options) -> Result<Template, String> {
    let mut env = Environment::new();
    let html = opts.html;
    env.set_auto_escape_callback(move |name| {
        let by_name = matches!(
            name.rsplit('.').next().unwrap_or(""),
            "html" | "htm" | "xml"
        );
        if html.unwrap_or(by_name) {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.set_keep_trailing_newline(true);
    if opts.strict {
        env.set_undefined_behavior(UndefinedBehavior::Strict);
    }
    let main = files.first().map(|(n, _)| n.clone()).unwrap_or_default();
    let mut sources = HashMap::new();
    for (name, source) in files {
        let source: Arc<str> = source.into();
        sources.insert(name.clone(), Arc::clone(&source));
        env.add_template_owned(name, source.to_string())
            .map_err(|e| describe(&e, &sources))?;
    }
    Ok(Template(Arc::new(Parsed { env, sources, main })))
}

/// `template error in page.html at line 3, column 7: unknown filter`.
fn describe(err: &minijinja::Error, sources: &HashMap<String, Arc<str>>) -> String {
    // An error inside an include is the cause of the one the outer template reports.
    let mut inner: &dyn std::error::Error = err;
    let mut deepest = err;
    while let Some(next) = inner.source() {
        if let Some(e) = next.downcast_ref::<minijinja::Error>() {
            if e.line().is_some() {
                deepest = e;
            }
        }
        inner = next;
    }
    let name = deepest.name().unwrap_or("template");
    let detail = match deepest.detail() {
        Some(d) => format!("{}: {d}", deepest.kind()),
        None => deepest.kind().to_string(),
    };
    let column = deepest.range().and_then(|r| {
        let src = sources.get(name)?;
        let before = src.get(..r.start)?;
        Some(before.rsplit('\n').next().unwrap_or(before).chars().count() + 1)
    });
    match (deepest.line(), column) {
        (Some(l), Some(c)) => format!("template error in {name} at line {l}, column {c}: {detail}"),
        (Some(l), None) => format!("template error in {name} at line {l}: {detail}"),
        _ => format!("template error in {name}: {detail}"),
    }
}

fn push(lua: &Lua, t: Template) -> mlua::Result<MultiValue> {
    Ok(multi([LuaValue::UserData(lua.create_userdata(t)?)]))
}

fn parse(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let source = check_string(lua, &args, 1, "parse")?.to_string_lossy();
    let opts = options(&args, 2, "parse")?;
    let name = opts.name.clone().unwrap_or_else(|| "template".into());
    let t = build(vec![(name, source)], &opts).map_err(mlua::Error::runtime)?;
    push(lua, t)
}

fn render_source(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let source = check_string(lua, &args, 1, "render")?.to_string_lossy();
    let data = args.get(1).cloned().unwrap_or(LuaValue::Nil);
    let opts = options(&args, 3, "render")?;
    let name = opts.name.clone().unwrap_or_else(|| "template".into());
    let t = build(vec![(name, source)], &opts).map_err(mlua::Error::runtime)?;
    render(lua, &t, &data)
}

/// Reads the files and names each by its file name; `Err` is the `nil, err` message.
fn read_files(paths: &[PathBuf]) -> Result<Vec<(String, String)>, String> {
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read(p)
                .map_err(|e| format!("open {}: {}", p.display(), io_error_text(&e)))?;
            let name = p.file_name().map_or_else(
                || p.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            Ok((name, String::from_utf8_lossy(&text).into_owned()))
        })
        .collect()
}

fn from_files(lua: &Lua, paths: &[PathBuf], opts: &Options) -> mlua::Result<MultiValue> {
    match read_files(paths) {
        Ok(files) => push(lua, build(files, opts).map_err(mlua::Error::runtime)?),
        Err(e) => nil_err(lua, e),
    }
}

fn parse_file(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let path = check_string(lua, &args, 1, "parse_file")?.to_string_lossy();
    let opts = options(&args, 2, "parse_file")?;
    from_files(lua, &[PathBuf::from(path)], &opts)
}

fn parse_files(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let mut paths = Vec::new();
    for i in 1..=args.len().max(1) {
        paths.push(PathBuf::from(
            check_string(lua, &args, i, "parse_files")?.to_string_lossy(),
        ));
    }
    from_files(lua, &paths, &Options::default())
}

fn parse_glob(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let pattern = check_string(lua, &args, 1, "parse_glob")?.to_string_lossy();
    let mut paths = glob(&pattern);
    paths.sort();
    if paths.is_empty() {
        return nil_err(
            lua,
            format!("template: pattern matches no files: `{pattern}`"),
        );
    }
    from_files(lua, &paths, &Options::default())
}

/// The files matching `pattern` (`*`, `?`, `[...]` within one path component, as Go's
/// `filepath.Glob`).
fn glob(pattern: &str) -> Vec<PathBuf> {
    let absolute = pattern.starts_with('/');
    let mut found = vec![if absolute {
        PathBuf::from("/")
    } else {
        PathBuf::new()
    }];
    for part in pattern.split('/').filter(|p| !p.is_empty()) {
        let mut next = Vec::new();
        for dir in &found {
            if !part.contains(['*', '?', '[']) {
                next.push(dir.join(part));
                continue;
            }
            let listed = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir.as_path()
            };
            let Ok(entries) = std::fs::read_dir(listed) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if (part.starts_with('.') || !name.starts_with('.'))
                    && wildcard(part.as_bytes(), name.as_bytes())
                {
                    next.push(dir.join(&name));
                }
            }
        }
        found = next;
    }
    found.into_iter().filter(|p| p.is_file()).collect()
}

/// Whether `name` matches the wildcard `pat` (`*`, `?`, `[abc]`, `[a-z]`, `[^a]`). Iterative with
/// one backtrack point, so it is linear in practice and never recursive.
fn wildcard(pat: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        let step = match pat.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
                continue;
            }
            Some(b'?') => Some(p + 1),
            Some(b'[') => class(&pat[p..], name[n]).map(|len| p + len),
            Some(&c) if c == name[n] => Some(p + 1),
            _ => None,
        };
        match step {
            Some(next) => {
                p = next;
                n += 1;
            }
            None => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// Matches `c` against the class at the start of `pat`; the class's length when it matches.
fn class(pat: &[u8], c: u8) -> Option<usize> {
    let end = pat.iter().skip(1).position(|&b| b == b']')? + 1;
    let body = &pat[1..end];
    let (negate, body) = match body.first() {
        Some(b'^' | b'!') => (true, &body[1..]),
        _ => (false, body),
    };
    let mut hit = false;
    let mut i = 0;
    while i < body.len() {
        if i + 2 < body.len() && body[i + 1] == b'-' {
            hit |= (body[i]..=body[i + 2]).contains(&c);
            i += 3;
        } else {
            hit |= body[i] == c;
            i += 1;
        }
    }
    (hit != negate).then_some(end + 1)
}

fn tpl_render(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let t = this::<Template>(&args, "render", "Template")?;
    let data = args.get(1).cloned().unwrap_or(LuaValue::Nil);
    render(lua, &t, &data)
}

fn render(lua: &Lua, t: &Template, data: &LuaValue) -> mlua::Result<MultiValue> {
    let ctx = match data {
        LuaValue::Nil => JValue::from(()),
        LuaValue::Table(table) => to_value(table, 0)?,
        other => return Err(bad_argument(2, "render", "table", other)),
    };
    let tmpl =
        t.0.env
            .get_template(&t.0.main)
            .map_err(|e| mlua::Error::runtime(describe(&e, &t.0.sources)))?;
    match tmpl.render(ctx) {
        Ok(s) => Ok(multi([LuaValue::String(lua.create_string(s)?)])),
        Err(e) => Err(mlua::Error::runtime(describe(&e, &t.0.sources))),
    }
}

/// A Lua value as template data: a table whose keys are exactly `1..#t` is a list, any other a
/// map with string keys; functions and other userdata are left out.
fn lua_to_value(v: &LuaValue, depth: usize) -> mlua::Result<Option<JValue>> {
    Ok(Some(match v {
        LuaValue::Nil => JValue::from(()),
        LuaValue::Boolean(b) => JValue::from(*b),
        LuaValue::Integer(i) => JValue::from(*i),
        LuaValue::Number(n) => JValue::from(*n),
        LuaValue::String(s) => JValue::from(s.to_string_lossy()),
        LuaValue::LightUserData(p) if p.0.is_null() => JValue::from(()),
        LuaValue::Table(t) => to_value(t, depth + 1)?,
        _ => return Ok(None),
    }))
}

fn to_value(t: &Table, depth: usize) -> mlua::Result<JValue> {
    if depth > MAX_DATA_DEPTH {
        return Err(mlua::Error::runtime(format!(
            "render: the data is nested more than {MAX_DATA_DEPTH} levels deep (or contains itself)"
        )));
    }
    let n = t.raw_len();
    let mut count = 0usize;
    t.for_each(|_: LuaValue, _: LuaValue| {
        count += 1;
        Ok(())
    })?;
    if n > 0 && count == n {
        let mut items = Vec::with_capacity(n);
        for i in 1..=n {
            let v: LuaValue = t.raw_get(i)?;
            items.push(lua_to_value(&v, depth)?.unwrap_or(JValue::from(())));
        }
        return Ok(JValue::from(items));
    }
    let mut entries: Vec<(String, JValue)> = Vec::with_capacity(count);
    let mut failed = None;
    t.for_each(|k: LuaValue, v: LuaValue| {
        let key = match &k {
            LuaValue::String(s) => s.to_string_lossy(),
            LuaValue::Integer(i) => i.to_string(),
            LuaValue::Number(x) => x.to_string(),
            LuaValue::Boolean(b) => b.to_string(),
            _ => return Ok(()),
        };
        match lua_to_value(&v, depth) {
            Ok(Some(v)) => entries.push((key, v)),
            Ok(None) => {}
            Err(e) => failed = Some(e),
        }
        Ok(())
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    Ok(JValue::from_iter(entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard(b"*.html", b"index.html"));
        assert!(!wildcard(b"*.html", b"index.htm"));
        assert!(wildcard(b"pa?e[0-9].t*", b"page7.txt"));
        assert!(!wildcard(b"[^a]*", b"abc"));
        assert!(wildcard(b"*a*a*a*", b"banana aaa"));
        assert!(!wildcard(b"*a*b", &[b'a'; 5000]));
    }

    #[test]
    fn errors_name_template_line_and_column() {
        let err = build(
            vec![("page.html".into(), "ok\n  {% for %}".into())],
            &Options::default(),
        )
        .err()
        .unwrap_or_default();
        assert!(
            err.starts_with("template error in page.html at line 2, column"),
            "{err}"
        );
    }
}
