//! `datetime` (SPEC §14): Unix seconds in and out, formatted and parsed with Go's reference layouts
//! (`layout.rs`) or strftime (a layout with `%`, chrono's own), in a named zone (chrono-tz, behind
//! the `timezones` feature), `"UTC"` or `"local"`; Go's durations (`duration.rs`).

pub mod duration;
pub mod layout;

use super::catalog::{self, f};
use super::support::{multi, opt_bytes};
use crate::runtime::args::{self, arg_error, bad_argument, check_string, nil_err};
use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{DateTime, LocalResult, NaiveDateTime, Offset, TimeZone, Utc};
use mlua::{Lua, MultiValue, Value as LuaValue};

/// The datetime family's catalog rows.
pub const CATALOG: &[catalog::Builtin] = &[
    catalog::table("datetime", "Dates and times as Unix seconds; Go layouts or strftime; named zones."),
    f("datetime.now", &[], &["integer"], "Unix seconds now."),
    f("datetime.now_ms", &[], &["integer"], "Unix milliseconds now."),
    f("datetime.format", &["ts: number", "layout?: string", "tz?: string"], &["string"], "Formats Unix seconds (fractions kept) with a Go layout, or strftime when it has `%` (default RFC 3339), in `tz` (a zone name, `\"UTC\"`, `\"local\"`: the default)."),
    f("datetime.parse", &["s: string", "layout?: string", "tz?: string"], &["number?", "string?"], "Unix seconds of `s`; `tz` applies when the text has no offset. `nil, err` if it does not parse."),
    f("datetime.add", &["ts: number", "d: string|number"], &["number"], "`ts` plus a duration (`\"1h30m\"`) or seconds."),
    f("datetime.diff", &["a: number", "b: number"], &["number"], "`a - b` in seconds."),
    f("datetime.duration", &["secs: number"], &["string"], "Seconds as a Go duration: `\"1h30m0s\"`."),
    f("datetime.parse_duration", &["s: string"], &["number?", "string?"], "Seconds in a Go duration (`\"1h30m\"`, `\"250ms\"`); `nil, err` if invalid."),
];

/// Go's `time.RFC3339`.
const RFC3339: &str = "2006-01-02T15:04:05Z07:00";

type DateFn = fn(&Lua, MultiValue) -> mlua::Result<MultiValue>;

const FUNCTIONS: &[(&str, DateFn)] = &[
    ("now", now),
    ("now_ms", now_ms),
    ("format", format),
    ("parse", parse),
    ("add", add),
    ("diff", diff),
    ("duration", duration_fn),
    ("parse_duration", parse_duration),
];

/// Installs the `datetime` table.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    let t = lua.create_table_with_capacity(0, FUNCTIONS.len())?;
    for &(name, func) in FUNCTIONS {
        t.raw_set(name, lua.create_function(func)?)?;
    }
    lua.globals().set("datetime", t)
}

/// A time zone argument.
#[derive(Clone)]
pub enum Zone {
    Utc,
    #[cfg(feature = "timezones")]
    Named(chrono_tz::Tz),
    /// The C library's idea of local time (a `TZ` rule chrono-tz does not name).
    Local,
}

impl Zone {
    /// `"UTC"`, `"local"` or an IANA name (`"Europe/Paris"`).
    pub fn from_name(name: &str) -> Result<Zone, String> {
        match name {
            "UTC" | "utc" | "Z" => Ok(Zone::Utc),
            "local" | "Local" => Ok(local_zone()),
            #[cfg(feature = "timezones")]
            other => other
                .parse::<chrono_tz::Tz>()
                .map(Zone::Named)
                .map_err(|_| format!("unknown time zone \"{other}\"")),
            #[cfg(not(feature = "timezones"))]
            other => Err(format!(
                "unknown time zone \"{other}\" (named zones need the `timezones` feature)"
            )),
        }
    }
}

