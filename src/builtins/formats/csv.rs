//! `csv` (the `csv` crate, RFC 4180): `parse`/`stringify` and the file forms `read`/`write`. Fields
//! are strings (bytes as they are: no UTF-8 requirement); with `{header = true}` rows are tables
//! keyed by column. Every record must have as many fields as the first (as Go's `encoding/csv`).

use super::{one, path_arg, refuse, written, Builtin};
use crate::builtins::{fs, serde_lua};
use crate::runtime::args::{self, check_string, type_name};
use mlua::{Lua, MultiValue, Table, Value as LuaValue};

pub(super) const FUNCTIONS: &[(&str, Builtin)] = &[
    ("parse", parse),
    ("stringify", stringify),
    ("read", read),
    ("write", write),
];

/// Options shared by every `csv` function.
struct Options {
    header: bool,
    delimiter: u8,
    /// Column order for `stringify` with `header`.
    columns: Option<Vec<Vec<u8>>>,
}

fn options(a: &MultiValue, pos: usize, func: &str) -> mlua::Result<Options> {
    let opts = args::opt_table(a, pos, func)?;
    let header = args::bool_option(opts.as_ref(), "header", false, pos, func)?;
    let mut delimiter = b',';
    let mut columns = None;
    if let Some(opts) = &opts {
        match opts.get::<LuaValue>("delimiter")? {
            LuaValue::Nil => {}
            LuaValue::String(s)
                if s.as_bytes().len() == 1 && !matches!(s.as_bytes()[0], b'"' | b'\n' | b'\r') =>
            {
                delimiter = s.as_bytes()[0]
            }
            _ => {
                return Err(args::arg_error(
                    pos,
                    func,
                    "delimiter must be one byte other than a quote or a line break",
                ))
            }
        }
        match opts.get::<LuaValue>("columns")? {
            LuaValue::Nil => {}
            LuaValue::Table(t) => {
                let mut names = Vec::new();
                for v in t.sequence_values::<LuaValue>() {
                    match v? {
                        LuaValue::String(s) => names.push(s.as_bytes().to_vec()),
                        _ => return Err(args::arg_error(pos, func, "columns must be strings")),
                    }
                }
                columns = Some(names);
            }
            _ => {
                return Err(args::arg_error(
                    pos,
                    func,
                    "columns must be an array of names",
                ))
            }
        }
    }
    Ok(Options {
        header,
        delimiter,
        columns,
    })
}

/// `line 3: 2 fields, expected 3`.
fn describe(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => {
            let line = pos.as_ref().map_or(0, |p| p.line());
            format!("line {line}: a record of {len} fields, expected {expected_len} (as the first record)")
        }
        _ => e.to_string(),
    }
}

/// Where a quoted field opens that never closes (line and column, 1-based, columns in
/// characters), read as the `csv` crate reads quotes: special at a field's start only, `""`
/// inside a quoted field is a quote. The crate takes such a field to the end of the input without
/// a word; a file cut in the middle of a quoted field must be an error instead.
fn unterminated_quote(input: &[u8], delimiter: u8) -> Option<(usize, usize)> {
    let (mut line, mut col) = (1, 0);
    let mut field_start = true;
    let mut open: Option<(usize, usize)> = None;
    let mut bytes = input.iter().copied().peekable();
    while let Some(b) = bytes.next() {
        if b & 0xC0 != 0x80 {
            col += 1;
        }
        if open.is_some() {
            if b == b'"' {
                if bytes.peek() == Some(&b'"') {
                    bytes.next();
                    col += 1;
                } else {
                    open = None;
                }
            }
        } else if field_start && b == b'"' {
            open = Some((line, col));
        }
        field_start = open.is_none() && (b == delimiter || b == b'\n' || b == b'\r');
        if b == b'\n' {
            line += 1;
            col = 0;
        }
    }
    open
}

/// Records of `input` as Lua rows: arrays of strings, or tables keyed by the header's names.
fn parse_rows(lua: &Lua, input: &[u8], opts: &Options) -> mlua::Result<Result<Table, String>> {
    if let Some((line, col)) = unterminated_quote(input, opts.delimiter) {
        return Ok(Err(format!(
            "line {line}, column {col}: a quoted field that never closes"
        )));
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(opts.delimiter)
        .flexible(false)
        .from_reader(input);
    let rows = lua.create_table()?;
    let mut names: Option<Vec<mlua::LuaString>> = None;
    let mut n = 0;
    for record in reader.byte_records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => return Ok(Err(describe(&e))),
        };
        if opts.header && names.is_none() {
            names = Some(
                record
                    .iter()
                    .map(|f| lua.create_string(f))
                    .collect::<mlua::Result<_>>()?,
            );
            continue;
        }
        let row = lua.create_table_with_capacity(record.len(), 0)?;
        for (i, field) in record.iter().enumerate() {
            match &names {
                Some(names) => row.raw_set(&names[i], lua.create_string(field)?)?,
                None => row.raw_set(i + 1, lua.create_string(field)?)?,
            }
        }
        n += 1;
        rows.raw_set(n, row)?;
    }
    if n == 0 {
        rows.set_metatable(Some(serde_lua::array_metatable(lua)?))?;
    }
    Ok(Ok(rows))
}

fn parse(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let text = check_string(lua, &a, 1, "csv.parse")?;
    let opts = options(&a, 2, "csv.parse")?;
    match parse_rows(lua, &text.as_bytes(), &opts)? {
        Ok(rows) => one(lua, rows),
        Err(why) => refuse(lua, "csv.parse", why),
    }
}

