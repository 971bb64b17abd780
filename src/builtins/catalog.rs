//! The one table of every builtin a script sees (globals, fields of builtin tables, methods of the
//! objects builtins return), with LuaLS types and a one-line doc. `solvm --types` turns it into a
//! `---@meta` definition file for editors; a test checks it against what `register_all` installs.

use std::fmt::Write as _;
use std::path::Path;

/// What a catalog entry describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A function: a global (`send`) or a field of a table (`store.get`, `os.exit`).
    Function,
    /// A method of an object class (`Channel:send`).
    Method,
    /// A global table holding builtin functions (`store`).
    Table,
    /// A global value that is not a function (`json_null`); `returns[0]` is its type.
    Value,
}

/// One builtin.
#[derive(Debug)]
pub struct Builtin {
    /// `send`, `store.get` or `Channel:send`.
    pub name: &'static str,
    pub kind: Kind,
    /// `name: type`; a `?` after the name marks an optional parameter, `...` varargs.
    pub params: &'static [&'static str],
    /// LuaLS return annotations: `type [name] [# comment]`.
    pub returns: &'static [&'static str],
    /// Other call shapes, as LuaLS `fun(...)` types.
    pub overloads: &'static [&'static str],
    pub doc: &'static str,
}

/// An object type builtins hand out or take (for `---@class`).
pub struct Class {
    pub name: &'static str,
    pub doc: &'static str,
    /// `(name, type, doc)`.
    pub fields: &'static [(&'static str, &'static str, &'static str)],
}

/// Stock functions the runtime replaces with versions that behave exactly like Lua's own (so the
/// interrupt hook can reach coroutines; so `_G` looks complete while builtins are installed on first
/// use, see `runtime::lazy`); they are not SolVM builtins and get no definition.
pub const TRANSPARENT: &[&str] = &[
    "coroutine.resume",
    "coroutine.wrap",
    "rawget",
    "rawset",
    "next",
    "getmetatable",
    "setmetatable",
    "debug.getmetatable",
    "debug.setmetatable",
];

/// A function row (for a family's own catalog rows too).
pub const fn f(
    name: &'static str,
    params: &'static [&'static str],
    returns: &'static [&'static str],
    doc: &'static str,
) -> Builtin {
    Builtin {
        name,
        kind: Kind::Function,
        params,
        returns,
        overloads: &[],
        doc,
    }
}

/// A method row: `name` is `Class:method`.
pub const fn m(
    name: &'static str,
    params: &'static [&'static str],
    returns: &'static [&'static str],
    doc: &'static str,
) -> Builtin {
    Builtin {
        name,
        kind: Kind::Method,
        params,
        returns,
        overloads: &[],
        doc,
    }
}

/// `b` with other call shapes.
pub const fn ov(mut b: Builtin, overloads: &'static [&'static str]) -> Builtin {
    b.overloads = overloads;
    b
}

