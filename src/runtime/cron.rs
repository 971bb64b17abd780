//! Cron schedules for the `cron(expr, fn)` builtin: parsing and "when does it fire next".
//!
//! Parsing and matching are the `croner` crate's; this module fixes the accepted shape (five or six
//! fields, seconds first), works out which field is wrong when croner refuses an expression (its own
//! messages do not say), and answers in the local time zone.
//!
//! Semantics, as croner implements them with its default options:
//! - Day of month and day of week are ORed like Vixie cron when both are restricted
//!   (`0 0 0 13 * FRI` fires on every 13th and on every Friday). When either is a plain `*`, only
//!   the other one counts. Note that only a literal `*` counts as unrestricted: `*/1` in one of the
//!   two fields switches to the OR rule.
//! - Day of week runs 0-6 with Sunday = 0; 7 is accepted as Sunday too. Names (`MON`, `JAN`) are
//!   case-insensitive; croner also knows `L`, `W`, `#` and `?`, which are passed through.
//! - Local time: a fire time that falls into a daylight-saving gap is skipped, a repeated hour fires
//!   once (croner's handling).

use chrono::{DateTime, Local};
use croner::parser::{CronParser, Seconds};
use croner::Cron;
use std::time::Duration;

/// Field names in the order of a six-field expression.
const FIELD_NAMES: [&str; 6] = [
    "second",
    "minute",
    "hour",
    "day of month",
    "month",
    "day of week",
];

/// The range each field accepts, as shown in error messages.
const FIELD_RANGES: [&str; 6] = [
    "0-59",
    "0-59",
    "0-23",
    "1-31",
    "1-12 or JAN-DEC",
    "0-6 or SUN-SAT, 7 is also Sunday",
];

const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// A parsed cron expression.
#[derive(Clone, Debug)]
pub struct CronSchedule {
    expr: String,
    cron: Cron,
    /// The fire time last handed out by [`CronSchedule::until_next`]: the next one is after it even
    /// when the timer woke a little before it by the wall clock (else the same second fired twice).
    scheduled: Option<DateTime<Local>>,
}

impl CronSchedule {
    /// Six fields with seconds first ("0 * * * * *"), or five standard fields (seconds = 0).
    /// Names (MON, JAN), ranges, lists, steps; day of week 0-6 with Sunday = 0 (7 also Sunday).
    /// The nicknames `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly` are accepted as well.
    pub fn parse(expr: &str) -> Result<CronSchedule, String> {
        let fail = |why: String| format!("invalid cron expression '{expr}': {why}");
        let trimmed = expr.trim();
        if trimmed.starts_with('@') {
            let cron = parser()
                .parse(trimmed)
                .map_err(|_| fail(format!("unknown nickname '{trimmed}'")))?;
            return Ok(CronSchedule {
                expr: expr.to_string(),
                cron,
                scheduled: None,
            });
        }
        let fields: Vec<&str> = trimmed.split_whitespace().collect();
        // Five fields are the standard form without seconds: name them from "minute" on.
        let first_name = match fields.len() {
            6 => 0,
            5 => 1,
            n => return Err(fail(format!("expected 5 or 6 fields, got {n}"))),
        };
        for (offset, field) in fields.iter().enumerate() {
            check_field(first_name + offset, field).map_err(&fail)?;
        }
        match parser().parse(trimmed) {
            Ok(cron) => Ok(CronSchedule {
                expr: expr.to_string(),
                cron,
                scheduled: None,
            }),
            // Every field passed alone, so the combination is what croner refuses.
            Err(err) => Err(fail(err.to_string())),
        }
    }

    /// The first fire time strictly after `t`, in the local time zone.
    pub fn next_after(&self, t: DateTime<Local>) -> Option<DateTime<Local>> {
        // croner steps to the next whole second before searching, so a sub-second `t` still yields
        // a time strictly after it.
        self.cron.find_next_occurrence(&t, false).ok()
    }

