//! The value enum: how a Lua value leaves one state and enters another (SPEC §3).
//!
//! [`Value::from_lua`] turns a value of one state into a `Send` [`Value`]; [`Value::to_lua`] builds it
//! in a *different* state. Tables and Lua functions become a [`Graph`] of nodes so that shared
//! references and cycles keep their shape; functions travel as bytecode plus their upvalues (shared
//! upvalues stay shared, `_ENV` is rebound to the receiver's globals); builtin functions and library
//! tables travel as a reference by name; runtime handles (channels, connections) by reference to the
//! same object. Anything else is refused with a message naming where it was found.

// What crosses processes (cluster channels, pub/sub, the shared store): data only, as MessagePack.
#[path = "value_msgpack.rs"]
pub mod msgpack;

use mlua::chunk::ChunkMode;
use mlua::{AnyUserData, Function, Lua, Table, Value as LuaValue};
use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

/// A set of global names. Checked for every global at each `go()`, so hashed with FNV-1a rather than
/// SipHash (names come from the runtime and the script, not from the network).
pub type NameSet = HashSet<Vec<u8>, std::hash::BuildHasherDefault<NameHasher>>;

/// FNV-1a, for [`NameSet`].
pub struct NameHasher(u64);

impl Default for NameHasher {
    fn default() -> Self {
        NameHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for NameHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// A string's bytes, short ones (up to 22) inline: most table keys and many values are short, and
/// a message of them then crosses without an allocation per string (a 64-field record made 128
/// allocations on the sending thread, each freed on the receiving one). `Value` stays 24 bytes.
#[derive(Clone)]
pub enum Bytes {
    Short { len: u8, data: [u8; SHORT_STR] },
    Long(Box<[u8]>),
}

/// Longest string kept inline in a [`Bytes`].
const SHORT_STR: usize = 22;

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Short { len, data } => &data[..*len as usize],
            Bytes::Long(b) => b,
        }
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl From<&[u8]> for Bytes {
    fn from(b: &[u8]) -> Bytes {
        if b.len() <= SHORT_STR {
            let mut data = [0; SHORT_STR];
            data[..b.len()].copy_from_slice(b);
            Bytes::Short {
                len: b.len() as u8,
                data,
            }
        } else {
            Bytes::Long(Box::from(b))
        }
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(b: Vec<u8>) -> Bytes {
        if b.len() <= SHORT_STR {
            Bytes::from(&b[..])
        } else {
            Bytes::Long(b.into_boxed_slice())
        }
    }
}

/// A value that can cross to another goroutine.
#[derive(Clone)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Num(f64),
    Str(Bytes),
    /// `json_null`.
    JsonNull,
    /// A builtin function or library table, by its global path (`"string.format"`, `"math"`).
    Builtin(Arc<str>),
    /// A runtime-owned object shared by reference.
    Handle(Handle),
    /// Tables and Lua functions (node 0 is the value itself).
    Graph(Arc<Graph>),
    /// Inside a [`Graph`] only: a reference to another node.
    Ref(u32),
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => write!(f, "nil"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Num(n) => write!(f, "{n:?}"),
            Value::Str(s) => write!(f, "{:?}", String::from_utf8_lossy(s)),
            Value::JsonNull => write!(f, "json_null"),
            Value::Builtin(p) => write!(f, "builtin {p}"),
            Value::Handle(h) => write!(f, "handle {}", h.0.kind()),
            Value::Graph(g) => write!(f, "graph of {} nodes", g.nodes.len()),
            Value::Ref(i) => write!(f, "ref {i}"),
        }
    }
}

/// Tables and functions reachable from one value, with references between them by index.
pub struct Graph {
    nodes: Vec<Node>,
}

enum Node {
    Table {
        entries: Vec<(Value, Value)>,
        meta: Option<Value>,
    },
    Function {
        code: Box<[u8]>,
        upvalues: Vec<Upvalue>,
    },
}

enum Upvalue {
    Value(Value),
    /// The function's `_ENV`: rebound to the receiving state's globals.
    Env,
    /// The same upvalue as upvalue `index` (1-based) of function node `node`.
    Joined {
        node: u32,
        index: u32,
    },
}

/// A runtime object that crosses by reference (channel, connection, listener).
pub trait SharedHandle: Send + Sync + 'static {
    /// A short name for messages: `"channel"`, `"tcp connection"`.
    fn kind(&self) -> &'static str;
    /// Makes a userdata for this object in `lua`.
    fn push(&self, lua: &Lua) -> mlua::Result<LuaValue>;
    /// For handle families to recognise their own objects.
    fn as_any(&self) -> &dyn Any;
}

/// A shared reference to a [`SharedHandle`].
#[derive(Clone)]
pub struct Handle(pub Arc<dyn SharedHandle>);

/// Userdata types whose values are [`SharedHandle`]s. Each handle family lists its Lua type here
/// through [`register_handle_type`] when it registers its builtins.
type HandleProbe = fn(&AnyUserData) -> Option<Handle>;

/// A handle type every state knows from the start ([`set_base_handle_types`]): one list for the
/// whole process instead of a copy in each state (a goroutine's state is built for its own use).
pub struct HandleType {
    id: fn() -> std::any::TypeId,
    probe: HandleProbe,
}

/// The [`HandleType`] of userdata type `T`.
pub const fn handle_type<T: mlua::UserData + SharedHandle + Clone>() -> HandleType {
    HandleType {
        id: std::any::TypeId::of::<T>,
        probe: probe::<T>,
    }
}

fn probe<T: mlua::UserData + SharedHandle + Clone>(ud: &AnyUserData) -> Option<Handle> {
    ud.borrow::<T>().ok().map(|t| Handle(Arc::new(t.clone())))
}

/// The handle types every state knows, given once per process by the builtins
/// ([`set_base_handle_types`]), so the runtime names no family.
static BASE_HANDLE_TYPES: std::sync::OnceLock<&'static [HandleType]> = std::sync::OnceLock::new();

/// Sets the handle types every state knows (the first call wins; later ones are the same list).
pub fn set_base_handle_types(types: &'static [HandleType]) {
    BASE_HANDLE_TYPES.get_or_init(|| types);
}

fn base_handle_types() -> &'static [HandleType] {
    BASE_HANDLE_TYPES.get().copied().unwrap_or(&[])
}

