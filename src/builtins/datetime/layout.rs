//! Go's reference layouts (`"2006-01-02 15:04:05"`) translated into chrono format items. The
//! layout is cut into chunks exactly as Go's `nextStdChunk` does; each chunk becomes the chrono
//! `Item` that prints and parses it the same way, and the few Go chunks chrono has no item for
//! (fraction widths other than 3/6/9, `.999` trimming, offsets with seconds, `Z07`, zone names when
//! parsing) are handled here.

use chrono::format::{Fixed, Item, Numeric, Pad, Parsed};
use chrono::{DateTime, Offset, TimeZone, Timelike};
use std::fmt::Write as _;

/// A Go layout chunk chrono has no exact item for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// `.000`/`,00…`: exactly `digits` digits after `sep`.
    FracFixed { digits: u8, sep: u8 },
    /// `.999`: up to `digits` digits, trailing zeros (and the separator when all are) dropped.
    FracTrimmed { digits: u8, sep: u8 },
    /// A numeric zone offset: `z` prints `Z` for UTC, `colon` puts `:` between fields, `minutes`
    /// and `seconds` say which fields follow the hours.
    Offset {
        z: bool,
        colon: bool,
        minutes: bool,
        seconds: bool,
    },
    /// `MST`: the zone's abbreviation (`-0700` when it has none).
    ZoneName,
}

/// One piece of a translated layout.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Item(Item<'static>),
    Special(Special),
}

fn num(n: Numeric, pad: Pad) -> Piece {
    Piece::Item(Item::Numeric(n, pad))
}

fn fixed(f: Fixed) -> Piece {
    Piece::Item(Item::Fixed(f))
}

const fn offset(z: bool, colon: bool, minutes: bool, seconds: bool) -> Special {
    Special::Offset {
        z,
        colon,
        minutes,
        seconds,
    }
}

/// The chunk Go recognises at the start of `s`, and its length; `None` when `s[0]` is literal.
fn chunk_at(s: &[u8]) -> Option<(Piece, usize)> {
    let at = |p: &str| s.starts_with(p.as_bytes());
    let lower_next = |n: usize| s.get(n).is_some_and(|c| c.is_ascii_lowercase());
    Some(match s[0] {
        b'J' if at("January") => (fixed(Fixed::LongMonthName), 7),
        b'J' if at("Jan") && !lower_next(3) => (fixed(Fixed::ShortMonthName), 3),
        b'M' if at("Monday") => (fixed(Fixed::LongWeekdayName), 6),
        b'M' if at("Mon") && !lower_next(3) => (fixed(Fixed::ShortWeekdayName), 3),
        b'M' if at("MST") => (Piece::Special(Special::ZoneName), 3),
        b'0' if at("01") => (num(Numeric::Month, Pad::Zero), 2),
        b'0' if at("02") => (num(Numeric::Day, Pad::Zero), 2),
        b'0' if at("03") => (num(Numeric::Hour12, Pad::Zero), 2),
        b'0' if at("04") => (num(Numeric::Minute, Pad::Zero), 2),
        b'0' if at("05") => (num(Numeric::Second, Pad::Zero), 2),
        b'0' if at("06") => (num(Numeric::YearMod100, Pad::Zero), 2),
        b'0' if at("002") => (num(Numeric::Ordinal, Pad::Zero), 3),
        b'1' if at("15") => (num(Numeric::Hour, Pad::Zero), 2),
        b'1' => (num(Numeric::Month, Pad::None), 1),
        b'2' if at("2006") => (num(Numeric::Year, Pad::Zero), 4),
        b'2' => (num(Numeric::Day, Pad::None), 1),
        b'_' if at("_2") && !at("_2006") => (num(Numeric::Day, Pad::Space), 2),
        b'_' if at("__2") => (num(Numeric::Ordinal, Pad::Space), 3),
        b'3' => (num(Numeric::Hour12, Pad::None), 1),
        b'4' => (num(Numeric::Minute, Pad::None), 1),
        b'5' => (num(Numeric::Second, Pad::None), 1),
        b'P' if at("PM") => (fixed(Fixed::UpperAmPm), 2),
        b'p' if at("pm") => (fixed(Fixed::LowerAmPm), 2),
        b'-' if at("-070000") => (Piece::Special(offset(false, false, true, true)), 7),
        b'-' if at("-07:00:00") => (Piece::Special(offset(false, true, true, true)), 9),
        b'-' if at("-0700") => (fixed(Fixed::TimezoneOffset), 5),
        b'-' if at("-07:00") => (fixed(Fixed::TimezoneOffsetColon), 6),
        b'-' if at("-07") => (Piece::Special(offset(false, false, false, false)), 3),
        b'Z' if at("Z070000") => (Piece::Special(offset(true, false, true, true)), 7),
        b'Z' if at("Z07:00:00") => (Piece::Special(offset(true, true, true, true)), 9),
        b'Z' if at("Z0700") => (fixed(Fixed::TimezoneOffsetZ), 5),
        b'Z' if at("Z07:00") => (fixed(Fixed::TimezoneOffsetColonZ), 6),
        b'Z' if at("Z07") => (Piece::Special(offset(true, false, false, false)), 3),
        sep @ (b'.' | b',') if matches!(s.get(1), Some(b'0' | b'9')) => {
            let ch = s[1];
            let digits = s[1..].iter().take_while(|&&c| c == ch).count();
            // Only a fraction when the run of digits ends there (Go's rule).
            if s.get(1 + digits).is_some_and(|c| c.is_ascii_digit()) {
                return None;
            }
            let d = digits.min(9) as u8;
            let piece = match (ch, sep, d) {
                (b'0', b'.', 3) => fixed(Fixed::Nanosecond3),
                (b'0', b'.', 6) => fixed(Fixed::Nanosecond6),
                (b'0', b'.', 9) => fixed(Fixed::Nanosecond9),
                (b'0', _, _) => Piece::Special(Special::FracFixed { digits: d, sep }),
                _ => Piece::Special(Special::FracTrimmed { digits: d, sep }),
            };
            (piece, 1 + digits)
        }
        _ => return None,
    })
}

