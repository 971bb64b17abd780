//! `tablex`: table helpers (SPEC §14). Everything reads tables raw (no metamethods); walks over
//! nested tables use an explicit stack, never recursion, so no nesting depth can overflow a
//! goroutine's small stack; cycles are kept (`deepcopy`) or detected (`flatten`, `pretty`); sizes
//! and steps that could loop forever are errors.

use crate::builtins::catalog::{self, f};
use crate::builtins::support::{check_function, check_integer, check_table, opt_integer};
use crate::runtime::args::{arg_error, bad_argument};
use mlua::{IntoLuaMulti, Lua, MultiValue, Table, Value as LuaValue};
use std::collections::HashMap;

/// The tablex family's catalog rows.
pub const CATALOG: &[catalog::Builtin] = &[
    catalog::table(
        "tablex",
        "Table helpers: copies, comparison, functional helpers, slicing, pretty-printing.",
    ),
    f(
        "tablex.copy",
        &["t: table"],
        &["table"],
        "Shallow copy (same metatable).",
    ),
    f(
        "tablex.deepcopy",
        &["t: any"],
        &["any"],
        "Deep copy keeping cycles, shared tables and metatables.",
    ),
    f(
        "tablex.compare",
        &["a: any", "b: any"],
        &["boolean"],
        "Deep equality of contents (both ways).",
    ),
    f(
        "tablex.map",
        &["t: table", "fn: fun(v: any, k: any): any"],
        &["table"],
        "`fn(v, k)` for each entry, same keys.",
    ),
    f(
        "tablex.filter",
        &["t: table", "fn: fun(v: any, k: any): any"],
        &["table"],
        "Entries for which `fn(v, k)` is true; the array part stays an array.",
    ),
    f(
        "tablex.reduce",
        &["t: any[]", "fn: fun(acc: any, v: any): any", "init?: any"],
        &["any"],
        "Folds the array from the left.",
    ),
    f(
        "tablex.flatten",
        &["t: any[]", "depth?: integer"],
        &["any[]"],
        "Flattens nested arrays (all levels, or `depth`).",
    ),
    f(
        "tablex.keys",
        &["t: table"],
        &["any[]"],
        "The keys (the array part first, in order).",
    ),
    f(
        "tablex.values",
        &["t: table"],
        &["any[]"],
        "The values (the array part first, in order).",
    ),
    f(
        "tablex.slice",
        &["t: any[]", "i?: integer", "j?: integer", "step?: integer"],
        &["any[]"],
        "Items `i..j` (negative counts from the end) every `step`.",
    ),
    f(
        "tablex.partition",
        &["t: any[]", "size: integer"],
        &["any[][]"],
        "Chunks of `size` items.",
    ),
    f(
        "tablex.rotate",
        &["t: any[]", "n?: integer"],
        &["any[]"],
        "The array rotated left by `n` (default 1; negative: right).",
    ),
    f(
        "tablex.shuffle",
        &["t: any[]"],
        &["any[]"],
        "A shuffled copy of the array.",
    ),
    f(
        "tablex.merge",
        &["...: table"],
        &["table"],
        "A new table with the entries of each argument, later ones winning.",
    ),
    f(
        "tablex.pretty",
        &["t: any", "indent?: integer"],
        &["string"],
        "Readable text of a value, keys sorted.",
    ),
    f(
        "tablex.permute",
        &["t: any[]"],
        &["any[][]"],
        "Every permutation of the array.",
    ),
    f(
        "tablex.combinations",
        &["t: any[]", "r: integer"],
        &["any[][]"],
        "Every combination of `r` items.",
    ),
];

/// Largest result `permute`/`combinations` build.
const MAX_COMBINATIONS: u64 = 1_000_000;

type TableFn = fn(&Lua, MultiValue) -> mlua::Result<MultiValue>;

const FUNCTIONS: &[(&str, TableFn)] = &[
    ("copy", copy),
    ("deepcopy", deepcopy),
    ("compare", compare),
    ("map", map),
    ("filter", filter),
    ("reduce", reduce),
    ("flatten", flatten),
    ("keys", keys),
    ("values", values),
    ("slice", slice),
    ("partition", partition),
    ("rotate", rotate),
    ("shuffle", shuffle),
    ("merge", merge),
    ("pretty", pretty),
    ("permute", permute),
    ("combinations", combinations),
];