/// A value that could not be transferred, and where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferError {
    /// What it was: `coroutine`, `userdata`, `C function`.
    pub what: String,
    /// Where, innermost first: `upvalue 'co' of function at main.lua:12`.
    pub path: String,
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot send {} to another goroutine ({})",
            self.what, self.path
        )
    }
}

impl std::error::Error for TransferError {}

impl From<TransferError> for mlua::Error {
    fn from(e: TransferError) -> Self {
        mlua::Error::runtime(e.to_string())
    }
}

/// Per-state transfer data: which globals are builtins, the lazily built map of builtin pointers,
/// and the userdata types that cross as handles.
pub struct TransferKit {
    builtin_names: std::cell::RefCell<Arc<NameSet>>,
    builtins_by_ptr: std::cell::RefCell<Option<HashMap<usize, Arc<str>>>>,
    probes: std::cell::RefCell<Vec<(std::any::TypeId, HandleProbe)>>,
}

/// Installs the transfer helpers in a freshly created state. `builtin_names` are the globals every
/// fresh state has (everything else is user-defined).
pub fn install(lua: &Lua, builtin_names: Arc<NameSet>) -> mlua::Result<()> {
    lua.set_app_data(TransferKit {
        builtin_names: std::cell::RefCell::new(builtin_names),
        builtins_by_ptr: std::cell::RefCell::new(None),
        probes: std::cell::RefCell::new(Vec::new()),
    });
    Ok(())
}

/// Lets userdata of type `T` cross goroutines as a [`Handle`]. Call from a family's `register`
/// (the types given to [`set_base_handle_types`] need no call).
pub fn register_handle_type<T: mlua::UserData + SharedHandle + Clone>(lua: &Lua) {
    let id = std::any::TypeId::of::<T>();
    if base_handle_types().iter().any(|h| (h.id)() == id) {
        return;
    }
    if let Some(kit) = lua.app_data_ref::<TransferKit>() {
        let mut probes = kit.probes.borrow_mut();
        if !probes.iter().any(|(t, _)| *t == id) {
            probes.push((id, probe::<T>));
        }
    }
}

/// Forgets which functions are builtins: a builtin family was just installed in this state.
pub fn builtins_changed(lua: &Lua) {
    if let Some(kit) = lua.app_data_ref::<TransferKit>() {
        *kit.builtins_by_ptr.borrow_mut() = None;
    }
}

/// Sets which globals count as builtins (the first state of a run learns them after registering).
pub fn set_builtin_names(lua: &Lua, names: Arc<NameSet>) -> mlua::Result<()> {
    *kit(lua)?.builtin_names.borrow_mut() = names;
    Ok(())
}

/// The names of the globals of a state that has just been set up.
pub fn global_names(lua: &Lua) -> mlua::Result<NameSet> {
    let mut names = NameSet::default();
    for pair in lua.globals().pairs::<LuaValue, LuaValue>() {
        if let (LuaValue::String(k), _) = pair? {
            names.insert(k.as_bytes().to_vec());
        }
    }
    Ok(names)
}

fn kit(lua: &Lua) -> mlua::Result<mlua::AppDataRef<'_, TransferKit>> {
    lua.app_data_ref::<TransferKit>()
        .ok_or_else(|| mlua::Error::runtime("value transfer is not set up in this Lua state"))
}

impl Value {
    /// Converts `v` (a value of `lua`) into a transferable value. `root` describes where the value
    /// comes from for error messages (`argument #1 to 'go'`).
    pub fn from_lua(lua: &Lua, v: &LuaValue, root: &str) -> Result<Value, mlua::Error> {
        match v {
            LuaValue::Nil => Ok(Value::Nil),
            LuaValue::Boolean(b) => Ok(Value::Bool(*b)),
            LuaValue::Integer(i) => Ok(Value::Int(*i)),
            LuaValue::Number(n) => Ok(Value::Num(*n)),
            LuaValue::String(s) => Ok(Value::Str(Bytes::from(&s.as_bytes()[..]))),
            _ => Value::encode(lua, v).map_err(|e| e.into_lua(root)),
        }
    }

    /// [`Value::from_lua`] with the refusal left to the caller (`msgpack` words it for processes).
    fn encode(lua: &Lua, v: &LuaValue) -> Result<Value, EncodeError> {
        let kit = kit(lua)?;
        let mut enc = Encoder::new(lua, &kit);
        let top = enc.encode(v)?;
        Ok(enc.finish(top))
    }

    /// A flat table built from Rust (a UDP message `{data, addr, port}` made on a listener thread).
    /// Keys and values must be plain values (no tables, functions or references).
    pub fn table(entries: Vec<(Value, Value)>) -> Value {
        Value::Graph(Arc::new(Graph {
            nodes: vec![Node::Table {
                entries,
                meta: None,
            }],
        }))
    }

    /// Builds this value in `lua` (any state with transfer helpers installed).
    pub fn to_lua(&self, lua: &Lua) -> mlua::Result<LuaValue> {
        match self {
            Value::Nil => Ok(LuaValue::Nil),
            Value::Bool(b) => Ok(LuaValue::Boolean(*b)),
            Value::Int(i) => Ok(LuaValue::Integer(*i)),
            Value::Num(n) => Ok(LuaValue::Number(*n)),
            Value::Str(s) => Ok(LuaValue::String(lua.create_string(s)?)),
            Value::JsonNull => Ok(LuaValue::NULL),
            Value::Builtin(path) => resolve_builtin(lua, path),
            Value::Handle(h) => {
                crate::builtins::before_handle(lua, h.0.kind())?;
                h.0.push(lua)
            }
            Value::Graph(g) => decode_graph(lua, g),
            Value::Ref(_) => Err(mlua::Error::runtime(
                "internal error: dangling value reference",
            )),
        }
    }

    /// A rough count of the bytes this value holds (for memory accounting and benchmarks).
    pub fn approx_size(&self) -> usize {
        match self {
            Value::Str(s) => s.len() + 16,
            Value::Graph(g) => g
                .nodes
                .iter()
                .map(|n| match n {
                    Node::Table { entries, .. } => {
                        entries
                            .iter()
                            .map(|(k, v)| k.approx_size() + v.approx_size())
                            .sum::<usize>()
                            + 32
                    }
                    Node::Function { code, upvalues } => code.len() + upvalues.len() * 24,
                })
                .sum(),
            _ => 16,
        }
    }
}