/// Translates a Go layout into pieces; literal text becomes `Item::OwnedLiteral`.
pub fn translate(layout: &str) -> Vec<Piece> {
    let bytes = layout.as_bytes();
    let mut pieces = Vec::new();
    let mut literal_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match chunk_at(&bytes[i..]) {
            Some((piece, len)) => {
                if literal_start < i {
                    pieces.push(literal(&layout[literal_start..i]));
                }
                pieces.push(piece);
                i += len;
                literal_start = i;
            }
            None => i += 1,
        }
    }
    if literal_start < bytes.len() {
        pieces.push(literal(&layout[literal_start..]));
    }
    pieces
}

fn literal(s: &str) -> Piece {
    Piece::Item(Item::OwnedLiteral(s.into()))
}

/// `dt` printed with `pieces`.
pub fn format<Tz: TimeZone>(dt: &DateTime<Tz>, pieces: &[Piece]) -> Result<String, std::fmt::Error>
where
    Tz::Offset: std::fmt::Display,
{
    let mut out = String::new();
    let offset = dt.offset().fix().local_minus_utc();
    for piece in pieces {
        match piece {
            Piece::Item(item) => write!(out, "{}", dt.format_with_items(std::iter::once(item)))?,
            Piece::Special(Special::ZoneName) => {
                let name = dt.format("%Z").to_string();
                if name.starts_with(['+', '-']) || name.is_empty() {
                    write_offset(&mut out, offset, false, false, true, false);
                } else {
                    out.push_str(&name);
                }
            }
            Piece::Special(Special::Offset {
                z,
                colon,
                minutes,
                seconds,
            }) => write_offset(&mut out, offset, *z, *colon, *minutes, *seconds),
            Piece::Special(Special::FracFixed { digits, sep }) => {
                let frac = format!("{:09}", dt.nanosecond() % 1_000_000_000);
                out.push(*sep as char);
                out.push_str(&frac[..*digits as usize]);
            }
            Piece::Special(Special::FracTrimmed { digits, sep }) => {
                let frac = format!("{:09}", dt.nanosecond() % 1_000_000_000);
                let kept = frac[..*digits as usize].trim_end_matches('0');
                if !kept.is_empty() {
                    out.push(*sep as char);
                    out.push_str(kept);
                }
            }
        }
    }
    Ok(out)
}