/// A global value that is not a function.
pub const fn value(name: &'static str, ty: &'static [&'static str], doc: &'static str) -> Builtin {
    Builtin {
        name,
        kind: Kind::Value,
        params: &[],
        returns: ty,
        overloads: &[],
        doc,
    }
}

/// A global table of builtin functions.
pub const fn table(name: &'static str, doc: &'static str) -> Builtin {
    Builtin {
        name,
        kind: Kind::Table,
        params: &[],
        returns: &[],
        overloads: &[],
        doc,
    }
}

/// Every class that appears in a signature below.
/// The classes of the core families; a family added later lists its own in its `Family` row
/// (`builtins::FAMILIES`), see [`classes`].
pub const CLASSES: &[Class] = &[
    Class {
        name: "Channel",
        doc: "A channel; also usable by name. `#ch` is the number of buffered values.",
        fields: &[],
    },
    Class {
        name: "TcpConn",
        doc: "A TCP connection; `conn.read()` and `conn:read()` both work. Crosses goroutines.",
        fields: &[
            ("remote_addr", "string", "The peer's `host:port`."),
            ("local_addr", "string", "This end's `host:port`."),
        ],
    },
    Class {
        name: "WebSocket",
        doc: "A WebSocket connection (client from `ws_connect`, or a server handler's `ws`); `ws.send(x)` and `ws:send(x)` both work.",
        fields: &[
            ("remote_addr", "string", "The peer's address."),
            (
                "path",
                "string",
                "The request path (a client: the path of its URL).",
            ),
            (
                "params",
                "table<string, string>",
                "Values bound by `{name}` in the handler's path (empty on a client).",
            ),
        ],
    },
    Class {
        name: "HttpResponse",
        doc: "An HTTP response; any status is a normal response.",
        fields: &[
            ("status", "integer", "The status code."),
            ("body", "string", "The body."),
            (
                "headers",
                "table<string, string>",
                "Headers, lower-case names.",
            ),
        ],
    },
    Class {
        name: "HttpOptions",
        doc: "Options of `http_request`.",
        fields: &[
            ("timeout", "number?", "Seconds for the whole exchange."),
            (
                "follow_redirects",
                "boolean?",
                "Follow up to ten redirects.",
            ),
            ("insecure", "boolean?", "Skip certificate verification."),
            (
                "ca_file",
                "string?",
                "PEM file of trust anchors to use instead of the built-in roots.",
            ),
        ],
    },
    Class {
        name: "FileStat",
        doc: "What `stat` and `list_dir` report about a file.",
        fields: &[
            ("name", "string?", "The entry's name (`list_dir` only)."),
            ("size", "integer", "Size in bytes."),
            ("is_dir", "boolean", "A directory."),
            ("is_file", "boolean", "A regular file."),
            ("mode", "string", "Permissions like `-rw-r--r--`."),
            ("mod_time", "integer", "Last change, Unix seconds."),
        ],
    },
    Class {
        name: "Datagram",
        doc: "A UDP datagram received by `udp_recvfrom`'s channel.",
        fields: &[
            ("data", "string", "The payload."),
            ("addr", "string", "The sender's address."),
            ("port", "integer", "The sender's port."),
        ],
    },
    Class {
        name: "MemoryStats",
        doc: "What `check_memory` measures; diffs are against the previous call.",
        fields: &[
            ("alloc_diff", "integer", "Change in live heap bytes."),
            (
                "total_alloc_diff",
                "integer",
                "Bytes allocated since the last call.",
            ),
            ("sys_diff", "integer", "Change in resident size."),
            ("goroutines", "integer", "Live goroutines."),
            ("lua_bytes", "integer", "This state's Lua memory."),
            ("rss_bytes", "integer", "The process's resident size."),
            ("alloc_bytes", "integer", "Live heap bytes."),
            (
                "total_alloc_bytes",
                "integer",
                "Bytes allocated since start.",
            ),
        ],
    },
    Class {
        name: "ErrorInfo",
        doc: "Details `on_error` handlers receive.",
        fields: &[
            ("goroutine", "integer", "Id of the goroutine that failed."),
            ("name", "string", "Its name."),
            ("message", "string", "The error message."),
            ("file", "string?", "Where it was raised."),
            ("line", "integer?", "Line it was raised at."),
            ("traceback", "string?", "The stack traceback."),
        ],
    },
    Class {
        name: "JsonOptions",
        doc: "Options of `json_encode`.",
        fields: &[("indent", "integer?", "Pretty-print with this many spaces.")],
    },
    Class {
        name: "ServerOptions",
        doc: "Options of `create_server`.",
        fields: &[
            ("port", "integer", "Port to listen on (0 = any free port)."),
            ("host", "string?", "Address to bind (default `0.0.0.0`)."),
            ("https", "boolean?", "Serve TLS."),
            ("cert", "string?", "PEM certificate file."),
            ("key", "string?", "PEM private key file."),
            (
                "max_body",
                "integer?",
                "Largest request body in bytes (default 8 MiB).",
            ),
            (
                "workers",
                "integer?",
                "Worker threads kept to run handlers (default 2 × cores; more start while handlers block).",
            ),
            (
                "max_connections",
                "integer?",
                "Open connections at most (default 10 000); beyond it the longest idle one is closed, else 503.",
            ),
            (
                "idle_timeout",
                "number?",
                "Seconds a keep-alive connection may sit idle (default 30).",
            ),
            (
                "request_timeout",
                "number?",
                "Seconds a client has to send a whole request head and body (default 30).",
            ),
            (
                "handler_timeout",
                "number?",
                "Seconds a handler may run before the client gets 503 (default: `--timeout`; 0 = none).",
            ),
        ],
    },
    Class {
        name: "Request",
        doc: "An HTTP request as a handler sees it.",
        fields: &[
            ("method", "string", "`GET`, `POST`, ..."),
            ("path", "string", "The clean, decoded path, without the query."),
            ("raw_path", "string", "The path as the client sent it (still percent-encoded)."),
            ("query", "string", "The raw query string after `?`."),
            (
                "query_params",
                "table<string, string>",
                "The decoded query.",
            ),
            (
                "headers",
                "table<string, string>",
                "Headers, lower-case names.",
            ),
            ("body", "string", "The body."),
            (
                "params",
                "table<string, string>",
                "Values bound by `{name}` in the pattern.",
            ),
            ("remote_addr", "string", "The client's address."),
        ],
    },
    Class {
        name: "Response",
        doc: "What a handler may return as a table.",
        fields: &[
            ("status", "integer?", "Status code (default 200)."),
            ("headers", "table<string, string>?", "Response headers."),
            (
                "body",
                "string|table?",
                "The body; a table is sent as JSON.",
            ),
        ],
    },
];

/// Every class: [`CLASSES`], then those of each family's `Family` row.
pub fn classes() -> impl Iterator<Item = &'static Class> {
    CLASSES
        .iter()
        .chain(crate::builtins::FAMILIES.iter().flat_map(|f| f.classes))
}