struct Encoder<'a> {
    lua: &'a Lua,
    kit: &'a TransferKit,
    nodes: Vec<Option<Node>>,
    /// Lua object pointer → node index.
    seen: HashMap<usize, u32>,
    /// Upvalue identity → (function node, upvalue index).
    upvalue_ids: HashMap<usize, (u32, u32)>,
    depth: usize,
}

/// Why encoding stopped: a value that cannot cross, or a Lua error. The path of a refused value is
/// built while the error unwinds (innermost first), so successful transfers pay nothing for it.
enum EncodeError {
    Refused { what: String, path: Vec<String> },
    Lua(mlua::Error),
}

impl From<mlua::Error> for EncodeError {
    fn from(e: mlua::Error) -> Self {
        EncodeError::Lua(e)
    }
}

impl EncodeError {
    /// Adds the step through which the refused value was reached.
    fn within(mut self, step: impl FnOnce() -> String) -> Self {
        if let EncodeError::Refused { path, .. } = &mut self {
            path.push(step());
        }
        self
    }

    /// The error a script sees; `root` says where the whole value came from.
    fn into_lua(self, root: &str) -> mlua::Error {
        match self {
            EncodeError::Refused { what, mut path } => {
                path.push(root.to_string());
                TransferError {
                    what,
                    path: path.join(" of "),
                }
                .into()
            }
            EncodeError::Lua(e) => e,
        }
    }
}

type EncodeResult<T> = Result<T, EncodeError>;

/// Deeper than this, a value is refused rather than risking the thread's stack.
const MAX_DEPTH: usize = 200;

/// Undo information for [`Encoder::try_encode`].
struct Checkpoint {
    nodes: usize,
    depth: usize,
}

impl<'a> Encoder<'a> {
    fn new(lua: &'a Lua, kit: &'a TransferKit) -> Self {
        Encoder {
            lua,
            kit,
            nodes: Vec::new(),
            seen: HashMap::new(),
            upvalue_ids: HashMap::new(),
            depth: 0,
        }
    }

    fn fail(&self, what: &str) -> EncodeError {
        EncodeError::Refused {
            what: what.to_string(),
            path: Vec::new(),
        }
    }

    fn finish(self, top: Value) -> Value {
        match top {
            Value::Ref(0) if !self.nodes.is_empty() => Value::Graph(Arc::new(Graph {
                // Every reserved node is filled by the time encoding succeeds.
                nodes: self.nodes.into_iter().flatten().collect(),
            })),
            other => other,
        }
    }

    fn encode(&mut self, v: &LuaValue) -> EncodeResult<Value> {
        match v {
            LuaValue::Nil => Ok(Value::Nil),
            LuaValue::Boolean(b) => Ok(Value::Bool(*b)),
            LuaValue::Integer(i) => Ok(Value::Int(*i)),
            LuaValue::Number(n) => Ok(Value::Num(*n)),
            LuaValue::String(s) => Ok(Value::Str(Bytes::from(&s.as_bytes()[..]))),
            LuaValue::LightUserData(p) if p.0.is_null() => Ok(Value::JsonNull),
            LuaValue::Table(t) => {
                if let Some(path) = self.builtin_path(t.to_pointer() as usize)? {
                    return Ok(Value::Builtin(path));
                }
                self.encode_table(t)
            }
            LuaValue::Function(f) => self.encode_function(f),
            LuaValue::UserData(ud) => {
                let everywhere = base_handle_types().iter().map(|h| h.probe);
                let here = self.kit.probes.borrow();
                for probe in everywhere.chain(here.iter().map(|(_, p)| *p)) {
                    if let Some(h) = probe(ud) {
                        return Ok(Value::Handle(h));
                    }
                }
                Err(self.fail("a userdata value"))
            }
            LuaValue::Thread(_) => Err(self.fail("a coroutine")),
            LuaValue::LightUserData(_) => Err(self.fail("a light userdata")),
            LuaValue::Error(_) => Err(self.fail("an error object")),
            _ => Err(self.fail("a value of an unsupported type")),
        }
    }

    fn reserve(&mut self, ptr: usize) -> u32 {
        let idx = self.nodes.len() as u32;
        self.nodes.push(None);
        self.seen.insert(ptr, idx);
        idx
    }