/// Go's numeric offsets: `Z` for UTC in the ISO 8601 forms, else `±hh[[:]mm[[:]ss]]`.
fn write_offset(out: &mut String, offset: i32, z: bool, colon: bool, minutes: bool, seconds: bool) {
    if z && offset == 0 {
        out.push('Z');
        return;
    }
    out.push(if offset < 0 { '-' } else { '+' });
    let abs = offset.unsigned_abs();
    let _ = write!(out, "{:02}", abs / 3600);
    if minutes {
        if colon {
            out.push(':');
        }
        let _ = write!(out, "{:02}", abs / 60 % 60);
    }
    if seconds {
        if colon {
            out.push(':');
        }
        let _ = write!(out, "{:02}", abs % 60);
    }
}

/// What parsing a Go layout found besides chrono's fields: the zone abbreviation, if any.
#[derive(Default, Debug)]
pub struct Extra {
    pub zone_name: Option<String>,
}

/// Parses `s` with `pieces` into `parsed`. After seconds, a fraction the layout does not ask for is
/// accepted, as Go does.
pub fn parse(s: &str, pieces: &[Piece], parsed: &mut Parsed) -> Result<Extra, String> {
    let mut rest = s;
    let mut extra = Extra::default();
    for (i, piece) in pieces.iter().enumerate() {
        match piece {
            Piece::Item(item) => {
                rest = chrono::format::parse_and_remainder(parsed, rest, std::iter::once(item))
                    .map_err(|e| format!("{e} at \"{}\"", short(rest)))?;
                let next_is_frac = matches!(
                    pieces.get(i + 1),
                    Some(Piece::Special(
                        Special::FracFixed { .. } | Special::FracTrimmed { .. }
                    )) | Some(Piece::Item(Item::Fixed(
                        Fixed::Nanosecond3 | Fixed::Nanosecond6 | Fixed::Nanosecond9
                    )))
                );
                if matches!(item, Item::Numeric(Numeric::Second, _)) && !next_is_frac {
                    rest = fraction(rest, parsed, usize::MAX, false)?;
                }
            }
            Piece::Special(Special::FracFixed { digits, .. }) => {
                rest = fraction(rest, parsed, *digits as usize, true)?;
            }
            Piece::Special(Special::FracTrimmed { .. }) => {
                rest = fraction(rest, parsed, usize::MAX, false)?;
            }
            Piece::Special(Special::Offset {
                z,
                colon,
                minutes,
                seconds,
            }) => {
                rest = parse_offset(rest, parsed, *z, *colon, *minutes, *seconds)?;
            }
            Piece::Special(Special::ZoneName) => {
                let n = rest.bytes().take_while(|c| c.is_ascii_uppercase()).count();
                if n < 3 {
                    if rest.starts_with(['+', '-']) {
                        rest = parse_offset(rest, parsed, false, false, true, false)?;
                        continue;
                    }
                    return Err(format!("expected a zone name at \"{}\"", short(rest)));
                }
                let name = &rest[..n];
                if name == "UTC" || name == "GMT" {
                    parsed.set_offset(0).map_err(|e| e.to_string())?;
                }
                extra.zone_name = Some(name.to_string());
                rest = &rest[n..];
            }
        }
    }
    if !rest.is_empty() {
        return Err(format!("extra text \"{}\"", short(rest)));
    }
    Ok(extra)
}