/// Installs the `tablex` table.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    let t = lua.create_table_with_capacity(0, FUNCTIONS.len())?;
    for &(name, func) in FUNCTIONS {
        t.raw_set(name, lua.create_function(func)?)?;
    }
    lua.globals().set("tablex", t)
}

fn one(lua: &Lua, v: impl IntoLuaMulti) -> mlua::Result<MultiValue> {
    v.into_lua_multi(lua)
}

fn pairs(t: &Table) -> mlua::Result<Vec<(LuaValue, LuaValue)>> {
    let mut out = Vec::new();
    t.for_each(|k: LuaValue, v: LuaValue| {
        out.push((k, v));
        Ok(())
    })?;
    Ok(out)
}

/// The array part `t[1..#t]` (raw).
fn array(t: &Table) -> mlua::Result<Vec<LuaValue>> {
    let n = t.raw_len();
    (1..=n).map(|i| t.raw_get(i)).collect()
}

fn array_table(lua: &Lua, items: impl IntoIterator<Item = LuaValue>) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    for v in items {
        t.raw_push(v)?;
    }
    Ok(t)
}

fn copy(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let t = check_table(&args, 1, "copy")?;
    let out = lua.create_table()?;
    for (k, v) in pairs(&t)? {
        out.raw_set(k, v)?;
    }
    out.set_metatable(t.metatable())?;
    one(lua, out)
}

/// Copies every table reachable from `v` once (keys too), so shared tables stay shared and cycles
/// stay cycles; metatables are kept as they are.
fn deepcopy(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let root = args.front().cloned().unwrap_or(LuaValue::Nil);
    let LuaValue::Table(root_table) = &root else {
        return one(lua, root);
    };
    let mut copies: HashMap<usize, Table> = HashMap::new();
    let mut todo: Vec<Table> = Vec::new();
    let mut copy_of = |t: &Table, todo: &mut Vec<Table>| -> mlua::Result<Table> {
        let id = t.to_pointer() as usize;
        if let Some(c) = copies.get(&id) {
            return Ok(c.clone());
        }
        let c = lua.create_table()?;
        c.set_metatable(t.metatable())?;
        copies.insert(id, c.clone());
        todo.push(t.clone());
        Ok(c)
    };
    let result = copy_of(root_table, &mut todo)?;
    while let Some(src) = todo.pop() {
        let dst = copy_of(&src, &mut todo)?;
        for (k, v) in pairs(&src)? {
            let k = match k {
                LuaValue::Table(t) => LuaValue::Table(copy_of(&t, &mut todo)?),
                other => other,
            };
            let v = match v {
                LuaValue::Table(t) => LuaValue::Table(copy_of(&t, &mut todo)?),
                other => other,
            };
            dst.raw_set(k, v)?;
        }
    }
    one(lua, result)
}

/// Deep equality: same keys both ways, values equal (tables compared by contents). A pair of
/// tables met again while being compared counts as equal, so cycles end.
fn compare(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let a = args.front().cloned().unwrap_or(LuaValue::Nil);
    let b = args.get(1).cloned().unwrap_or(LuaValue::Nil);
    let mut seen = std::collections::HashSet::new();
    let mut todo = vec![(a, b)];
    while let Some((a, b)) = todo.pop() {
        let (ta, tb) = match (&a, &b) {
            (LuaValue::Table(ta), LuaValue::Table(tb)) => (ta, tb),
            _ => {
                if !raw_equal(&a, &b) {
                    return one(lua, false);
                }
                continue;
            }
        };
        if !seen.insert((ta.to_pointer() as usize, tb.to_pointer() as usize)) {
            continue;
        }
        let ea = pairs(ta)?;
        let mut count_b = 0usize;
        tb.for_each(|_: LuaValue, _: LuaValue| {
            count_b += 1;
            Ok(())
        })?;
        if ea.len() != count_b {
            return one(lua, false);
        }
        for (k, va) in ea {
            let vb: LuaValue = tb.raw_get(k)?;
            if vb.is_nil() {
                return one(lua, false);
            }
            todo.push((va, vb));
        }
    }
    one(lua, true)
}

/// Lua's raw equality (`1 == 1.0`, NaN unequal to itself).
fn raw_equal(a: &LuaValue, b: &LuaValue) -> bool {
    match (a, b) {
        (LuaValue::Integer(x), LuaValue::Number(y))
        | (LuaValue::Number(y), LuaValue::Integer(x)) => *x as f64 == *y && (*y as i64) == *x,
        _ => a == b,
    }
}