/// Every builtin: [`BUILTINS`], then the rows of each family's `Family` row.
pub fn builtins() -> impl Iterator<Item = &'static Builtin> {
    BUILTINS
        .iter()
        .chain(crate::builtins::FAMILIES.iter().flat_map(|f| f.builtins))
}

/// The builtins of the core families, family by family; a family added later keeps its rows in
/// its own module and names them in its `Family` row, see [`builtins`].
pub const BUILTINS: &[Builtin] = &[
    // Core: stock functions SolVM changes, and the everyday additions.
    f("print", &["...: any"], &[], "Prints its arguments tab-separated; a line is never interleaved with another goroutine's."),
    f("sleep", &["seconds: number"], &[], "Blocks this goroutine for `seconds` (fractions allowed); its timers still fire."),
    f("trace", &["message?: string"], &[], "Prints this goroutine's call stack to stderr."),
    f("on_error", &["handler: fun(message: string, info: ErrorInfo)|nil"], &[], "Receives the uncaught errors of every goroutine, handler and callback; `nil` removes it."),
    f("reload_script", &[], &["boolean # false when the new version does not compile"], "Restarts the run from the script on disk; a syntax error keeps the current run."),
    f("os.exit", &["code?: integer|boolean", "close?: boolean"], &[], "Ends the process at once from any goroutine, as stock Lua's (output flushed; uncatchable); `close` closes this goroutine's state first, so its `<close>` variables and finalizers run."),
    // Channels.
    ov(f("chan", &["name?: string", "size?: integer"], &["Channel"], "A channel: named (shared registry) or anonymous; size 0 is an unbuffered rendezvous."), &["fun(size?: integer): Channel"]),
    f("send", &["ch: string|Channel", "value: any", "timeout?: number"], &["boolean # false on timeout"], "Sends a value, blocking while the buffer is full; an error on a closed channel."),
    f("receive", &["ch: string|Channel", "timeout?: number"], &["any value", "boolean ok # false once closed and drained", "string? timeout # \"timeout\" when it expired"], "Receives the next value, blocking until one comes."),
    f("try_receive", &["ch: string|Channel"], &["any value", "boolean ok"], "Receives a value if one is ready, never blocking."),
    f("close", &["ch: string|Channel"], &[], "Closes a channel; receivers drain what is buffered. Closing twice is an error."),
    ov(f("select", &["...: string|Channel|number"], &["any value", "string|Channel? channel", "boolean ok"], "Waits for the first channel with a value (last argument: optional timeout); with a number or \"#\" first it is Lua's `select`."), &["fun(n: integer|'#', ...: any): any"]),
    m("Channel:send", &["value: any", "timeout?: number"], &["boolean"], "Same as `send(ch, value, timeout)`."),
    m("Channel:receive", &["timeout?: number"], &["any value", "boolean ok", "string? timeout"], "Same as `receive(ch, timeout)`."),
    m("Channel:try_receive", &[], &["any value", "boolean ok"], "Same as `try_receive(ch)`."),
    m("Channel:close", &[], &[], "Same as `close(ch)`."),
    m("Channel:cap", &[], &["integer"], "The buffer size."),
    m("Channel:len", &[], &["integer"], "Values buffered now (also `#ch`)."),
    m("Channel:name", &[], &["string?"], "The channel's name; nil for an anonymous one."),
    m("Channel:is_closed", &[], &["boolean"], "Whether the channel was closed."),
    // Goroutines and monitoring.
    f("go", &["fn: function", "...: any"], &["integer id"], "Runs `fn(...)` on a new goroutine with its own Lua state; arguments are copied."),
    f("wait", &[], &[], "Waits until every goroutine started by this one (transitively) has finished."),
    f("get_goroutines", &[], &["table<integer, string>"], "The live goroutines: id to name."),
    f("check_memory", &[], &["MemoryStats"], "Memory measurements, with diffs against the previous call."),
    // The shared store.
    table("store", "One key/value store shared by every goroutine and server worker."),
    f("store.get", &["key: string"], &["any"], "The value under `key`, or nil."),
    f("store.set", &["key: string", "value: any", "ttl?: number"], &[], "Stores a transferable value, optionally expiring after `ttl` seconds."),
    f("store.add", &["key: string", "value: any", "ttl?: number"], &["boolean added"], "Stores only if `key` is absent."),
    f("store.incr", &["key: string", "n?: number", "init?: number"], &["number"], "Atomically adds `n` (default 1) to a number, starting from `init`; returns the new value."),
    f("store.delete", &["key: string"], &[], "Removes `key`."),
    f("store.keys", &[], &["string[]"], "Every key present."),
    // JSON.
    f("json_encode", &["value: any", "options?: JsonOptions"], &["string"], "Encodes as JSON (sorted object keys); NaN, cycles and bad keys are errors."),
    f("json_decode", &["text: string"], &["any value", "string? err"], "Decodes JSON; `null` becomes `json_null`. `nil, err` with line and column on bad input."),
    f("json_array", &["t: table"], &["table"], "Marks a table as a JSON array (so an empty one encodes as `[]`)."),
    value("json_null", &["lightuserdata"], "JSON `null`: what `json_decode` gives for null, encoded back as null."),
    value("json_array_mt", &["table"], "The metatable `json_array` sets."),
    // Files.
    f("read_file", &["path: string"], &["string? data", "string? err"], "The whole file."),
    f("write_file", &["path: string", "data: string"], &["true?", "string? err"], "Writes a file atomically (temp file + rename)."),
    f("append_file", &["path: string", "data: string"], &["true?", "string? err"], "Appends to a file, creating it."),
    f("file_exists", &["path: string"], &["boolean"], "Whether something exists at `path`."),
    f("mkdir", &["path: string"], &["true?", "string? err"], "Creates a directory and its parents."),
    f("remove", &["path: string", "recursive?: boolean"], &["true?", "string? err"], "Removes a file or an (empty, or with `recursive` any) directory."),
    f("rename", &["from: string", "to: string"], &["true?", "string? err"], "Renames or moves a file."),
    f("stat", &["path: string"], &["FileStat?", "string? err"], "What the file is."),
    f("list_dir", &["path: string"], &["FileStat[]?", "string? err"], "The entries of a directory, sorted by name."),
    // Modules.
    f("import", &["name: string"], &["any"], "Loads a module (by name, path or URL) once per state; also sets the global named after it."),
    // Timers, cron, watches.
    f("set_timeout", &["fn: function", "seconds: number"], &["integer id"], "Calls `fn` once after `seconds`, on this goroutine."),
    f("set_interval", &["fn: function", "seconds: number"], &["integer id"], "Calls `fn` every `seconds`; missed ticks are skipped."),
    f("cron", &["expr: string", "fn: function"], &["integer id"], "Calls `fn` on a cron schedule (six fields, seconds first, or five)."),
    f("clear_timeout", &["id: integer"], &["boolean cleared"], "Cancels a timeout; `false` if it was not pending."),
    f("clear_interval", &["id: integer"], &["boolean cleared"], "Cancels an interval; `false` if it was not pending."),
    f("clear_cron", &["id: integer"], &["boolean cleared"], "Cancels a cron job; `false` if it was not pending."),
    f("watch_file", &["path: string", "fn: fun(path: string, event: string)"], &["integer? id", "string? err"], "Calls `fn(path, event)` after the file changes (debounced)."),
    f("unwatch_file", &["id: integer"], &["boolean stopped"], "Stops a watch; `false` if it was not active."),
    // Network clients.
    f("http_get", &["url: string", "headers?: table<string, string>"], &["HttpResponse?", "string? err"], "A GET request; `nil, err` only for transport failures."),
    f("http_post", &["url: string", "body: string|table", "headers?: table<string, string>"], &["HttpResponse?", "string? err"], "A POST request."),
    f("http_put", &["url: string", "body: string|table", "headers?: table<string, string>"], &["HttpResponse?", "string? err"], "A PUT request."),
    f("http_delete", &["url: string", "headers?: table<string, string>"], &["HttpResponse?", "string? err"], "A DELETE request."),
    f("http_request", &["method: string", "url: string", "body?: string|table", "headers?: table<string, string>", "options?: HttpOptions"], &["HttpResponse?", "string? err"], "Any request, with timeout, redirect and TLS options."),
    f("tcp_listen", &["port: integer", "host?: string"], &["Channel connections", "integer port"], "Listens; the channel yields `TcpConn`s, closing it stops the listener. A failed listen (port in use) is an error."),
    f("tcp_connect", &["host: string", "port: integer", "timeout?: number"], &["TcpConn?", "string? err"], "Opens a TCP connection."),
    m("TcpConn:read", &["n?: integer"], &["string? data", "string? err"], "The next chunk of at most `n` bytes; nil at end of stream."),
    m("TcpConn:read_line", &[], &["string? line", "string? err"], "The next line without its newline; nil at end of stream."),
    m("TcpConn:write", &["data: string"], &["integer? bytes", "string? err"], "Writes everything."),
    m("TcpConn:close", &[], &[], "Closes the connection."),
    m("TcpConn:set_timeout", &["seconds?: number"], &[], "Later reads and writes give up after `seconds` (nil or 0: no limit)."),
    f("udp_sendto", &["host: string", "port: integer", "data: string"], &["true?", "string? err"], "Sends one datagram."),
    f("udp_recvfrom", &["port: integer", "host?: string"], &["Channel datagrams", "integer port"], "Listens; the channel yields `Datagram`s, closing it stops the socket. A failed bind (port in use) is an error."),
    f("resolve_dns", &["host: string"], &["string? address", "string[]|string addresses_or_err"], "The first address of `host`, plus all of them."),
    f("ws_connect", &["url: string", "headers?: table<string, string>", "opts?: {ca_file: string?}"], &["WebSocket?", "string? err"], "Opens a WebSocket client connection (`wss://` too; `ca_file` = PEM trust anchors)."),
    m("WebSocket:send", &["text: string"], &["true?", "string? err"], "Sends a text message."),
    m("WebSocket:send_binary", &["data: string"], &["true?", "string? err"], "Sends a binary message."),
    m("WebSocket:receive", &["timeout?: number"], &["string? message", "string? err"], "The next message; nil once closed."),
    m("WebSocket:close", &[], &[], "Closes the connection."),
    m("WebSocket:is_closed", &[], &["boolean"], "Whether the connection was closed (by either side)."),
    // Servers.
    ov(f("create_server", &["name: string", "port: integer", "https?: boolean", "cert?: string", "key?: string"], &[], "Creates a named HTTP(S) server; bad cert/key is an error here."), &["fun(name: string, options: ServerOptions)"]),
    f("handle_http", &["name: string", "pattern: string", "fn: fun(req: Request): Response|string|table|nil"], &[], "Routes requests matching a Go ServeMux pattern (`\"POST /items/{id}\"`) to `fn`."),
    f("handle_ws", &["name: string", "path: string", "fn: fun(ws: WebSocket)"], &[], "Runs `fn(ws)` on its own goroutine for each WebSocket connection to `path`."),
    f("start_server", &["name: string"], &["integer port"], "Starts serving; returns at once with the bound port; raises if it cannot listen."),
    f("stop_server", &["name: string"], &["boolean stopped"], "Stops accepting, lets in-flight requests finish, closes WebSockets; `false` if it was not running."),
];

