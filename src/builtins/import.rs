//! `import(name)`: the module system (SPEC §9). Finds a module beside the script, in `modules/` folders
//! or on `package.path`, runs it once per Lua state, caches its value and exposes it as a global. Also
//! teaches Lua's own `require` the same folders, and remembers every module file a state loaded so
//! `--watch` can watch them.

use crate::builtins::net::http_client;
use crate::runtime::{args, ctx, report, state};
use mlua::{Function, Lua, MultiValue, Table, Value as LuaValue};
use std::path::{Component, Path, PathBuf};

/// Registry key of the table of imported modules' values, keyed by resolved absolute path.
const CACHE_KEY: &str = "solvm.import.cache";

/// Per-state bookkeeping kept as mlua app data.
#[derive(Default)]
struct ModuleFiles {
    /// Every module file this state loaded (by `import` or `require`), absolute, first load first.
    loaded: Vec<PathBuf>,
    /// Modules being run right now, outermost first, as (resolved path, path as found): re-entering
    /// one of them is a circular import.
    loading: Vec<(PathBuf, String)>,
}

/// Installs `import`.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    lua.set_app_data(ModuleFiles::default());
    lua.set_named_registry_value(CACHE_KEY, lua.create_table()?)?;
    lua.globals().set("import", lua.create_function(import)?)
}

/// Makes `require` search like `import` (see [`extend_require`]), whether or not `import` is ever
/// looked up: called when the `package` library is opened.
pub fn prepare(lua: &Lua) -> mlua::Result<()> {
    let rt = ctx(lua).rt;
    extend_require(lua, &rt.script_dir, rt.config.watch)
}

/// Every module file this state has loaded so far (by `import` or `require`), as absolute paths, in
/// the order they were first loaded. `--watch` reruns the script when one of them changes.
pub fn loaded_module_paths(lua: &Lua) -> Vec<PathBuf> {
    lua.app_data_ref::<ModuleFiles>()
        .map(|m| m.loaded.clone())
        .unwrap_or_default()
}

/// What an `import` argument asks for.
#[derive(Debug, PartialEq, Eq)]
enum Request {
    /// A module name (`math_stuff`, `lib/strings`, `lib.strings`).
    Module(String),
    /// A file path ending in `.lua`.
    File(String),
    /// An `http://` or `https://` URL.
    Url(String),
}

impl Request {
    fn parse(name: &str) -> Request {
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            Request::Url(name.to_string())
        } else if name.ends_with(".lua") {
            Request::File(name.to_string())
        } else {
            Request::Module(name.to_string())
        }
    }

    /// The global the module's value is stored in: the name's last path component, without `.lua`
    /// (`lib.strings` and `lib/strings` give `strings`; a URL gives its file's base name).
    fn global_name(&self) -> &str {
        match self {
            Request::Module(n) => n.rsplit(['/', '.']).next().unwrap_or(n),
            Request::File(p) | Request::Url(p) => {
                let p = p.split(['?', '#']).next().unwrap_or(p);
                let base = p.rsplit(['/', '\\']).next().unwrap_or(p);
                base.strip_suffix(".lua").unwrap_or(base)
            }
        }
    }
}

/// `dir/rel`, without a leading `./` when `dir` is the working directory, so paths in messages and
/// chunk names read the way the user wrote them.
fn join(dir: &Path, rel: &str) -> PathBuf {
    if dir.as_os_str().is_empty() || dir == Path::new(".") {
        PathBuf::from(rel)
    } else {
        dir.join(rel)
    }
}