fn map(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let t = check_table(&args, 1, "map")?;
    let func = check_function(&args, 2, "map")?;
    let out = lua.create_table()?;
    for (k, v) in pairs(&t)? {
        let nv: LuaValue = func.call((v, k.clone()))?;
        out.raw_set(k, nv)?;
    }
    one(lua, out)
}

/// Keeps the entries `fn` accepts: the array part is compacted (a new array), other keys stay.
fn filter(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let t = check_table(&args, 1, "filter")?;
    let func = check_function(&args, 2, "filter")?;
    let n = t.raw_len() as i64;
    let out = lua.create_table()?;
    for (k, v) in pairs(&t)? {
        let keep: LuaValue = func.call((v.clone(), k.clone()))?;
        if !(keep.is_nil() || keep == LuaValue::Boolean(false)) {
            match k {
                LuaValue::Integer(i) if (1..=n).contains(&i) => out.raw_push(v)?,
                k => out.raw_set(k, v)?,
            }
        }
    }
    one(lua, out)
}

fn reduce(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let t = check_table(&args, 1, "reduce")?;
    let func = check_function(&args, 2, "reduce")?;
    let mut items = array(&t)?.into_iter();
    let mut acc = match args.get(2) {
        Some(v) if args.len() >= 3 => v.clone(),
        _ => items.next().unwrap_or(LuaValue::Nil),
    };
    for v in items {
        acc = func.call::<LuaValue>((acc, v))?;
    }
    one(lua, acc)
}

/// Flattens nested arrays up to `depth` levels (negative: all); a cycle is an error.
fn flatten(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let t = check_table(&args, 1, "flatten")?;
    let depth = opt_integer(&args, 2, "flatten", -1)?;
    let out = lua.create_table()?;
    // Each frame: a table, the next index, and its pointer (for cycle detection).
    let mut stack: Vec<(Table, i64, i64)> = vec![(t.clone(), 1, t.raw_len() as i64)];
    let mut path: std::collections::HashSet<usize> = [t.to_pointer() as usize].into();
    while let Some((table, i, n)) = stack.last_mut() {
        if *i > *n {
            path.remove(&(table.to_pointer() as usize));
            stack.pop();
            continue;
        }
        let v: LuaValue = table.raw_get(*i)?;
        *i += 1;
        let level = stack.len() as i64 - 1;
        match v {
            LuaValue::Table(inner) if depth < 0 || level < depth => {
                let id = inner.to_pointer() as usize;
                if !path.insert(id) {
                    return Err(mlua::Error::runtime("flatten: the table contains itself"));
                }
                let len = inner.raw_len() as i64;
                stack.push((inner, 1, len));
            }
            other => out.raw_push(other)?,
        }
    }
    one(lua, out)
}

fn keys(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let t = check_table(&args, 1, "keys")?;
    one(
        lua,
        array_table(lua, pairs(&t)?.into_iter().map(|(k, _)| k))?,
    )
}

fn values(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let t = check_table(&args, 1, "values")?;
    one(
        lua,
        array_table(lua, pairs(&t)?.into_iter().map(|(_, v)| v))?,
    )
}

/// A 1-based position that may count from the end (`-1` is the last), as `string.sub` reads it.
fn position(i: i64, len: i64) -> i64 {
    if i < 0 {
        (len + i + 1).max(0)
    } else {
        i
    }
}

fn slice(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let t = check_table(&args, 1, "slice")?;
    let len = t.raw_len() as i64;
    let i = position(opt_integer(&args, 2, "slice", 1)?, len).max(1);
    let j = position(opt_integer(&args, 3, "slice", -1)?, len).min(len);
    let step = opt_integer(&args, 4, "slice", 1)?;
    if step <= 0 {
        return Err(arg_error(4, "slice", "step must be positive"));
    }
    let out = lua.create_table()?;
    let mut k = i;
    while k <= j {
        out.raw_push(t.raw_get::<LuaValue>(k)?)?;
        k = match k.checked_add(step) {
            Some(k) => k,
            None => break,
        };
    }
    one(lua, out)
}