/// Classes whose methods are bound to their object, so `obj.m(x)` works as well as `obj:m(x)`: their
/// methods are declared with `.` plus an overload taking the object first, and editors accept both.
pub const BOUND_METHOD_CLASSES: &[&str] = &["TcpConn", "WebSocket"];

/// The type of a return annotation (`string? data # comment` → `string?`): up to the first space
/// outside brackets.
fn return_type(r: &str) -> &str {
    let mut depth = 0i32;
    for (i, c) in r.char_indices() {
        match c {
            '<' | '(' | '{' | '[' => depth += 1,
            '>' | ')' | '}' | ']' => depth -= 1,
            ' ' if depth == 0 && !r[..i].ends_with(',') && !r[..i].ends_with(':') => {
                return &r[..i]
            }
            _ => {}
        }
    }
    r
}

/// `fun(params): returns` for a row, with `first` as an extra first parameter.
fn fun_type(b: &Builtin, first: Option<&str>) -> String {
    let params: Vec<String> = first
        .map(str::to_string)
        .into_iter()
        .chain(b.params.iter().map(|p| p.to_string()))
        .collect();
    let mut t = format!("fun({})", params.join(", "));
    if !b.returns.is_empty() {
        let returns: Vec<&str> = b.returns.iter().map(|r| return_type(r)).collect();
        t.push_str(": ");
        t.push_str(&returns.join(", "));
    }
    t
}