    /// How long from now until the next fire (None if it never fires again); that fire time is
    /// remembered, so the one after it is asked for next.
    pub fn until_next(&mut self) -> Option<Duration> {
        let now = Local::now();
        let next = self.schedule_after(now)?;
        Some((next - now).to_std().unwrap_or(Duration::ZERO))
    }

    /// The next fire time after both `now` and the fire time scheduled before: a timer that runs
    /// the job a moment early by the wall clock (monotonic and wall clocks drift apart, deadlines are
    /// rounded) must not get the same second again.
    fn schedule_after(&mut self, now: DateTime<Local>) -> Option<DateTime<Local>> {
        let base = self.scheduled.map_or(now, |s| s.max(now));
        let next = self.next_after(base)?;
        self.scheduled = Some(next);
        Some(next)
    }

    /// The expression as given.
    pub fn expr(&self) -> &str {
        &self.expr
    }
}

/// croner's default parser already takes five or six fields (and an optional seventh, the year,
/// which `parse` refuses before getting here); day of month and day of week are ORed by default.
fn parser() -> CronParser {
    CronParser::builder().seconds(Seconds::Optional).build()
}

/// Checks one field on its own, so that an error can name it. `index` counts from the seconds field.
fn check_field(index: usize, field: &str) -> Result<(), String> {
    let name = FIELD_NAMES[index];
    let upper = field.to_ascii_uppercase();
    // croner replaces names anywhere in the expression (a weekday name in the month field would
    // become a number); only each field's own names are accepted here.
    for word in upper
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| !w.is_empty())
    {
        let known = match index {
            3 => matches!(word, "L" | "W" | "LW"),
            4 => MONTH_NAMES.contains(&word),
            5 => WEEKDAY_NAMES.contains(&word) || word == "L",
            _ => false,
        };
        if !known {
            return Err(format!(
                "{name} field '{field}' has an unknown name '{word}'"
            ));
        }
    }
    let mut alone = ["*"; 6];
    alone[index] = field;
    match parser().parse(&alone.join(" ")) {
        Ok(_) => Ok(()),
        Err(err) => Err(describe_field_error(index, field, &err.to_string())),
    }
}