/// A path with `.` components dropped, for spotting the same file spelled twice.
fn normalized(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

/// The folders searched before `package.path`: the script's, its `modules/`, and `modules/` in the
/// working directory.
fn search_dirs(script_dir: &Path) -> Vec<PathBuf> {
    vec![
        script_dir.to_path_buf(),
        join(script_dir, "modules"),
        PathBuf::from("modules"),
    ]
}

/// Every file `import(name)` tries, in order: the search folders, then `package.path`'s templates
/// (`?` replaced by the name with dots turned into `/`, as `require` does). Duplicates are dropped.
fn candidate_paths(request: &Request, script_dir: &Path, package_path: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = Vec::new();
    let mut push = |p: PathBuf| {
        if !found.iter().any(|q| normalized(q) == normalized(&p)) {
            found.push(p);
        }
    };
    match request {
        Request::Url(_) => {}
        Request::File(path) => {
            if Path::new(path).is_absolute() {
                push(PathBuf::from(path));
            } else {
                for dir in search_dirs(script_dir) {
                    push(join(&dir, path));
                }
                push(PathBuf::from(path));
            }
        }
        Request::Module(name) => {
            let mut variants = vec![name.clone()];
            let slashed = name.replace('.', "/");
            if slashed != *name {
                variants.push(slashed.clone());
            }
            for dir in search_dirs(script_dir) {
                for v in &variants {
                    push(join(&dir, &format!("{v}.lua")));
                }
                for v in &variants {
                    push(join(&dir, &format!("{v}/init.lua")));
                }
            }
            for template in package_path.split(';').filter(|t| !t.is_empty()) {
                push(PathBuf::from(template.replace('?', &slashed)));
            }
        }
    }
    found
}

/// `module 'nope' not found:` followed by one `no file '…'` line per place searched, as `require`
/// words it.
fn not_found_message(name: &str, searched: &[PathBuf]) -> String {
    let mut msg = format!("module '{name}' not found:");
    for p in searched {
        msg.push_str(&format!("\n\tno file '{}'", p.display()));
    }
    msg
}

/// The `import` builtin.
fn import(lua: &Lua, vals: MultiValue) -> mlua::Result<LuaValue> {
    let arg = args::check_string(lua, &vals, 1, "import")?;
    let name = arg
        .to_str()
        .map_err(|_| args::arg_error(1, "import", "module name is not valid UTF-8"))?
        .to_string();
    if name.is_empty() {
        return Err(args::arg_error(1, "import", "empty module name"));
    }
    let request = Request::parse(&name);
    let value = match &request {
        Request::Url(url) => import_url(lua, &name, url)?,
        Request::Module(_) | Request::File(_) => import_file(lua, &name, &request)?,
    };
    let global = request.global_name();
    if !global.is_empty() {
        lua.globals().set(global, value.clone())?;
    }
    Ok(value)
}

/// `import("https://…")`: the source is fetched once per process (cached in `Shared`, SPEC §9),
/// then run once per state like a file module, with the URL as cache key and chunk name. A failed
/// fetch is an error naming the URL and the status (or the transport failure).
fn import_url(lua: &Lua, name: &str, url: &str) -> mlua::Result<LuaValue> {
    let cache: Table = lua.named_registry_value(CACHE_KEY)?;
    if let Some(value) = cache.get::<Option<LuaValue>>(url)? {
        return Ok(value);
    }
    let rt = ctx(lua).rt;
    let cached = rt.url_modules.lock().get(url).cloned();
    let source = match cached {
        Some(s) => s,
        None => {
            let resp = http_client::perform_from_lua(lua, http_client::Request::get(url))?
                .map_err(|e| {
                    let e = e.strip_prefix("GET ").unwrap_or(&e);
                    mlua::Error::runtime(format!("import: cannot fetch {e}"))
                })?;
            if !(200..300).contains(&resp.status) {
                return Err(mlua::Error::runtime(format!(
                    "import: cannot fetch {url}: status {}",
                    resp.status
                )));
            }
            let source: std::sync::Arc<[u8]> = resp.body.into();
            rt.url_modules
                .lock()
                .insert(url.to_string(), std::sync::Arc::clone(&source));
            source
        }
    };
    let value = run_module(lua, name, Path::new(url), url, &source)?;
    cache.set(url, value.clone())?;
    Ok(value)
}

/// Imports a module or `.lua` path from disk: finds it, then runs it unless this state already did.
fn import_file(lua: &Lua, name: &str, request: &Request) -> mlua::Result<LuaValue> {
    let script_dir = ctx(lua).rt.script_dir.clone();
    let package_path = package_table(lua)
        .and_then(|p| p.get::<Option<String>>("path").ok().flatten())
        .unwrap_or_default();
    let candidates = candidate_paths(request, &script_dir, &package_path);
    let Some(found) = candidates.iter().find(|p| p.is_file()) else {
        return Err(mlua::Error::runtime(not_found_message(name, &candidates)));
    };
    let key = std::fs::canonicalize(found)
        .or_else(|_| std::path::absolute(found))
        .unwrap_or_else(|_| found.clone());
    let cache: Table = lua.named_registry_value(CACHE_KEY)?;
    let key_text = key.to_string_lossy().into_owned();
    if let Some(value) = cache.get::<Option<LuaValue>>(key_text.as_str())? {
        // The same file under another spelling (`lib.strings` after `lib/strings`): let `require`
        // find it under this one too.
        if let Some(loaded) = loaded_table(lua) {
            if loaded.get::<LuaValue>(name)?.is_nil() {
                loaded.set(name, value.clone())?;
            }
        }
        return Ok(value);
    }
    let source = std::fs::read(found).map_err(|e| {
        mlua::Error::runtime(format!(
            "import: cannot read module '{name}' ({}): {}",
            found.display(),
            args::io_error_text(&e)
        ))
    })?;
    record_loaded(lua, &key);
    let value = run_module(lua, name, &key, &found.to_string_lossy(), &source)?;
    cache.set(key_text, value.clone())?;
    Ok(value)
}

/// Compiles and runs one module's source with the importer's globals, as `require` would: the chunk
/// gets `(name, path)` as `...`, and a module that returns nothing yields `true` (or whatever it put
/// in `package.loaded[name]` itself). The value is also stored in `package.loaded[name]`.
fn run_module(
    lua: &Lua,
    name: &str,
    key: &Path,
    shown_path: &str,
    source: &[u8],
) -> mlua::Result<LuaValue> {
    let chunk = lua
        .load(state::strip_shebang(source))
        .set_name(format!("@{shown_path}"))
        .into_function()
        .map_err(|e| syntax_error(name, shown_path, &e))?;
    let chain = {
        let files = lua.app_data_ref::<ModuleFiles>();
        let loading = files.as_ref().map(|f| f.loading.as_slice()).unwrap_or(&[]);
        loading
            .iter()
            .position(|(p, _)| p == key)
            .map(|start| loading[start..].to_vec())
    };
    if let Some(chain) = chain {
        let mut steps: Vec<&str> = chain.iter().map(|(_, shown)| shown.as_str()).collect();
        steps.push(shown_path);
        return Err(mlua::Error::runtime(format!(
            "import: circular import of module '{name}' ({})",
            steps.join(" -> ")
        )));
    }
    if let Some(mut files) = lua.app_data_mut::<ModuleFiles>() {
        files
            .loading
            .push((key.to_path_buf(), shown_path.to_string()));
    }
    let result = chunk.call::<LuaValue>((name, shown_path));
    if let Some(mut files) = lua.app_data_mut::<ModuleFiles>() {
        files.loading.pop();
    }
    let mut value = result?;
    let loaded = loaded_table(lua);
    if value.is_nil() {
        value = loaded
            .as_ref()
            .and_then(|l| l.get::<LuaValue>(name).ok())
            .filter(|v| !v.is_nil())
            .unwrap_or(LuaValue::Boolean(true));
    }
    if let Some(loaded) = loaded {
        loaded.set(name, value.clone())?;
    }
    Ok(value)
}

/// A module that does not parse: `path:line: syntax error in module 'name': <Lua's message>`, keeping
/// the `path:line:` prefix so the report shows the module's offending line.
fn syntax_error(name: &str, shown_path: &str, err: &mlua::Error) -> mlua::Error {
    let text = match err {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        other => other.to_string(),
    };
    let text = match report::split_location(&text) {
        Some((file, line, message)) => {
            format!("{file}:{line}: syntax error in module '{name}': {message}")
        }
        None => format!("{shown_path}: syntax error in module '{name}': {text}"),
    };
    mlua::Error::runtime(text)
}

fn package_table(lua: &Lua) -> Option<Table> {
    lua.globals().get::<Option<Table>>("package").ok().flatten()
}

/// `package.loaded`, shared with `require`.
fn loaded_table(lua: &Lua) -> Option<Table> {
    package_table(lua).and_then(|p| p.get::<Option<Table>>("loaded").ok().flatten())
}

/// Remembers a loaded module file (once) for `--watch` (`require`'s files are seen only with it).
fn record_loaded(lua: &Lua, path: &Path) {
    if let Some(mut files) = lua.app_data_mut::<ModuleFiles>() {
        if !files.loaded.iter().any(|p| p == path) {
            files.loaded.push(path.to_path_buf());
        }
    }
    // `--watch` reruns the script when a module it imported changes.
    crate::runtime::ctx(lua).rt.watch_for_reload(path);
}

/// The `package.path` entries that make `require` search like `import`.
fn require_templates(script_dir: &Path) -> Vec<String> {
    let dir = script_dir.to_string_lossy();
    let mut templates = Vec::new();
    // A `;` or `?` in the folder's name would corrupt the template list; such a folder is only
    // reachable through `import`.
    if !dir.contains([';', '?']) {
        let dir = if dir.is_empty() { "." } else { &dir };
        for t in ["?.lua", "?/init.lua", "modules/?.lua"] {
            templates.push(format!("{dir}/{t}"));
        }
    }
    let cwd_modules = "./modules/?.lua".to_string();
    if !templates.contains(&cwd_modules) {
        templates.push(cwd_modules);
    }
    templates
}

/// Sets `package.path`/`cpath` as Debian's `lua5.4` does (from `LUA_PATH`/`LUA_CPATH` and the
/// system folders), prepends the script's folder and the `modules/` folders to `package.path`, and with `--watch` (`watch`) wraps `require`'s Lua-file searcher so
/// the files it loads are watched too.
fn extend_require(lua: &Lua, script_dir: &Path, watch: bool) -> mlua::Result<()> {
    let Some(package) = package_table(lua) else {
        return Ok(());
    };
    super::stock::set_package_paths(&package)?;
    let old: String = package.get::<Option<String>>("path")?.unwrap_or_default();
    let mut path = require_templates(script_dir).join(";");
    if !old.is_empty() {
        path.push(';');
        path.push_str(&old);
    }
    package.set("path", path)?;
    if !watch {
        return Ok(());
    }
    let Some(searchers) = package.get::<Option<Table>>("searchers")? else {
        return Ok(());
    };
    let Some(lua_searcher) = searchers.get::<Option<Function>>(2)? else {
        return Ok(());
    };
    let recording = lua.create_function(move |lua, vals: MultiValue| {
        let found = lua_searcher.call::<MultiValue>(vals)?;
        if let (Some(LuaValue::Function(_)), Some(LuaValue::String(file))) =
            (found.front(), found.get(1))
        {
            let file = PathBuf::from(file.to_string_lossy());
            let file = std::fs::canonicalize(&file).unwrap_or(file);
            record_loaded(lua, &file);
        }
        Ok(found)
    })?;
    searchers.set(2, recording)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(request: &Request, dir: &str, package_path: &str) -> Vec<String> {
        candidate_paths(request, Path::new(dir), package_path)
            .iter()
            .map(|p| p.display().to_string())
            .collect()
    }

    #[test]
    fn parses_requests() {
        assert_eq!(
            Request::parse("math_stuff"),
            Request::Module("math_stuff".into())
        );
        assert_eq!(
            Request::parse("lib/x.lua"),
            Request::File("lib/x.lua".into())
        );
        assert_eq!(
            Request::parse("HTTPS://e.com/a.lua"),
            Request::Url("HTTPS://e.com/a.lua".into())
        );
    }

    #[test]
    fn global_name_is_last_component() {
        assert_eq!(Request::parse("math_stuff").global_name(), "math_stuff");
        assert_eq!(Request::parse("lib/strings").global_name(), "strings");
        assert_eq!(Request::parse("lib.strings").global_name(), "strings");
        assert_eq!(Request::parse("modules/x/y.lua").global_name(), "y");
        assert_eq!(
            Request::parse("https://raw.example.com/u/r/main/cool_utils.lua?x=1").global_name(),
            "cool_utils"
        );
    }

    #[test]
    fn plain_name_searches_script_dir_then_modules_then_package_path() {
        assert_eq!(
            paths(
                &Request::parse("m"),
                "proj",
                "/usr/share/lua/5.4/?.lua;./?.lua"
            ),
            [
                "proj/m.lua",
                "proj/m/init.lua",
                "proj/modules/m.lua",
                "proj/modules/m/init.lua",
                "modules/m.lua",
                "modules/m/init.lua",
                "/usr/share/lua/5.4/m.lua",
                "./m.lua",
            ]
        );
    }

    #[test]
    fn script_dir_dot_gives_bare_paths_without_duplicates() {
        assert_eq!(
            paths(
                &Request::parse("m"),
                ".",
                "./?.lua;./modules/?.lua;/x/?.lua"
            ),
            [
                "m.lua",
                "m/init.lua",
                "modules/m.lua",
                "modules/m/init.lua",
                "/x/m.lua"
            ]
        );
    }

    #[test]
    fn dotted_name_also_tries_slashes() {
        assert_eq!(
            paths(&Request::parse("lib.strings"), "d", "/p/?.lua"),
            [
                "d/lib.strings.lua",
                "d/lib/strings.lua",
                "d/lib.strings/init.lua",
                "d/lib/strings/init.lua",
                "d/modules/lib.strings.lua",
                "d/modules/lib/strings.lua",
                "d/modules/lib.strings/init.lua",
                "d/modules/lib/strings/init.lua",
                "modules/lib.strings.lua",
                "modules/lib/strings.lua",
                "modules/lib.strings/init.lua",
                "modules/lib/strings/init.lua",
                "/p/lib/strings.lua",
            ]
        );
    }

    #[test]
    fn lua_path_is_searched_in_folders_then_cwd() {
        assert_eq!(
            paths(&Request::parse("lib/x.lua"), "d", "/p/?.lua"),
            [
                "d/lib/x.lua",
                "d/modules/lib/x.lua",
                "modules/lib/x.lua",
                "lib/x.lua"
            ]
        );
        assert_eq!(
            paths(&Request::parse("/abs/x.lua"), "d", "/p/?.lua"),
            ["/abs/x.lua"]
        );
    }

    #[test]
    fn not_found_lists_every_place() {
        let msg = not_found_message("nope", &[PathBuf::from("a/nope.lua"), PathBuf::from("b")]);
        assert_eq!(
            msg,
            "module 'nope' not found:\n\tno file 'a/nope.lua'\n\tno file 'b'"
        );
    }

    /// A real state whose script folder is not the working directory: `import` and `require` find
    /// modules there, run them once, and (under `--watch`) both record the files.
    #[test]
    fn state_imports_from_script_dir_and_records_files() {
        use crate::config::Config;
        use crate::runtime::{state::GoState, Shared};
        let dir = std::env::temp_dir().join(format!("solvm-import-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("modules")).unwrap();
        std::fs::write(
            dir.join("modules/counter.lua"),
            "runs = (runs or 0) + 1\nreturn { runs = runs }\n",
        )
        .unwrap();
        std::fs::write(dir.join("plain.lua"), "return 'plain'\n").unwrap();
        let config = Config {
            watch: true,
            ..Config::default()
        };
        let rt = Shared::new(config, dir.clone());
        let state = GoState::new(&rt, rt.next_goroutine_id()).unwrap();
        let (runs, same, plain, path): (i64, bool, String, String) = state
            .lua
            .load(
                "local a = import('counter')
                 local b = import('counter')
                 return runs, rawequal(a, b) and rawequal(require('counter'), a),
                        require('plain'), package.path",
            )
            .eval()
            .unwrap();
        assert_eq!((runs, same, plain.as_str()), (1, true, "plain"));
        assert!(
            path.starts_with(&format!("{}/?.lua;", dir.display())),
            "{path}"
        );
        let canonical = |p: &str| std::fs::canonicalize(dir.join(p)).unwrap();
        assert_eq!(
            loaded_module_paths(&state.lua),
            [canonical("modules/counter.lua"), canonical("plain.lua")]
        );
        drop(state);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn require_templates_cover_script_dir_and_modules() {
        assert_eq!(
            require_templates(Path::new("ex")),
            [
                "ex/?.lua",
                "ex/?/init.lua",
                "ex/modules/?.lua",
                "./modules/?.lua"
            ]
        );
        assert_eq!(
            require_templates(Path::new(".")),
            ["./?.lua", "./?/init.lua", "./modules/?.lua"]
        );
    }
}