/// The parameter's name without its `?`, for the `function` line.
fn param_name(p: &str) -> &str {
    p.split(':')
        .next()
        .unwrap_or(p)
        .trim()
        .trim_end_matches('?')
}

/// The `---@meta` definition file for every builtin and class.
pub fn lua_definitions() -> String {
    let mut out = String::from(
        "---@meta\n-- SolVM builtins for lua-language-server. Generated by `solvm --types`; do not edit.\n\n",
    );
    for class in classes() {
        let _ = writeln!(out, "---{}\n---@class {}", class.doc, class.name);
        for (name, ty, doc) in class.fields {
            let _ = writeln!(out, "---@field {name} {ty} {doc}");
        }
        if builtins()
            .any(|b| b.kind == Kind::Method && b.name.starts_with(&format!("{}:", class.name)))
        {
            let _ = writeln!(out, "local {} = {{}}", class.name);
        }
        out.push('\n');
    }
    for b in builtins() {
        let _ = writeln!(out, "---{}", b.doc);
        match b.kind {
            Kind::Table => {
                let _ = writeln!(out, "{} = {{}}\n", b.name);
            }
            Kind::Value => {
                let _ = writeln!(out, "---@type {}\n{} = nil\n", b.returns.join("|"), b.name);
            }
            Kind::Function | Kind::Method => {
                for p in b.params {
                    let (name, ty) = p.split_once(':').unwrap_or((p, "any"));
                    let _ = writeln!(out, "---@param {} {}", name.trim(), ty.trim());
                }
                for r in b.returns {
                    let _ = writeln!(out, "---@return {r}");
                }
                for o in b.overloads {
                    let _ = writeln!(out, "---@overload {o}");
                }
                let mut name = b.name.to_string();
                if let Some((class, method)) = b.name.split_once(':') {
                    if BOUND_METHOD_CLASSES.contains(&class) {
                        // `obj.m(x)`: the declaration; `obj:m(x)`: the object comes first.
                        let self_param = format!("self: {class}");
                        let _ = writeln!(out, "---@overload {}", fun_type(b, Some(&self_param)));
                        name = format!("{class}.{method}");
                    }
                }
                let params: Vec<&str> = b.params.iter().map(|p| param_name(p)).collect();
                match name.split_once('.') {
                    // `text.repeat`: a keyword cannot follow a dot.
                    Some((table, field)) if is_keyword(field) => {
                        let _ = writeln!(
                            out,
                            "{table}[\"{field}\"] = function({}) end\n",
                            params.join(", ")
                        );
                    }
                    _ => {
                        let _ = writeln!(out, "function {name}({}) end\n", params.join(", "));
                    }
                }
            }
        }
    }
    out
}