    fn enter(&mut self) -> EncodeResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.fail(&format!("a value nested deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn encode_table(&mut self, t: &Table) -> EncodeResult<Value> {
        let ptr = t.to_pointer() as usize;
        if let Some(&idx) = self.seen.get(&ptr) {
            return Ok(Value::Ref(idx));
        }
        self.enter()?;
        let idx = self.reserve(ptr);
        let entries = match plain_entries(self.lua, t)? {
            Some((mut entries, deferred)) => {
                // Entries whose value is a table, function or userdata go the general way.
                for key in deferred {
                    let k = key.to_lua(self.lua)?;
                    let v: LuaValue = t.raw_get(&k)?;
                    let val = self.encode(&v).map_err(|e| e.within(|| describe_key(&k)))?;
                    entries.push((key, val));
                }
                entries
            }
            None => {
                let mut entries = Vec::with_capacity(t.raw_len());
                for pair in t.pairs::<LuaValue, LuaValue>() {
                    let (k, v) = pair?;
                    let key = self.encode(&k).map_err(|e| e.within(|| describe_key(&k)))?;
                    let val = self.encode(&v).map_err(|e| e.within(|| describe_key(&k)))?;
                    entries.push((key, val));
                }
                entries
            }
        };
        // A metatable crosses only when it can (SPEC §3); one that cannot is left behind silently.
        let meta = match t.metatable() {
            Some(mt) => self.try_encode(&LuaValue::Table(mt)),
            None => None,
        };
        self.nodes[idx as usize] = Some(Node::Table { entries, meta });
        self.depth -= 1;
        Ok(Value::Ref(idx))
    }

    /// Encodes `v`, or undoes everything it added and returns `None` if it cannot cross.
    fn try_encode(&mut self, v: &LuaValue) -> Option<Value> {
        let cp = self.checkpoint();
        match self.encode(v) {
            Ok(val) => Some(val),
            Err(_) => {
                self.rollback(cp);
                None
            }
        }
    }

    fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            nodes: self.nodes.len(),
            depth: self.depth,
        }
    }

    fn rollback(&mut self, cp: Checkpoint) {
        // Everything recorded since the checkpoint points at nodes reserved since then.
        let keep = cp.nodes as u32;
        self.nodes.truncate(cp.nodes);
        self.seen.retain(|_, idx| *idx < keep);
        self.upvalue_ids.retain(|_, (node, _)| *node < keep);
        self.depth = cp.depth;
    }

    fn encode_function(&mut self, f: &Function) -> EncodeResult<Value> {
        let ptr = f.to_pointer() as usize;
        if let Some(&idx) = self.seen.get(&ptr) {
            return Ok(Value::Ref(idx));
        }
        let info = f.info();
        if info.what == "C" {
            return match self.builtin_path(ptr)? {
                Some(path) => Ok(Value::Builtin(path)),
                None => Err(self.fail("a C function that is not a builtin")),
            };
        }
        self.enter()?;
        let desc = || {
            format!(
                "function at {}:{}",
                info.short_src.as_deref().unwrap_or("?"),
                info.line_defined.unwrap_or(0)
            )
        };
        let idx = self.reserve(ptr);
        let code = f.dump(false).into_boxed_slice();
        let mut upvalues = Vec::new();
        let globals_ptr = self.lua.globals().to_pointer() as usize;
        for i in 1u32.. {
            let Some((name, value, id)) = upvalues::get(self.lua, f, i)? else {
                break;
            };
            let name = name.to_string_lossy();
            if name == "_ENV"
                && matches!(&value, LuaValue::Table(t) if t.to_pointer() as usize == globals_ptr)
            {
                upvalues.push(Upvalue::Env);
                continue;
            }
            if let Some(&(node, index)) = self.upvalue_ids.get(&id) {
                upvalues.push(Upvalue::Joined { node, index });
                continue;
            }
            self.upvalue_ids.insert(id, (idx, i));
            let v = self
                .encode(&value)
                .map_err(|e| e.within(|| format!("upvalue '{name}' of {}", desc())))?;
            upvalues.push(Upvalue::Value(v));
        }
        self.nodes[idx as usize] = Some(Node::Function { code, upvalues });
        self.depth -= 1;
        Ok(Value::Ref(idx))
    }

    /// The global path of a builtin function or library table, if `ptr` is one.
    fn builtin_path(&self, ptr: usize) -> mlua::Result<Option<Arc<str>>> {
        let mut cache = self.kit.builtins_by_ptr.borrow_mut();
        if cache.is_none() {
            *cache = Some(build_builtin_map(
                self.lua,
                &self.kit.builtin_names.borrow(),
            )?);
        }
        Ok(cache.as_ref().and_then(|m| m.get(&ptr).cloned()))
    }
}

/// A table's scalar entries, and the scalar keys whose values are not scalars.
type PlainEntries = (Vec<(Value, Value)>, Vec<Value>);

/// The entries of `t` read with the C API, most tables' case: scalar keys and values (strings,
/// numbers, booleans, `json_null`) become values directly, without an mlua value (and its
/// registry slot) for each; scalar keys whose value is not a scalar are returned for the general
/// path. `None` when some key is not a scalar (the whole table then goes the general way). This
/// took a 64-field record from ~180k instructions to encode to a few thousand.
fn plain_entries(lua: &Lua, t: &Table) -> mlua::Result<Option<PlainEntries>> {
    use mlua::ffi;
    let mut entries: Vec<(Value, Value)> = Vec::new();
    let mut deferred: Vec<Value> = Vec::new();
    let mut all_plain = true;
    {
        let (entries, deferred, all_plain) = (&mut entries, &mut deferred, &mut all_plain);
        // Safety: `exec_raw` runs in protected mode with `t` pushed. `lua_next` only sees keys the
        // table has (nothing is changed while iterating), and `scalar_at` never converts a stack
        // value in place. No value with a destructor is alive in this closure across a Lua call:
        // each key and value is moved into the vectors before the next `lua_next`.
        unsafe {
            lua.exec_raw::<()>(t, |state| {
                ffi::lua_pushnil(state);
                while ffi::lua_next(state, -2) != 0 {
                    match (scalar_at(state, -2), scalar_at(state, -1)) {
                        (Some(k), Some(v)) => entries.push((k, v)),
                        (Some(k), None) => deferred.push(k),
                        (None, _) => {
                            *all_plain = false;
                            ffi::lua_settop(state, -3);
                            break;
                        }
                    }
                    ffi::lua_settop(state, -2);
                }
            })?;
        }
    }
    Ok(all_plain.then_some((entries, deferred)))
}

/// The value at stack index `idx` if it is a scalar (without converting it: a number stays a number
/// on the stack, which `lua_next` needs).
///
/// # Safety
/// `idx` must be a valid index of `state`.
unsafe fn scalar_at(state: *mut mlua::ffi::lua_State, idx: std::ffi::c_int) -> Option<Value> {
    use mlua::ffi;
    match ffi::lua_type(state, idx) {
        ffi::LUA_TSTRING => {
            let mut len = 0;
            let p = ffi::lua_tolstring(state, idx, &mut len);
            Some(Value::Str(Bytes::from(std::slice::from_raw_parts(
                p as *const u8,
                len,
            ))))
        }
        ffi::LUA_TNUMBER => Some(if ffi::lua_isinteger(state, idx) != 0 {
            Value::Int(ffi::lua_tointeger(state, idx))
        } else {
            Value::Num(ffi::lua_tonumber(state, idx))
        }),
        ffi::LUA_TBOOLEAN => Some(Value::Bool(ffi::lua_toboolean(state, idx) != 0)),
        ffi::LUA_TLIGHTUSERDATA if ffi::lua_touserdata(state, idx).is_null() => {
            Some(Value::JsonNull)
        }
        _ => None,
    }
}

/// Pushes a scalar value (see [`scalar_at`]); `false` for any other kind (nothing pushed).
///
/// # Safety
/// `state` must have a free stack slot.
unsafe fn push_scalar(state: *mut mlua::ffi::lua_State, v: &Value) -> bool {
    use mlua::ffi;
    match v {
        Value::Nil => ffi::lua_pushnil(state),
        Value::Bool(b) => ffi::lua_pushboolean(state, *b as std::ffi::c_int),
        Value::Int(i) => ffi::lua_pushinteger(state, *i),
        Value::Num(n) => ffi::lua_pushnumber(state, *n),
        Value::Str(s) => {
            ffi::lua_pushlstring(state, s.as_ptr() as *const std::ffi::c_char, s.len());
        }
        Value::JsonNull => ffi::lua_pushlightuserdata(state, std::ptr::null_mut()),
        _ => return false,
    }
    true
}