/// The local zone by its IANA name where one is known (so `MST` prints its abbreviation): `TZ`
/// first, then the system's setting; the C library's rules otherwise.
fn local_zone() -> Zone {
    let name = match std::env::var("TZ") {
        Ok(tz) if tz.is_empty() => return Zone::Utc,
        Ok(tz) => {
            let tz = tz.trim_start_matches(':');
            tz.split_once("zoneinfo/")
                .map_or(tz, |(_, n)| n)
                .to_string()
        }
        Err(_) => match iana_time_zone::get_timezone() {
            Ok(n) => n,
            // No /etc/localtime: UTC, as the C library and Go do.
            Err(_) if !std::path::Path::new("/etc/localtime").exists() => return Zone::Utc,
            Err(_) => return Zone::Local,
        },
    };
    if name == "UTC" || name == "Etc/UTC" {
        return Zone::Utc;
    }
    #[cfg(feature = "timezones")]
    if let Ok(tz) = name.parse::<chrono_tz::Tz>() {
        return Zone::Named(tz);
    }
    Zone::Local
}

fn zone_arg(lua: &Lua, args: &MultiValue, pos: usize, func: &str) -> mlua::Result<Zone> {
    match opt_bytes(lua, args, pos, func)? {
        None => Ok(local_zone()),
        Some(name) => {
            Zone::from_name(&String::from_utf8_lossy(&name)).map_err(|e| arg_error(pos, func, &e))
        }
    }
}