/// Turns croner's message about one field into one that names the field.
fn describe_field_error(index: usize, field: &str, croner_message: &str) -> String {
    let name = FIELD_NAMES[index];
    let lower = croner_message.to_ascii_lowercase();
    if lower.contains("out of bounds") && !lower.contains("nth") {
        format!(
            "{name} field '{field}' is out of range ({})",
            FIELD_RANGES[index]
        )
    } else if lower.contains("step cannot be zero") {
        format!("{name} field '{field}' has a step of 0 (steps start at 1)")
    } else if lower.contains("illegal character") {
        format!("{name} field '{field}' contains characters that are not allowed there")
    } else {
        let detail = croner_message
            .trim_start_matches("Component error: ")
            .trim_end_matches('.');
        format!("{name} field '{field}' is invalid ({detail})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// A local wall-clock time. The table below stays within June 2025 wherever the expectation allows
    /// (no daylight-saving change there in either hemisphere), and the rest are midnight-or-later times
    /// far from any change, so expectations hold in every time zone.
    fn local(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Local> {
        Local
            .with_ymd_and_hms(y, mo, d, h, mi, s)
            .single()
            .expect("unambiguous local time")
    }

    #[test]
    fn a_timer_waking_early_does_not_fire_the_same_second_twice() {
        // Every second. The job was scheduled for 12:00:05; the timer woke 0.5 ms early by the
        // wall clock, ran it, and asks for the next time, twice in a row early again.
        let mut s = CronSchedule::parse("* * * * * *").unwrap();
        let just_before =
            |sec| local(2025, 6, 10, 12, 0, sec) - chrono::Duration::microseconds(500);
        assert_eq!(
            s.schedule_after(just_before(5)),
            Some(local(2025, 6, 10, 12, 0, 5))
        );
        assert_eq!(
            s.schedule_after(just_before(5)),
            Some(local(2025, 6, 10, 12, 0, 6))
        );
        assert_eq!(
            s.schedule_after(just_before(6)),
            Some(local(2025, 6, 10, 12, 0, 7))
        );
        // Later than planned (a busy goroutine): the next one after now, missed ones skipped.
        assert_eq!(
            s.schedule_after(local(2025, 6, 10, 12, 0, 30)),
            Some(local(2025, 6, 10, 12, 0, 31))
        );
    }

    /// Wednesday, 11 June 2025, 10:30:15.
    fn start() -> DateTime<Local> {
        local(2025, 6, 11, 10, 30, 15)
    }

    fn next(expr: &str, from: DateTime<Local>) -> DateTime<Local> {
        CronSchedule::parse(expr)
            .unwrap_or_else(|e| panic!("{e}"))
            .next_after(from)
            .unwrap_or_else(|| panic!("'{expr}' never fires"))
    }

    #[test]
    fn next_fire_times() {
        let s = start();
        let table: Vec<(&str, DateTime<Local>, DateTime<Local>)> = vec![
            ("* * * * * *", s, local(2025, 6, 11, 10, 30, 16)),
            ("0 * * * * *", s, local(2025, 6, 11, 10, 31, 0)),
            ("*/15 * * * * *", s, local(2025, 6, 11, 10, 30, 30)),
            ("0 0 * * * *", s, local(2025, 6, 11, 11, 0, 0)),
            ("0 0 0 * * *", s, local(2025, 6, 12, 0, 0, 0)),
            ("0 0 12 * * *", s, local(2025, 6, 11, 12, 0, 0)),
            ("0 0 0 1 * *", s, local(2025, 7, 1, 0, 0, 0)),
            ("0 0 0 * * 0", s, local(2025, 6, 15, 0, 0, 0)),
            // Friday afternoon → Monday morning.
            (
                "0 0 9 * * MON-FRI",
                local(2025, 6, 13, 10, 0, 0),
                local(2025, 6, 16, 9, 0, 0),
            ),
            ("0 0 9 * * mon-fri", s, local(2025, 6, 12, 9, 0, 0)),
            ("0 0 0 1 JAN *", s, local(2026, 1, 1, 0, 0, 0)),
            ("0 0 8,12,18 * * *", s, local(2025, 6, 11, 12, 0, 0)),
            (
                "0 0 8,12,18 * * *",
                local(2025, 6, 11, 18, 0, 0),
                local(2025, 6, 12, 8, 0, 0),
            ),
            ("0 0-30/10 * * * *", s, local(2025, 6, 11, 11, 0, 0)),
            (
                "0 0-30/10 * * * *",
                local(2025, 6, 11, 10, 5, 0),
                local(2025, 6, 11, 10, 10, 0),
            ),
            ("*/5 * * * *", s, local(2025, 6, 11, 10, 35, 0)),
            ("0 0 * * 7", s, local(2025, 6, 15, 0, 0, 0)),
            ("0 0 * * SUN", s, local(2025, 6, 15, 0, 0, 0)),
            ("0 0 0 * * 5-7", s, local(2025, 6, 13, 0, 0, 0)),
            ("30 45 23 31 12 *", s, local(2025, 12, 31, 23, 45, 30)),
            ("0 0 0 29 FEB *", s, local(2028, 2, 29, 0, 0, 0)),
            // Day of month OR day of week (Vixie cron): the next Friday comes before the next 13th.
            (
                "0 0 0 13 * FRI",
                local(2025, 6, 14, 0, 0, 0),
                local(2025, 6, 20, 0, 0, 0),
            ),
            // ... and the 13th comes before the next Friday.
            (
                "0 0 0 13 * FRI",
                local(2025, 7, 12, 0, 0, 0),
                local(2025, 7, 13, 0, 0, 0),
            ),
            ("@hourly", s, local(2025, 6, 11, 11, 0, 0)),
            // Strictly after: a start on a fire time moves on to the next one.
            (
                "0 0 12 * * *",
                local(2025, 6, 11, 12, 0, 0),
                local(2025, 6, 12, 12, 0, 0),
            ),
        ];
        for (expr, from, expected) in table {
            assert_eq!(next(expr, from), expected, "'{expr}' from {from}");
        }
    }

    #[test]
    fn sub_second_start_is_strictly_before_the_next_fire() {
        let from = start() + chrono::Duration::milliseconds(500);
        assert_eq!(next("* * * * * *", from), local(2025, 6, 11, 10, 30, 16));
    }

    /// The six examples from the seed's README, in its words.
    #[test]
    fn seed_examples() {
        let s = start();
        let table = [
            // Every minute, on the 0 second
            ("0 * * * * *", local(2025, 6, 11, 10, 31, 0)),
            // Every hour, at minute 0, second 0
            ("0 0 * * * *", local(2025, 6, 11, 11, 0, 0)),
            // Every day at midnight
            ("0 0 0 * * *", local(2025, 6, 12, 0, 0, 0)),
            // Every day at noon
            ("0 0 12 * * *", local(2025, 6, 11, 12, 0, 0)),
            // First day of every month, at midnight
            ("0 0 0 1 * *", local(2025, 7, 1, 0, 0, 0)),
            // Every Sunday at midnight
            ("0 0 0 * * 0", local(2025, 6, 15, 0, 0, 0)),
        ];
        for (expr, expected) in table {
            assert_eq!(next(expr, s), expected, "'{expr}'");
            // Consecutive fires keep to the schedule.
            let again = next(expr, expected);
            assert!(again > expected, "'{expr}'");
        }
    }

    #[test]
    fn invalid_expressions_name_the_field() {
        let table = [
            ("0 0 0", "expected 5 or 6 fields, got 3"),
            ("* * * * * * *", "expected 5 or 6 fields, got 7"),
            ("", "expected 5 or 6 fields, got 0"),
            ("   ", "expected 5 or 6 fields, got 0"),
            ("60 * * * * *", "second field '60' is out of range (0-59)"),
            ("0 61 * * * *", "minute field '61' is out of range (0-59)"),
            ("0 0 24 * * *", "hour field '24' is out of range (0-23)"),
            ("0 0 0 32 * *", "day of month field '32' is out of range"),
            ("0 0 0 0 * *", "day of month field '0' is out of range"),
            ("0 0 0 * 13 *", "month field '13' is out of range"),
            ("0 0 0 * * 8", "day of week field '8' is out of range"),
            (
                "0 0 0 * FOO *",
                "month field 'FOO' has an unknown name 'FOO'",
            ),
            ("0 0 0 * * MON-FOO", "day of week field 'MON-FOO'"),
            (
                "0 0 0 * MON *",
                "month field 'MON' has an unknown name 'MON'",
            ),
            (
                "0 0 0 * * JAN",
                "day of week field 'JAN' has an unknown name",
            ),
            ("*/0 * * * * *", "second field '*/0' has a step of 0"),
            ("5-70 * * * *", "minute field '5-70' is out of range (0-59)"),
            ("* 24 * * *", "hour field '24' is out of range"),
            (
                "0 0 * * * 1.5",
                "day of week field '1.5' contains characters",
            ),
            (
                "0 0 0 1-x * *",
                "day of month field '1-x' has an unknown name 'X'",
            ),
            ("@never", "unknown nickname '@never'"),
        ];
        for (expr, wanted) in table {
            let err = CronSchedule::parse(expr).expect_err(expr);
            assert!(
                err.starts_with(&format!("invalid cron expression '{expr}': ")),
                "'{expr}': {err}"
            );
            assert!(err.contains(wanted), "'{expr}': {err}\n  wanted: {wanted}");
        }
    }

    #[test]
    fn keeps_the_expression_and_counts_down() {
        let mut schedule = CronSchedule::parse(" * * * * * * ").unwrap();
        assert_eq!(schedule.expr(), " * * * * * * ");
        let wait = schedule.until_next().expect("fires every second");
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
    }

    #[test]
    fn schedule_is_shareable_between_threads() {
        fn assert_traits<T: Send + Sync + Clone + std::fmt::Debug>() {}
        assert_traits::<CronSchedule>();
    }
}