fn is_scalar(v: &Value) -> bool {
    matches!(
        v,
        Value::Nil
            | Value::Bool(_)
            | Value::Int(_)
            | Value::Num(_)
            | Value::Str(_)
            | Value::JsonNull
    )
}

/// A table of scalar entries made with the C API (the counterpart of [`plain_entries`]).
fn plain_table(lua: &Lua, entries: &[(Value, Value)]) -> mlua::Result<Table> {
    use mlua::ffi;
    let len = entries.len();
    let array = entries
        .iter()
        .filter(|(k, _)| matches!(k, Value::Int(i) if *i >= 1 && (*i as u64) <= len as u64))
        .count();
    let narr = std::ffi::c_int::try_from(array).unwrap_or(0);
    let nrec = std::ffi::c_int::try_from(len - array).unwrap_or(0);
    // Safety: `exec_raw` runs in protected mode; each entry pushes a key and a value (scalars only,
    // checked by the caller) and `lua_rawset` pops both, leaving the new table. A memory error
    // unwinds through here holding no Rust value with a destructor.
    unsafe {
        lua.exec_raw::<Table>((), |state| {
            ffi::lua_createtable(state, narr, nrec);
            for (k, v) in entries {
                if matches!(k, Value::Nil) || matches!(k, Value::Num(n) if n.is_nan()) {
                    continue;
                }
                push_scalar(state, k);
                push_scalar(state, v);
                ffi::lua_rawset(state, -3);
            }
        })
    }
}