fn read(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let path = path_arg(lua, &a, 1, "csv.read")?;
    let opts = options(&a, 2, "csv.read")?;
    let data = match fs::read_file(&path) {
        Ok(d) => d,
        Err(e) => return args::nil_err(lua, e),
    };
    match parse_rows(lua, &data, &opts)? {
        Ok(rows) => one(lua, rows),
        Err(why) => refuse(
            lua,
            &format!("csv.read {}", String::from_utf8_lossy(&path)),
            why,
        ),
    }
}

/// One field as CSV text: strings as they are, numbers as `tostring` shows them, booleans,
/// and nothing for a missing value or `json_null`.
fn field_text(lua: &Lua, v: &LuaValue) -> Result<Vec<u8>, &'static str> {
    match v {
        LuaValue::String(s) => Ok(s.as_bytes().to_vec()),
        LuaValue::Integer(_) | LuaValue::Number(_) => match lua.coerce_string(v.clone()) {
            Ok(Some(s)) => Ok(s.as_bytes().to_vec()),
            _ => Err("number"),
        },
        LuaValue::Boolean(b) => Ok(b.to_string().into_bytes()),
        LuaValue::Nil => Ok(Vec::new()),
        LuaValue::LightUserData(p) if p.0.is_null() => Ok(Vec::new()),
        other => Err(type_name(other)),
    }
}

/// The rows as CSV text (raises on a value a field cannot hold).
fn render(lua: &Lua, rows: &Table, opts: &Options, func: &str) -> mlua::Result<Vec<u8>> {
    let mut writer = csv::WriterBuilder::new()
        .delimiter(opts.delimiter)
        .terminator(csv::Terminator::Any(b'\n'))
        .flexible(true)
        .from_writer(Vec::new());
    let count = rows.raw_len();
    let columns: Option<Vec<Vec<u8>>> = match (&opts.columns, opts.header) {
        (Some(c), _) => Some(c.clone()),
        (None, true) => Some(column_names(rows, count)?),
        (None, false) => None,
    };
    let fail = |e: csv::Error| mlua::Error::runtime(format!("{func}: {e}"));
    if let Some(columns) = &columns {
        writer.write_record(columns).map_err(fail)?;
    }
    for r in 1..=count {
        let row = match rows.raw_get::<LuaValue>(r)? {
            LuaValue::Table(t) => t,
            other => {
                return Err(mlua::Error::runtime(format!(
                    "{func}: row {r} is a {}, not a table",
                    type_name(&other)
                )))
            }
        };
        let values: Vec<LuaValue> = match &columns {
            Some(columns) => columns
                .iter()
                .map(|c| row.raw_get::<LuaValue>(lua.create_string(c)?))
                .collect::<mlua::Result<_>>()?,
            None => (1..=row.raw_len())
                .map(|i| row.raw_get::<LuaValue>(i))
                .collect::<mlua::Result<_>>()?,
        };
        let mut record = Vec::with_capacity(values.len());
        for (i, v) in values.iter().enumerate() {
            record.push(field_text(lua, v).map_err(|what| {
                mlua::Error::runtime(format!(
                    "{func}: row {r}, field {}: cannot write a {what}",
                    i + 1
                ))
            })?);
        }
        writer.write_record(&record).map_err(fail)?;
    }
    writer
        .into_inner()
        .map_err(|e| mlua::Error::runtime(format!("{func}: {}", e.error())))
}

/// Without `columns`: every string key of every row, sorted (a stable header for rows keyed by
/// column).
fn column_names(rows: &Table, count: usize) -> mlua::Result<Vec<Vec<u8>>> {
    let mut names = std::collections::BTreeSet::new();
    for r in 1..=count {
        if let LuaValue::Table(row) = rows.raw_get::<LuaValue>(r)? {
            row.for_each(|k: LuaValue, _: LuaValue| {
                if let LuaValue::String(s) = k {
                    names.insert(s.as_bytes().to_vec());
                }
                Ok(())
            })?;
        }
    }
    Ok(names.into_iter().collect())
}

fn rows_arg(a: &MultiValue, pos: usize, func: &str) -> mlua::Result<Table> {
    match a.get(pos - 1) {
        Some(LuaValue::Table(t)) => Ok(t.clone()),
        other => Err(args::bad_argument(pos, func, "table", other)),
    }
}

fn stringify(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let func = "csv.stringify";
    let rows = rows_arg(&a, 1, func)?;
    let opts = options(&a, 2, func)?;
    let text = render(lua, &rows, &opts, func)?;
    one(lua, lua.create_string(text)?)
}

fn write(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let func = "csv.write";
    let path = path_arg(lua, &a, 1, func)?;
    let rows = rows_arg(&a, 2, func)?;
    let opts = options(&a, 3, func)?;
    let text = render(lua, &rows, &opts, func)?;
    written(lua, fs::write_file(&path, &text))
}

#[cfg(test)]
mod tests {
    use super::unterminated_quote;

    #[test]
    fn quotes_that_never_close_are_found_where_they_open() {
        assert_eq!(unterminated_quote(b"a,b\n1,\"x\n", b','), Some((2, 3)));
        assert_eq!(unterminated_quote(b"\"", b','), Some((1, 1)));
        assert_eq!(
            unterminated_quote("é,\"ab\"\"".as_bytes(), b','),
            Some((1, 3))
        );
        assert_eq!(unterminated_quote(b"a;\"x", b';'), Some((1, 3)));
        for fine in [
            &b"a,b\n"[..],
            b"\"x, \"\"y\"\"\",z\n",
            b"\"two\nlines\",c",
            b"ab\"c,d",
            b"\"\"",
            b"",
        ] {
            assert_eq!(unterminated_quote(fine, b','), None, "{fine:?}");
        }
    }
}