/// Whether `name` is a Lua keyword (it cannot be written `t.name`).
fn is_keyword(name: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if",
        "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
    ];
    KEYWORDS.contains(&name)
}

/// `solvm --types DIR`: writes `DIR/solvm.lua`, creating `DIR`; returns the file written.
pub fn write_definitions(dir: &Path) -> std::io::Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir)?;
    let file = dir.join("solvm.lua");
    std::fs::write(&file, lua_definitions())?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::runtime::state::GoState;
    use crate::runtime::Shared;
    use mlua::{Lua, LuaOptions, StdLib, Value};
    use std::collections::BTreeSet;

    fn entry(name: &str) -> Option<&'static Builtin> {
        builtins().find(|b| b.name == name)
    }

    /// The C function behind `f` (0 for a Lua function): stock Lua's functions have the same one in
    /// every state of this process, whatever their upvalues, while a replacement has another.
    fn c_function(lua: &Lua, f: &mlua::Function) -> usize {
        // Safety: `exec_raw` pushes `f`; we read it and leave one integer in its place. mlua has no
        // safe way to get at the C function pointer.
        unsafe {
            lua.exec_raw::<i64>(f.clone(), |state| {
                let p = mlua::ffi::lua_tocfunction(state, -1).map_or(0, |p| p as usize);
                mlua::ffi::lua_pop(state, 1);
                mlua::ffi::lua_pushinteger(state, p as i64);
            })
            .expect("exec_raw") as usize
        }
    }

    /// Whether `a` (in `la`) is the stock value `b` (in `lb`).
    fn same(la: &Lua, a: &Value, lb: &Lua, b: &Value) -> bool {
        match (a, b) {
            (Value::Function(x), Value::Function(y)) => c_function(la, x) == c_function(lb, y),
            (Value::String(x), Value::String(y)) => x.as_bytes() == y.as_bytes(),
            // Values of other reference types live in different states: only their kinds compare.
            (Value::Table(_), Value::Table(_)) | (Value::UserData(_), Value::UserData(_)) => true,
            _ if a.type_name() != b.type_name() => false,
            _ if a.to_pointer().is_null() => a == b,
            _ => true,
        }
    }

    /// Names the builtins add or replace: globals, and fields of global tables.
    fn installed(state: &Lua, stock: &Lua) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        for pair in state.globals().pairs::<String, Value>() {
            let (name, v) = pair.expect("global");
            let old: Value = stock.globals().raw_get(name.as_str()).expect("stock");
            if old.is_nil() {
                names.insert(name.clone());
                if let (Value::Table(t), Some(b)) = (&v, entry(&name)) {
                    if b.kind == Kind::Table {
                        for field in t.pairs::<String, Value>() {
                            names.insert(format!("{name}.{}", field.expect("field").0));
                        }
                    }
                }
                continue;
            }
            if name == "_G" {
                // The globals themselves, seen above.
            } else if !same(state, &v, stock, &old) {
                names.insert(name.clone());
            } else if let (Value::Table(t), Value::Table(o)) = (&v, &old) {
                for field in t.pairs::<String, Value>() {
                    let (k, fv) = field.expect("field");
                    let ov: Value = o.raw_get(k.as_str()).expect("stock field");
                    if matches!(fv, Value::Function(_)) && !same(state, &fv, stock, &ov) {
                        names.insert(format!("{name}.{k}"));
                    }
                }
            }
        }
        names
    }

    fn tcp_methods() -> Vec<&'static str> {
        crate::builtins::net::tcp::METHODS
            .iter()
            .map(|(n, _)| *n)
            .collect()
    }

    fn ws_methods() -> Vec<&'static str> {
        crate::builtins::net::ws_client::METHODS
            .iter()
            .map(|(n, _)| *n)
            .collect()
    }

    fn method_names(
        methods: &[(&'static str, crate::builtins::support::Method)],
    ) -> Vec<&'static str> {
        methods.iter().map(|(n, _)| *n).collect()
    }

    #[test]
    fn catalog_matches_the_registered_builtins() {
        let rt = Shared::new(Config::default(), ".".into());
        let state = GoState::new(&rt, rt.next_goroutine_id()).expect("state");
        // A state installs families on first use: all of them, to compare.
        crate::runtime::lazy::load_all(&state.lua).expect("load all");
        // Safety: the same full standard library the runtime loads.
        let stock = unsafe { Lua::unsafe_new_with(StdLib::ALL, LuaOptions::default()) };
        let names = installed(&state.lua, &stock);
        for replaced in ["print", "select", "os.exit", "store.get", "json_null"] {
            assert!(names.contains(replaced), "`{replaced}` not detected");
        }
        assert!(!names.contains("math.random") && !names.contains("pairs"));
        // The first state learns what each family adds; a later one ends up the same.
        let later = GoState::new(&rt, rt.next_goroutine_id()).expect("later state");
        crate::runtime::lazy::load_all(&later.lua).expect("load all");
        assert_eq!(installed(&later.lua, &stock), names);
        crate::runtime::goroutine::unregister(&rt, later.ctx.gid);
        for name in &names {
            assert!(
                entry(name).is_some() || TRANSPARENT.contains(&name.as_str()),
                "builtin `{name}` has no catalog entry"
            );
        }
        let ch: mlua::AnyUserData = state.lua.load("return chan(1)").eval().expect("chan");
        for b in builtins() {
            match b.kind {
                Kind::Method => {
                    let (class, method) = b.name.split_once(':').unwrap();
                    let known: Vec<&str> = match class {
                        "Channel" => {
                            let v: Value = state
                                .lua
                                .load(format!("local ch = ...; return ch.{method}"))
                                .call(ch.clone())
                                .unwrap();
                            assert!(v.is_function(), "channel method `{method}` missing");
                            continue;
                        }
                        "TcpConn" => tcp_methods(),
                        "WebSocket" => ws_methods(),
                        // Issue 16's objects.
                        "Regex" => method_names(crate::builtins::regex::METHODS),
                        "ChildProcess" => method_names(crate::builtins::process::child::METHODS),
                        #[cfg(feature = "templates")]
                        "Template" => method_names(crate::builtins::template::METHODS),
                        other => panic!("methods of unknown class {other}"),
                    };
                    assert!(known.contains(&method), "`{}` is not a method", b.name);
                }
                _ if b.name.contains('.') => {
                    assert!(names.contains(b.name), "`{}` missing", b.name)
                }
                _ => assert!(
                    state.lua.globals().contains_key(b.name).unwrap(),
                    "catalogued global `{}` is not registered",
                    b.name
                ),
            }
        }
        // Every method of the connection objects is catalogued too.
        for (class, methods) in [
            ("TcpConn", tcp_methods()),
            ("WebSocket", ws_methods()),
            ("Regex", method_names(crate::builtins::regex::METHODS)),
            (
                "ChildProcess",
                method_names(crate::builtins::process::child::METHODS),
            ),
        ] {
            for m in methods {
                assert!(
                    entry(&format!("{class}:{m}")).is_some(),
                    "{class}:{m} missing"
                );
            }
        }
        drop(ch);
        crate::runtime::goroutine::unregister(&rt, state.ctx.gid);
    }

    #[test]
    fn definitions_look_like_luals_meta() {
        let text = lua_definitions();
        assert_eq!(text.lines().next(), Some("---@meta"));
        let functions = text
            .lines()
            .filter(|l| l.starts_with("function ") || l.contains("] = function("))
            .count();
        let expected = builtins()
            .filter(|b| matches!(b.kind, Kind::Function | Kind::Method))
            .count();
        assert_eq!(functions, expected);
        assert!(text.contains("---@class Channel\n"));
        assert!(text.contains("function Channel:send(value, timeout) end"));
        assert!(text.contains("---@param timeout? number"));
        // Connection methods work with `.` and `:`: declared with `.`, plus an overload taking the
        // object first.
        assert!(text.contains(
            "---@overload fun(self: TcpConn, n?: integer): string?, string?\nfunction TcpConn.read(n) end"
        ));
        assert!(text.contains("function WebSocket.send(text) end"));
        assert!(!text.contains("function WebSocket:"));
        assert_eq!(
            return_type("table<string, string>? headers # doc"),
            "table<string, string>?"
        );
        assert_eq!(return_type("string? err"), "string?");
        for class in classes() {
            assert!(text.contains(&format!("---@class {}\n", class.name)));
        }
        // Every class a signature names is defined.
        let lua = Lua::new();
        lua.load(text.as_str())
            .exec()
            .expect("definitions are valid Lua");
    }
}