/// Maps the pointers of every builtin global function, library table and library function to
/// their path (`print`, `string`, `string.format`).
fn build_builtin_map(lua: &Lua, names: &NameSet) -> mlua::Result<HashMap<usize, Arc<str>>> {
    let mut map = HashMap::new();
    let globals = lua.globals();
    map.insert(globals.to_pointer() as usize, Arc::from("_G"));
    for name in names {
        let key = lua.create_string(name)?;
        let name = String::from_utf8_lossy(name).into_owned();
        match globals.raw_get::<LuaValue>(key)? {
            LuaValue::Function(f) if f.info().what == "C" => {
                map.insert(f.to_pointer() as usize, Arc::from(name.as_str()));
            }
            LuaValue::Table(t) if name != "_G" && name != "arg" => {
                map.insert(t.to_pointer() as usize, Arc::from(name.as_str()));
                for pair in t.pairs::<LuaValue, LuaValue>() {
                    if let (LuaValue::String(k), LuaValue::Function(f)) = pair? {
                        if f.info().what == "C" {
                            let path = format!("{name}.{}", k.to_string_lossy());
                            map.entry(f.to_pointer() as usize)
                                .or_insert_with(|| Arc::from(path.as_str()));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(map)
}

fn resolve_builtin(lua: &Lua, path: &str) -> mlua::Result<LuaValue> {
    if path == "_G" {
        return Ok(LuaValue::Table(lua.globals()));
    }
    let mut parts = path.split('.');
    // The global itself as a script reading it gets it: its family may not be installed yet.
    let mut cur = super::lazy::global(lua, parts.next().unwrap_or_default())?;
    for part in parts {
        cur = match cur {
            LuaValue::Table(t) => t.raw_get(part)?,
            _ => LuaValue::Nil,
        };
    }
    match cur {
        LuaValue::Nil => Err(mlua::Error::runtime(format!(
            "builtin '{path}' does not exist in this goroutine"
        ))),
        v => Ok(v),
    }
}

fn describe_key(k: &LuaValue) -> String {
    match k {
        LuaValue::String(s) => format!("field '{}'", s.to_string_lossy()),
        LuaValue::Integer(i) => format!("[{i}]"),
        LuaValue::Number(n) => format!("[{n}]"),
        LuaValue::Boolean(b) => format!("[{b}]"),
        _ => "a table key".into(),
    }
}

/// A function's bytecode as a chunk to load. Named, so mlua does not format a default name from
/// the caller's location for every function that crosses (the name in the bytecode is the one used).
struct Bytecode<'a>(&'a [u8]);

impl mlua::chunk::AsChunk for Bytecode<'_> {
    fn name(&self) -> Option<String> {
        Some(String::from("=bytecode"))
    }
    fn mode(&self) -> Option<ChunkMode> {
        Some(ChunkMode::Binary)
    }
    fn source<'b>(&self) -> std::io::Result<std::borrow::Cow<'b, [u8]>>
    where
        Self: 'b,
    {
        Ok(std::borrow::Cow::Borrowed(self.0))
    }
}

fn decode_graph(lua: &Lua, g: &Graph) -> mlua::Result<LuaValue> {
    // Pass 1: create every object, so references can point at them whatever the order.
    let mut objs = Vec::with_capacity(g.nodes.len());
    // Nodes made complete in pass 1.
    let mut filled = vec![false; g.nodes.len()];
    for (i, node) in g.nodes.iter().enumerate() {
        objs.push(match node {
            // Scalars only: made and filled at once with the C API.
            Node::Table {
                entries,
                meta: None,
            } if entries.iter().all(|(k, v)| is_scalar(k) && is_scalar(v)) => {
                filled[i] = true;
                LuaValue::Table(plain_table(lua, entries)?)
            }
            Node::Table { entries, .. } => {
                LuaValue::Table(lua.create_table_with_capacity(0, entries.len())?)
            }
            Node::Function { code, .. } => {
                LuaValue::Function(lua.load(Bytecode(code)).into_function()?)
            }
        });
    }
    let value = |v: &Value| -> mlua::Result<LuaValue> {
        match v {
            Value::Ref(i) => objs
                .get(*i as usize)
                .cloned()
                .ok_or_else(|| mlua::Error::runtime("internal error: bad value reference")),
            other => other.to_lua(lua),
        }
    };
    // Pass 2: fill tables, set upvalues and metatables.
    for ((node, obj), _) in g.nodes.iter().zip(&objs).zip(&filled).filter(|(_, f)| !**f) {
        match (node, obj) {
            (Node::Table { entries, meta }, LuaValue::Table(t)) => {
                for (k, v) in entries {
                    t.raw_set(value(k)?, value(v)?)?;
                }
                if let Some(m) = meta {
                    if let LuaValue::Table(mt) = value(m)? {
                        t.set_metatable(Some(mt))?;
                    }
                }
            }
            (Node::Function { upvalues, .. }, LuaValue::Function(f)) => {
                for (i, up) in upvalues.iter().enumerate() {
                    let n = i as u32 + 1;
                    match up {
                        Upvalue::Env => upvalues::set(lua, f, n, LuaValue::Table(lua.globals()))?,
                        Upvalue::Value(v) => upvalues::set(lua, f, n, value(v)?)?,
                        Upvalue::Joined { node, index } => {
                            let other = value(&Value::Ref(*node))?;
                            upvalues::join(lua, f, n, &other, *index)?
                        }
                    }
                }
            }
            _ => return Err(mlua::Error::runtime("internal error: value graph mismatch")),
        }
    }
    Ok(objs.into_iter().next().unwrap_or(LuaValue::Nil))
}

/// Upvalues through the C API behind `debug.getupvalue` and friends: no Lua call per upvalue, and
/// no dependence on a `debug` library a script may have replaced (or a state not opened yet).
mod upvalues {
    use mlua::{ffi, Function, Lua, LuaString, Value as LuaValue};
    use std::ffi::c_int;

    /// Upvalue `n` of Lua function `f`: its name, value and identity (`lua_upvalueid`); `None` past
    /// the last one.
    pub fn get(
        lua: &Lua,
        f: &Function,
        n: u32,
    ) -> mlua::Result<Option<(LuaString, LuaValue, usize)>> {
        let n = c_int::try_from(n).unwrap_or(c_int::MAX);
        // Safety: `exec_raw` runs in protected mode with `f` pushed; we leave (value, name, id) or
        // nothing in its place.
        let (value, name, id): (LuaValue, Option<LuaString>, LuaValue) = unsafe {
            lua.exec_raw(f, |state| {
                let fi = ffi::lua_gettop(state);
                let name = ffi::lua_getupvalue(state, fi, n);
                if name.is_null() {
                    ffi::lua_settop(state, fi - 1);
                    return;
                }
                ffi::lua_pushstring(state, name);
                ffi::lua_pushlightuserdata(state, ffi::lua_upvalueid(state, fi, n));
                ffi::lua_rotate(state, fi, -1);
                ffi::lua_settop(state, -2);
            })?
        };
        let id = match id {
            LuaValue::LightUserData(p) => p.0 as usize,
            _ => 0,
        };
        Ok(name.map(|name| (name, value, id)))
    }

    /// Sets upvalue `n` of `f` to `v`.
    pub fn set(lua: &Lua, f: &Function, n: u32, v: LuaValue) -> mlua::Result<()> {
        let n = c_int::try_from(n).unwrap_or(c_int::MAX);
        // Safety: `exec_raw` runs in protected mode with `f` and `v` pushed; `lua_setupvalue` pops
        // `v` when `n` is valid, and the stack is reset either way.
        let done: bool = unsafe {
            lua.exec_raw((f, v), |state| {
                let fi = ffi::lua_gettop(state) - 1;
                let ok = !ffi::lua_setupvalue(state, fi, n).is_null();
                ffi::lua_settop(state, fi - 1);
                ffi::lua_pushboolean(state, ok as c_int);
            })?
        };
        match done {
            true => Ok(()),
            false => Err(mlua::Error::runtime("internal error: no such upvalue")),
        }
    }

    /// Makes upvalue `n` of Lua function `f` the same as upvalue `m` of Lua function `other`.
    pub fn join(lua: &Lua, f: &Function, n: u32, other: &LuaValue, m: u32) -> mlua::Result<()> {
        let (n, m) = (
            c_int::try_from(n).unwrap_or(c_int::MAX),
            c_int::try_from(m).unwrap_or(c_int::MAX),
        );
        // Safety: `exec_raw` runs in protected mode with both pushed. `lua_upvaluejoin` does not
        // check its arguments, so both must be Lua functions with those upvalues.
        let done: bool = unsafe {
            lua.exec_raw((f, other), |state| {
                let (fi, oi) = (ffi::lua_gettop(state) - 1, ffi::lua_gettop(state));
                let has = |i: c_int, k: c_int| {
                    ffi::lua_type(state, i) == ffi::LUA_TFUNCTION
                        && ffi::lua_iscfunction(state, i) == 0
                        && !ffi::lua_getupvalue(state, i, k).is_null()
                };
                let ok = has(fi, n) && {
                    ffi::lua_settop(state, oi);
                    has(oi, m)
                };
                ffi::lua_settop(state, oi);
                if ok {
                    ffi::lua_upvaluejoin(state, fi, n, oi, m);
                }
                ffi::lua_settop(state, fi - 1);
                ffi::lua_pushboolean(state, ok as c_int);
            })?
        };
        match done {
            true => Ok(()),
            false => Err(mlua::Error::runtime("internal error: bad upvalue join")),
        }
    }
}

/// The names of the string keys of `globals` that are not in `builtin`. Iterated with the C API:
/// going through mlua values for each of a state's dozens of globals cost more than the rest of
/// `go()` (194k instructions for ~90 globals, 49k this way).
fn user_global_names(
    lua: &Lua,
    globals: &Table,
    builtin: &NameSet,
) -> mlua::Result<Vec<Box<[u8]>>> {
    use mlua::ffi;
    let mut names = Vec::new();
    // Safety: `exec_raw` runs in protected mode with `globals` pushed; `lua_next` only sees keys
    // `globals` already has, and we pop every key/value pair it pushes. A Lua error can only come
    // from `lua_next`, when no Rust value is being built.
    unsafe {
        lua.exec_raw::<()>(globals, |state| {
            ffi::lua_pushnil(state);
            while ffi::lua_next(state, -2) != 0 {
                ffi::lua_settop(state, -2);
                if ffi::lua_type(state, -1) == ffi::LUA_TSTRING {
                    let mut len = 0;
                    let p = ffi::lua_tolstring(state, -1, &mut len);
                    let name = std::slice::from_raw_parts(p as *const u8, len);
                    if !builtin.contains(name) {
                        names.push(Box::from(name));
                    }
                }
            }
        })?;
    }
    Ok(names)
}

/// The user-defined globals of a state, each converted on its own so one that cannot cross is left
/// behind without stopping the others (SPEC §3).
pub struct GlobalsSnapshot {
    entries: Vec<GlobalCopy>,
}

/// One global's name and its copy, or why it stayed behind.
type GlobalCopy = (Box<[u8]>, Result<Value, String>);

impl GlobalsSnapshot {
    /// Copies every global that a fresh state does not have.
    pub fn take(lua: &Lua) -> mlua::Result<GlobalsSnapshot> {
        let kit = kit(lua)?;
        let globals = lua.globals();
        let names = user_global_names(lua, &globals, &kit.builtin_names.borrow())?;
        let mut user = Vec::with_capacity(names.len());
        for name in names {
            let v: LuaValue = globals.raw_get(lua.create_string(&name)?)?;
            user.push((name, v));
        }
        let mut entries = Vec::with_capacity(user.len());
        for (name, v) in user {
            let root = format!("global '{}'", String::from_utf8_lossy(&name));
            let converted = match &v {
                LuaValue::Table(_)
                | LuaValue::Function(_)
                | LuaValue::UserData(_)
                | LuaValue::Thread(_) => {
                    let mut enc = Encoder::new(lua, &kit);
                    enc.encode(&v)
                        .map(|top| enc.finish(top))
                        .map_err(|e| e.into_lua(&root).to_string())
                }
                _ => Value::from_lua(lua, &v, &root).map_err(|e| e.to_string()),
            };
            entries.push((name, converted));
        }
        Ok(GlobalsSnapshot { entries })
    }

    /// Installs the copies as globals of `lua`. Globals that stayed behind raise an error naming
    /// them and why when the goroutine touches them.
    pub fn install(&self, lua: &Lua) -> mlua::Result<()> {
        let globals = lua.globals();
        let mut behind: Option<Table> = None;
        for (name, v) in &self.entries {
            let key = lua.create_string(name)?;
            match v {
                Ok(v) => globals.raw_set(key, v.to_lua(lua)?)?,
                Err(why) => {
                    let t = match &behind {
                        Some(t) => t,
                        None => behind.insert(lua.create_table()?),
                    };
                    t.raw_set(key, why.as_str())?;
                }
            }
        }
        if let Some(behind) = behind {
            // The guard below takes `_G`'s metatable: every builtin family goes in first.
            super::lazy::load_all(lua)?;
            let guard: Function = lua
                .load(
                    r#"local behind = ...
                    return function(_, name)
                        local why = behind[name]
                        if why then
                            error("global '" .. tostring(name) .. "' stayed in the goroutine that started this one: " .. why, 2)
                        end
                    end"#,
                )
                .set_name("=go")
                .call(behind)?;
            let mt = lua.create_table()?;
            mt.raw_set("__index", guard)?;
            globals.set_metatable(Some(mt))?;
        }
        Ok(())
    }

    /// How many globals were copied.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no global was copied.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlua::StdLib;

    /// A state like the runtime's, with transfer helpers installed.
    fn state() -> Lua {
        let lua = unsafe { Lua::unsafe_new_with(StdLib::ALL, mlua::LuaOptions::default()) };
        let names = global_names(&lua).unwrap();
        install(&lua, Arc::new(names)).unwrap();
        lua
    }

    /// Evaluates `code` in a fresh state, moves its value to another fresh state and returns both.
    fn moved(code: &str) -> (Lua, LuaValue) {
        let a = state();
        let v: LuaValue = a.load(code).eval().unwrap();
        let val = Value::from_lua(&a, &v, "test value").unwrap();
        let b = state();
        let out = val.to_lua(&b).unwrap();
        (b, out)
    }

    fn check(lua: &Lua, v: LuaValue, test: &str) -> LuaValue {
        let f: Function = lua.load(test).eval().unwrap();
        f.call(v).unwrap()
    }

    #[test]
    fn scalars_keep_their_types() {
        let (b, v) = moved("return {1, 2.0, 'x\\0y', true, false, math.maxinteger, -0.0, 1/0}");
        let r = check(
            &b,
            v,
            "return function(t) return math.type(t[1]) == 'integer' and math.type(t[2]) == 'float'
             and t[3] == 'x\\0y' and t[4] == true and t[5] == false and t[6] == math.maxinteger
             and 1/t[7] == -1/0 and t[8] == 1/0 end",
        );
        assert_eq!(r, LuaValue::Boolean(true));
    }

    #[test]
    fn strings_of_every_length_cross_intact_as_keys_and_values() {
        // 22 bytes is the longest kept inline; 23 the shortest on the heap.
        let (b, v) = moved(
            "local t = {} for _, n in ipairs({0, 1, 21, 22, 23, 100, 5000}) do
                 local s = ('\0ab'):rep(n):sub(1, n)
                 t[s] = s .. '!'; t[#t + 1] = s
             end return t",
        );
        let r = check(
            &b,
            v,
            "return function(t) local ok = #t == 7
                 for i, n in ipairs({0, 1, 21, 22, 23, 100, 5000}) do
                     local s = ('\0ab'):rep(n):sub(1, n)
                     ok = ok and t[i] == s and #t[i] == n and t[s] == s .. '!'
                 end return ok end",
        );
        assert_eq!(r, LuaValue::Boolean(true));
        assert_eq!(std::mem::size_of::<Value>(), 24);
    }

    #[test]
    fn tables_mixing_scalars_and_tables_keep_everything() {
        // Scalar entries take the C API path, the table-valued ones the general one; a table key
        // sends the whole table the general way.
        let (b, v) = moved(
            "local shared = {x = 1}
             return {a = 1, b = 'two', c = {3}, d = shared, e = shared, [true] = json_null or false,
                     nested = {[{k = 'table key'}] = 'v', plain = 2.5}}",
        );
        let r = check(
            &b,
            v,
            "return function(t)
                 local tk
                 for k in pairs(t.nested) do if type(k) == 'table' then tk = k end end
                 return t.a == 1 and t.b == 'two' and t.c[1] == 3 and t.d == t.e and t.d.x == 1
                     and tk.k == 'table key' and t.nested[tk] == 'v' and t.nested.plain == 2.5
             end",
        );
        assert_eq!(r, LuaValue::Boolean(true));
    }

    #[test]
    fn closure_with_upvalues_runs_in_the_other_state() {
        let (b, v) =
            moved("local a, b, c = 10, 'x', {n = 5}; return function(k) return a + c.n + k, b end");
        let f = v.as_function().unwrap();
        let (n, s): (i64, String) = f.call(1).unwrap();
        assert_eq!((n, s.as_str()), (16, "x"));
        drop(b);
    }

    #[test]
    fn env_is_rebound_to_the_receivers_globals() {
        let (b, v) = moved("return function() return marker end");
        b.globals().set("marker", "receiver's").unwrap();
        let s: String = v.as_function().unwrap().call(()).unwrap();
        assert_eq!(s, "receiver's");
    }

    #[test]
    fn cycles_and_shared_references_keep_their_shape() {
        let (b, v) =
            moved("local t = {name = 't'}; t.self = t; local s = {}; t.a = s; t.b = s; return t");
        let r = check(
            &b,
            v,
            "return function(t) return t.self == t and t.a == t.b and t.a ~= nil end",
        );
        assert_eq!(r, LuaValue::Boolean(true));
    }

    #[test]
    fn nested_tables_and_module_of_functions() {
        let (b, v) = moved(
            "local M = {} local count = 0
             function M.add(a, b) count = count + 1 return a + b end
             function M.twice(x) return M.add(x, x) end
             function M.count() return count end
             M.data = {deep = {deeper = {1, 2, {3}}}}
             return M",
        );
        let r = check(
            &b,
            v,
            "return function(M) return M.twice(21) == 42 and M.count() == 1 and M.data.deep.deeper[3][1] == 3 end",
        );
        assert_eq!(r, LuaValue::Boolean(true));
    }

    #[test]
    fn shared_upvalues_stay_shared() {
        let (b, v) = moved(
            "local n = 0
             local function inc() n = n + 1 end
             local function get() return n end
             return {inc = inc, get = get}",
        );
        let r = check(
            &b,
            v,
            "return function(t) t.inc() t.inc() return t.get() end",
        );
        assert_eq!(r, LuaValue::Integer(2));
    }

    #[test]
    fn builtins_cross_by_reference() {
        let (b, v) =
            moved("local fmt, s = string.format, string; return {fmt, s, print, math.floor}");
        let r = check(
            &b,
            v,
            "return function(t) return t[1] == string.format and t[2] == string and t[3] == print and t[4] == math.floor end",
        );
        assert_eq!(r, LuaValue::Boolean(true));
    }

    #[test]
    fn json_null_crosses_as_itself() {
        let a = state();
        let val = Value::from_lua(&a, &LuaValue::NULL, "x").unwrap();
        assert!(matches!(val, Value::JsonNull));
        assert_eq!(val.to_lua(&state()).unwrap(), LuaValue::NULL);
    }

    #[test]
    fn coroutine_upvalue_is_refused_with_its_path() {
        let a = state();
        let v: LuaValue = a
            .load("local co = coroutine.create(print)\nreturn function() return co end")
            .set_name("@main.lua")
            .eval()
            .unwrap();
        let err = Value::from_lua(&a, &v, "argument #1 to 'go'")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cannot send a coroutine to another goroutine (upvalue 'co' of function at main.lua:2 of argument #1 to 'go')"),
            "{err}"
        );
    }

    #[test]
    fn nested_bad_value_names_its_field() {
        let a = state();
        let v: LuaValue = a
            .load("return {cfg = {co = coroutine.create(print)}}")
            .eval()
            .unwrap();
        let err = Value::from_lua(&a, &v, "value sent")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("(field 'co' of field 'cfg' of value sent)"),
            "{err}"
        );
    }

    #[test]
    fn untransferable_metatable_is_left_behind() {
        let (b, v) = moved("return setmetatable({x = 1}, {co = coroutine.create(print)})");
        let r = check(
            &b,
            v,
            "return function(t) return t.x == 1 and getmetatable(t) == nil end",
        );
        assert_eq!(r, LuaValue::Boolean(true));
    }

    #[test]
    fn transferable_metatable_is_copied() {
        let (b, v) =
            moved("return setmetatable({}, {__index = function(_, k) return k .. '!' end})");
        let r = check(&b, v, "return function(t) return t.hi end");
        assert_eq!(r, LuaValue::String(b.create_string("hi!").unwrap()));
    }

    #[test]
    fn table_built_in_rust_becomes_a_lua_table() {
        let b = state();
        let v = Value::table(vec![
            (
                Value::Str(b"data"[..].into()),
                Value::Str(b"hi\0"[..].into()),
            ),
            (Value::Str(b"port"[..].into()), Value::Int(53)),
        ]);
        let out = v.to_lua(&b).unwrap();
        let r = check(
            &b,
            out,
            "return function(t) return t.data == 'hi\\0' and math.type(t.port) == 'integer' and t.port == 53 end",
        );
        assert_eq!(r, LuaValue::Boolean(true));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let a = state();
        let v: LuaValue = a
            .load("local t = {} for i = 1, 10000 do t = {t} end return t")
            .eval()
            .unwrap();
        let err = Value::from_lua(&a, &v, "x").unwrap_err().to_string();
        assert!(err.contains("nested deeper than"), "{err}");
    }

    #[test]
    fn globals_snapshot_copies_user_globals_and_leaves_bad_ones_behind() {
        let a = state();
        a.load(
            "counter = 41 function bump() counter = counter + 1 return counter end
             config = {name = 'x'} co = coroutine.create(print)",
        )
        .exec()
        .unwrap();
        let snap = GlobalsSnapshot::take(&a).unwrap();
        assert_eq!(snap.len(), 4);
        let b = state();
        snap.install(&b).unwrap();
        let n: i64 = b.load("return bump()").eval().unwrap();
        assert_eq!(n, 42);
        let name: String = b.load("return config.name").eval().unwrap();
        assert_eq!(name, "x");
        let err = b
            .load("return co")
            .eval::<LuaValue>()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("global 'co' stayed in the goroutine that started this one"),
            "{err}"
        );
        // The original is unchanged: copies never flow back.
        let n: i64 = a.load("return counter").eval().unwrap();
        assert_eq!(n, 41);
    }

    #[test]
    fn values_are_send() {
        fn is_send<T: Send + Sync>() {}
        is_send::<Value>();
        let (tx, rx) = std::sync::mpsc::channel();
        let a = state();
        let v: LuaValue = a
            .load("return {1, {2}, function(x) return x * 2 end}")
            .eval()
            .unwrap();
        tx.send(Value::from_lua(&a, &v, "x").unwrap()).unwrap();
        let handle = std::thread::spawn(move || {
            let val = rx.recv().unwrap();
            let b = state();
            let t = val.to_lua(&b).unwrap();
            let f: Function = b
                .load("return function(t) return t[3](t[2][1]) end")
                .eval()
                .unwrap();
            f.call::<i64>(t).unwrap()
        });
        assert_eq!(handle.join().unwrap(), 4);
    }
}