fn partition(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let t = check_table(&args, 1, "partition")?;
    let size = check_integer(&args, 2, "partition")?;
    if size <= 0 {
        return Err(arg_error(2, "partition", "size must be positive"));
    }
    let items = array(&t)?;
    let out = lua.create_table()?;
    for chunk in items.chunks(usize::try_from(size).unwrap_or(usize::MAX)) {
        out.raw_push(array_table(lua, chunk.iter().cloned())?)?;
    }
    one(lua, out)
}

fn rotate(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let t = check_table(&args, 1, "rotate")?;
    let n = opt_integer(&args, 2, "rotate", 1)?;
    let mut items = array(&t)?;
    if !items.is_empty() {
        let k = n.rem_euclid(items.len() as i64) as usize;
        items.rotate_left(k);
    }
    one(lua, array_table(lua, items)?)
}

fn shuffle(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let t = check_table(&args, 1, "shuffle")?;
    let mut items = array(&t)?;
    let mut rng = seed();
    for i in (1..items.len()).rev() {
        let j = (next_random(&mut rng) % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
    one(lua, array_table(lua, items)?)
}

/// A random seed from the standard library's per-process hash keys and the clock.
fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish() | 1
}

/// xorshift64*: plenty for shuffling (not for secrets).
fn next_random(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

fn merge(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let out = lua.create_table()?;
    for (i, a) in args.iter().enumerate() {
        match a {
            LuaValue::Table(t) => {
                for (k, v) in pairs(t)? {
                    out.raw_set(k, v)?;
                }
            }
            LuaValue::Nil => {}
            other => return Err(bad_argument(i + 1, "merge", "table", other)),
        }
    }
    one(lua, out)
}

fn pretty(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let v = args.front().cloned().unwrap_or(LuaValue::Nil);
    let indent = opt_integer(&args, 2, "pretty", 2)?;
    if !(0..=16).contains(&indent) {
        return Err(arg_error(2, "pretty", "indent must be from 0 to 16"));
    }
    let text = super::types::pretty_text(lua, &v, indent as usize)?;
    one(lua, LuaValue::String(lua.create_string(text)?))
}

fn check_count(count: Option<u64>, func: &str) -> mlua::Result<()> {
    match count {
        Some(c) if c <= MAX_COMBINATIONS => Ok(()),
        _ => Err(mlua::Error::runtime(format!(
            "{func}: more than {MAX_COMBINATIONS} results"
        ))),
    }
}

/// Every permutation, in lexicographic order of positions (Heap's order is harder to read).
fn permute(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let t = check_table(&args, 1, "permute")?;
    let items = array(&t)?;
    let count = (1..=items.len() as u64).try_fold(1u64, |acc, k| acc.checked_mul(k));
    check_count(count, "permute")?;
    let out = lua.create_table()?;
    let mut idx: Vec<usize> = (0..items.len()).collect();
    loop {
        out.raw_push(array_table(lua, idx.iter().map(|&i| items[i].clone()))?)?;
        // The next permutation of `idx`, or stop after the last.
        let Some(i) = (1..idx.len()).rev().find(|&i| idx[i - 1] < idx[i]) else {
            break;
        };
        let j = (i..idx.len())
            .rev()
            .find(|&j| idx[j] > idx[i - 1])
            .unwrap_or(i);
        idx.swap(i - 1, j);
        idx[i..].reverse();
    }
    one(lua, out)
}

fn combinations(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let t = check_table(&args, 1, "combinations")?;
    let r = check_integer(&args, 2, "combinations")?;
    if r <= 0 {
        return Err(arg_error(2, "combinations", "size must be positive"));
    }
    let items = array(&t)?;
    let n = items.len() as u64;
    let out = lua.create_table()?;
    let r = r as u64;
    if r > n {
        return one(lua, out);
    }
    // C(n, r), stopping at overflow.
    let count = (0..r).try_fold(1u64, |acc, k| acc.checked_mul(n - k).map(|v| v / (k + 1)));
    check_count(count, "combinations")?;
    let r = r as usize;
    let mut idx: Vec<usize> = (0..r).collect();
    loop {
        out.raw_push(array_table(lua, idx.iter().map(|&i| items[i].clone()))?)?;
        let Some(i) = (0..r).rev().find(|&i| idx[i] != i + items.len() - r) else {
            break;
        };
        idx[i] += 1;
        for j in i + 1..r {
            idx[j] = idx[j - 1] + 1;
        }
    }
    one(lua, out)
}