/// How a layout is read: Go's reference layout, or strftime when it has a `%`.
enum Layout {
    Go(Vec<layout::Piece>),
    Strftime(Vec<Item<'static>>),
}

fn layout_arg(lua: &Lua, args: &MultiValue, pos: usize, func: &str) -> mlua::Result<Layout> {
    let text = match opt_bytes(lua, args, pos, func)? {
        Some(b) => String::from_utf8(b).map_err(|_| arg_error(pos, func, "layout is not UTF-8"))?,
        None => RFC3339.to_string(),
    };
    if text.contains('%') {
        StrftimeItems::new(&text)
            .parse_to_owned()
            .map(Layout::Strftime)
            .map_err(|_| arg_error(pos, func, &format!("invalid strftime layout \"{text}\"")))
    } else {
        Ok(Layout::Go(layout::translate(&text)))
    }
}

/// A number argument as whole seconds and nanoseconds (`1.5` → `(1, 500000000)`).
fn timestamp_arg(args: &MultiValue, pos: usize, func: &str) -> mlua::Result<(i64, u32)> {
    match args.get(pos - 1) {
        Some(LuaValue::Integer(i)) => Ok((*i, 0)),
        _ => {
            let n = args::check_number(args, pos, func)?;
            if !n.is_finite() || n.abs() >= 1e15 {
                return Err(arg_error(pos, func, "timestamp out of range"));
            }
            let secs = n.floor();
            let nanos = ((n - secs) * 1e9).round().min(999_999_999.0) as u32;
            Ok((secs as i64, nanos))
        }
    }
}

fn now(_lua: &Lua, _args: MultiValue) -> mlua::Result<MultiValue> {
    Ok(multi([LuaValue::Integer(Utc::now().timestamp())]))
}

fn now_ms(_lua: &Lua, _args: MultiValue) -> mlua::Result<MultiValue> {
    Ok(multi([LuaValue::Integer(Utc::now().timestamp_millis())]))
}

fn format(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let (secs, nanos) = timestamp_arg(&args, 1, "format")?;
    let layout = layout_arg(lua, &args, 2, "format")?;
    let zone = zone_arg(lua, &args, 3, "format")?;
    let utc = DateTime::from_timestamp(secs, nanos)
        .ok_or_else(|| arg_error(1, "format", "timestamp out of range"))?;
    let text = match zone {
        Zone::Utc => format_in(&utc, &layout),
        #[cfg(feature = "timezones")]
        Zone::Named(tz) => format_in(&utc.with_timezone(&tz), &layout),
        Zone::Local => format_in(&utc.with_timezone(&chrono::Local), &layout),
    }
    .map_err(|_| mlua::Error::runtime("format: the layout cannot print this time"))?;
    Ok(multi([LuaValue::String(lua.create_string(text)?)]))
}

fn format_in<Tz: TimeZone>(dt: &DateTime<Tz>, layout: &Layout) -> Result<String, std::fmt::Error>
where
    Tz::Offset: std::fmt::Display,
{
    match layout {
        Layout::Go(pieces) => layout::format(dt, pieces),
        Layout::Strftime(items) => {
            use std::fmt::Write as _;
            let mut out = String::new();
            write!(out, "{}", dt.format_with_items(items.iter()))?;
            Ok(out)
        }
    }
}

fn parse(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let text = check_string(lua, &args, 1, "parse")?;
    let layout = layout_arg(lua, &args, 2, "parse")?;
    let zone = zone_arg(lua, &args, 3, "parse")?;
    let text = text.to_string_lossy();
    match parse_text(&text, &layout, &zone) {
        Ok((secs, nanos)) => Ok(multi([seconds_value(secs, nanos)])),
        Err(e) => nil_err(lua, format!("parsing time \"{text}\": {e}")),
    }
}

/// Unix seconds of `text`, read with `layout` in `zone` when the text carries no offset.
fn parse_text(text: &str, layout: &Layout, zone: &Zone) -> Result<(i64, u32), String> {
    let mut parsed = Parsed::new();
    let mut zone_name = None;
    match layout {
        Layout::Go(pieces) => zone_name = layout::parse(text, pieces, &mut parsed)?.zone_name,
        Layout::Strftime(items) => {
            chrono::format::parse(&mut parsed, text, items.iter()).map_err(|e| e.to_string())?
        }
    }
    // Go's defaults for what the layout leaves out: year 0, January 1, midnight.
    if parsed.year().is_none() && parsed.year_mod_100().is_none() && parsed.timestamp().is_none() {
        let _ = parsed.set_year(0);
    }
    if parsed.month().is_none() && parsed.ordinal().is_none() {
        let _ = parsed.set_month(1);
    }
    if parsed.day().is_none() && parsed.ordinal().is_none() {
        let _ = parsed.set_day(1);
    }
    if parsed.hour_mod_12().is_some() && parsed.hour_div_12().is_none() {
        let _ = parsed.set_ampm(false);
    }
    if parsed.hour_mod_12().is_none() {
        let _ = parsed.set_hour(0);
    }
    if parsed.minute().is_none() {
        let _ = parsed.set_minute(0);
    }
    if parsed.timestamp().is_some() || parsed.offset().is_some() {
        if parsed.offset().is_none() {
            let _ = parsed.set_offset(0);
        }
        let dt = parsed.to_datetime().map_err(|e| e.to_string())?;
        return Ok((dt.timestamp(), dt.timestamp_subsec_nanos()));
    }
    let naive = parsed
        .to_naive_date()
        .and_then(|d| parsed.to_naive_time().map(|t| d.and_time(t)))
        .map_err(|e| e.to_string())?;
    let utc = match zone {
        Zone::Utc => Some(naive.and_utc()),
        #[cfg(feature = "timezones")]
        Zone::Named(tz) => resolve(tz, &naive, zone_name.as_deref()),
        Zone::Local => resolve(&chrono::Local, &naive, zone_name.as_deref()),
    }
    .ok_or("the time does not exist in that zone")?;
    Ok((utc.timestamp(), utc.timestamp_subsec_nanos()))
}

/// A local time in `tz`: in a repeated hour, the occurrence whose abbreviation the text named, else
/// the first; in a skipped hour, moved forward by the gap (as Go does).
fn resolve<Tz: TimeZone>(
    tz: &Tz,
    naive: &NaiveDateTime,
    name: Option<&str>,
) -> Option<DateTime<Utc>>
where
    Tz::Offset: std::fmt::Display,
{
    match tz.from_local_datetime(naive) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => {
            let named_b = name.is_some_and(|n| b.format("%Z").to_string() == n);
            Some(if named_b { b } else { a }.with_timezone(&Utc))
        }
        LocalResult::None => {
            let before = naive.checked_sub_signed(chrono::TimeDelta::hours(24))?;
            let offset = tz.offset_from_utc_datetime(&before).fix();
            naive
                .checked_sub_signed(chrono::TimeDelta::seconds(offset.local_minus_utc().into()))
                .map(|n| n.and_utc())
        }
    }
}