fn short(s: &str) -> &str {
    match s.char_indices().nth(20) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// A fraction of a second after `.` or `,`: exactly `exact` digits when `required`, otherwise
/// optional and of any length (digits past nanoseconds are dropped).
fn fraction<'a>(
    s: &'a str,
    parsed: &mut Parsed,
    exact: usize,
    required: bool,
) -> Result<&'a str, String> {
    let b = s.as_bytes();
    let has = b.len() >= 2 && matches!(b[0], b'.' | b',') && b[1].is_ascii_digit();
    if !has {
        return if required {
            Err(format!(
                "expected a fraction of a second at \"{}\"",
                short(s)
            ))
        } else {
            Ok(s)
        };
    }
    let digits = b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
    if required && digits != exact {
        return Err(format!(
            "expected {exact} digits of a fraction at \"{}\"",
            short(s)
        ));
    }
    let mut nanos: u32 = 0;
    for (k, c) in b[1..1 + digits].iter().enumerate().take(9) {
        nanos += u32::from(c - b'0') * 10u32.pow(8 - k as u32);
    }
    parsed
        .set_nanosecond(i64::from(nanos))
        .map_err(|e| e.to_string())?;
    Ok(&s[1 + digits..])
}

fn parse_offset<'a>(
    s: &'a str,
    parsed: &mut Parsed,
    z: bool,
    colon: bool,
    minutes: bool,
    seconds: bool,
) -> Result<&'a str, String> {
    if z && s.starts_with('Z') {
        parsed.set_offset(0).map_err(|e| e.to_string())?;
        return Ok(&s[1..]);
    }
    let bad = || format!("expected a zone offset at \"{}\"", short(s));
    let b = s.as_bytes();
    let sign = match b.first() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return Err(bad()),
    };
    let mut pos = 1;
    let field = |pos: &mut usize, sep: bool| -> Result<i32, String> {
        if sep {
            if b.get(*pos) != Some(&b':') {
                return Err(bad());
            }
            *pos += 1;
        }
        match (b.get(*pos), b.get(*pos + 1)) {
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                *pos += 2;
                Ok(i32::from(x - b'0') * 10 + i32::from(y - b'0'))
            }
            _ => Err(bad()),
        }
    };
    let h = field(&mut pos, false)?;
    let m = if minutes { field(&mut pos, colon)? } else { 0 };
    let sec = if seconds { field(&mut pos, colon)? } else { 0 };
    parsed
        .set_offset(i64::from(sign * (h * 3600 + m * 60 + sec)))
        .map_err(|e| e.to_string())?;
    Ok(&s[pos..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, NaiveDate, Utc};

    /// 2009-02-03 04:05:06.7008009 +05:30 (a Tuesday, day 34 of the year), and the same instant in
    /// UTC. Not Go's reference time itself: a layout would print as itself whatever went wrong.
    fn sample() -> (DateTime<FixedOffset>, DateTime<Utc>) {
        let naive = NaiveDate::from_ymd_opt(2009, 2, 3)
            .and_then(|d| d.and_hms_nano_opt(4, 5, 6, 700_800_900))
            .unwrap();
        let zone = FixedOffset::east_opt(5 * 3600 + 1800).unwrap();
        let dt = zone.from_local_datetime(&naive).unwrap();
        (dt, dt.with_timezone(&Utc))
    }

    fn fmt(layout: &str) -> String {
        format(&sample().0, &translate(layout)).unwrap()
    }

    #[test]
    fn layouts_print_as_in_go() {
        // Worked out from Go's `nextStdChunk` and `appendFormat` rules, chunk by chunk.
        let cases = [
            ("2006-01-02T15:04:05Z07:00", "2009-02-03T04:05:06+05:30"),
            ("Mon Jan _2 15:04:05 2006", "Tue Feb  3 04:05:06 2009"),
            ("Monday, 02-Jan-06 15:04:05", "Tuesday, 03-Feb-09 04:05:06"),
            ("January 2, 2006 3:04 PM", "February 3, 2009 4:05 AM"),
            ("03:04:05pm", "04:05:06am"),
            ("1/2/06", "2/3/09"),
            ("2006-01-02 15:04:05.000", "2009-02-03 04:05:06.700"),
            ("15:04:05.000000", "04:05:06.700800"),
            ("15:04:05.000000000", "04:05:06.700800900"),
            ("15:04:05.0", "04:05:06.7"),
            ("15:04:05.00", "04:05:06.70"),
            ("15:04:05,000", "04:05:06,700"),
            ("15:04:05.999", "04:05:06.7"),
            ("15:04:05.99999999", "04:05:06.7008009"),
            ("-0700", "+0530"),
            ("-07:00", "+05:30"),
            ("-07", "+05"),
            ("-070000", "+053000"),
            ("-07:00:00", "+05:30:00"),
            ("Z0700", "+0530"),
            ("Z07", "+05"),
            ("Z070000", "+053000"),
            ("Z07:00:00", "+05:30:00"),
            ("002 __2", "034  34"),
            ("Jan Janet", "Feb Janet"),
            ("Mon Month", "Tue Month"),
            ("_2006", "_2009"),
            ("15h04m05s", "04h05m06s"),
            ("06.05", "09.06"),
            ("12:00 1.0001", "23:00 2.0002"),
        ];
        for (layout, want) in cases {
            assert_eq!(fmt(layout), want, "layout {layout:?}");
        }
    }

    #[test]
    fn utc_uses_z_and_its_name() {
        let (_, utc) = sample();
        let p = |l: &str| format(&utc, &translate(l)).unwrap();
        assert_eq!(p("2006-01-02T15:04:05Z07:00"), "2009-02-02T22:35:06Z");
        assert_eq!(p("15:04 MST -0700 Z0700 Z07"), "22:35 UTC +0000 Z Z");
        // `.999` with nothing to show drops the separator too.
        let whole = utc.with_nanosecond(0).unwrap();
        assert_eq!(
            format(&whole, &translate("05.999|05.000")).unwrap(),
            "06|06.000"
        );
    }

    #[test]
    fn chunks_map_to_chrono_items() {
        assert_eq!(
            translate("2006-01-02"),
            vec![
                Piece::Item(Item::Numeric(Numeric::Year, Pad::Zero)),
                Piece::Item(Item::OwnedLiteral("-".into())),
                Piece::Item(Item::Numeric(Numeric::Month, Pad::Zero)),
                Piece::Item(Item::OwnedLiteral("-".into())),
                Piece::Item(Item::Numeric(Numeric::Day, Pad::Zero)),
            ]
        );
        assert_eq!(
            translate("no chunks here!"),
            vec![literal("no chunks here!")]
        );
        assert_eq!(
            translate(".000"),
            vec![Piece::Item(Item::Fixed(Fixed::Nanosecond3))]
        );
        // Not a fraction (a digit follows the run of zeros): `01` is then the month.
        assert_eq!(
            translate(".0001"),
            vec![
                literal(".00"),
                Piece::Item(Item::Numeric(Numeric::Month, Pad::Zero))
            ]
        );
    }

    fn parse_utc(layout: &str, s: &str) -> Result<DateTime<FixedOffset>, String> {
        let mut parsed = Parsed::new();
        parse(s, &translate(layout), &mut parsed)?;
        if parsed.offset.is_none() {
            parsed.set_offset(0).unwrap();
        }
        parsed.to_datetime().map_err(|e| e.to_string())
    }

    #[test]
    fn layouts_parse_back() {
        let (dt, _) = sample();
        for layout in [
            "2006-01-02T15:04:05.999999999Z07:00",
            "Mon Jan _2 15:04:05.000000000 2006 -0700",
            "Monday, 02-Jan-06 15:04:05.000000000 -07:00:00",
            "January 2, 2006 03:04:05.000000000 PM -070000",
            "2006-01-02 15:04:05,000000000 Z070000",
            "2006-01-02 15:04:05.999999999 Z07:00:00",
        ] {
            let text = format(&dt, &translate(layout)).unwrap();
            assert_eq!(
                parse_utc(layout, &text),
                Ok(dt),
                "layout {layout:?} text {text:?}"
            );
        }
        // A fraction after seconds is accepted without being in the layout (as Go does).
        let t = parse_utc("2006-01-02 15:04:05", "2024-03-10 01:02:03.5").unwrap();
        assert_eq!(t.nanosecond(), 500_000_000);
        assert!(parse_utc("2006-01-02", "2024-13-01").is_err());
        assert!(parse_utc("2006-01-02", "2024-01-01 extra").is_err());
        assert!(parse_utc("15:04:05.000", "10:00:00.12").is_err());
        assert_eq!(
            parse_utc("2006-01-02 15:04 MST", "2024-01-02 00:00 UTC").map(|d| d.timestamp()),
            Ok(1704153600)
        );
    }
}