/// Whole seconds as an integer, otherwise a float.
fn seconds_value(secs: i64, nanos: u32) -> LuaValue {
    if nanos == 0 {
        LuaValue::Integer(secs)
    } else {
        LuaValue::Number(secs as f64 + f64::from(nanos) / 1e9)
    }
}

/// Seconds as a number argument or a Go duration string.
fn seconds_arg(args: &MultiValue, pos: usize, func: &str) -> mlua::Result<LuaValue> {
    match args.get(pos - 1) {
        Some(v @ (LuaValue::Integer(_) | LuaValue::Number(_))) => Ok(v.clone()),
        Some(LuaValue::String(s)) => {
            let nanos =
                duration::parse(&s.to_string_lossy()).map_err(|e| arg_error(pos, func, &e))?;
            Ok(nanos_value(nanos))
        }
        other => Err(bad_argument(pos, func, "duration string or number", other)),
    }
}

fn nanos_value(nanos: i64) -> LuaValue {
    if nanos % 1_000_000_000 == 0 {
        LuaValue::Integer(nanos / 1_000_000_000)
    } else {
        LuaValue::Number(nanos as f64 / 1e9)
    }
}

/// `a + b` or `a - b`, integer while both are and it fits.
fn arith(a: &LuaValue, b: &LuaValue, subtract: bool) -> LuaValue {
    if let (LuaValue::Integer(x), LuaValue::Integer(y)) = (a, b) {
        let r = if subtract {
            x.checked_sub(*y)
        } else {
            x.checked_add(*y)
        };
        if let Some(r) = r {
            return LuaValue::Integer(r);
        }
    }
    let num = |v: &LuaValue| match v {
        LuaValue::Integer(i) => *i as f64,
        LuaValue::Number(n) => *n,
        _ => f64::NAN,
    };
    LuaValue::Number(if subtract {
        num(a) - num(b)
    } else {
        num(a) + num(b)
    })
}

fn number_arg(args: &MultiValue, pos: usize, func: &str) -> mlua::Result<LuaValue> {
    match args.get(pos - 1) {
        Some(v @ (LuaValue::Integer(_) | LuaValue::Number(_))) => Ok(v.clone()),
        _ => Ok(LuaValue::Number(args::check_number(args, pos, func)?)),
    }
}

fn add(_lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let ts = number_arg(&args, 1, "add")?;
    let d = seconds_arg(&args, 2, "add")?;
    Ok(multi([arith(&ts, &d, false)]))
}

fn diff(_lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let a = number_arg(&args, 1, "diff")?;
    let b = number_arg(&args, 2, "diff")?;
    Ok(multi([arith(&a, &b, true)]))
}

fn duration_fn(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let nanos = match args.front() {
        Some(LuaValue::Integer(i)) => i.checked_mul(1_000_000_000),
        _ => {
            let n = args::check_number(&args, 1, "duration")? * 1e9;
            (n.is_finite() && n.abs() < 9.2e18).then(|| n.round() as i64)
        }
    }
    .ok_or_else(|| arg_error(1, "duration", "duration out of range (about 292 years)"))?;
    Ok(multi([LuaValue::String(
        lua.create_string(duration::format(nanos))?,
    )]))
}

fn parse_duration(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let s = check_string(lua, &args, 1, "parse_duration")?;
    match duration::parse(&s.to_string_lossy()) {
        Ok(n) => Ok(multi([nanos_value(n)])),
        Err(e) => nil_err(lua, format!("time: {e}")),
    }
}
