//! Run configuration and the parsers for the CLI's duration and size flags.
//!
//! Durations follow Go's spelling (`500ms`, `10s`, `2m`, `1h`, `1m30s`) plus a bare number of seconds;
//! sizes accept `256MB`, `1GiB`, `64k`, or a bare byte count.

use std::time::Duration;

/// Everything the command line decides about one run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Bound on the whole run; `None` means no limit (`--timeout 0`).
    pub timeout: Option<Duration>,
    /// Per-Lua-state memory limit in bytes.
    pub memory_limit: Option<usize>,
    /// Most goroutines alive at once (main included).
    pub max_goroutines: usize,
    /// Size of a server's handler pool; `None` means 2 × cores.
    pub workers: Option<usize>,
    /// Rerun when the script or a module it imported changes.
    pub watch: bool,
    /// Report goroutines whose Lua memory keeps growing.
    pub leak_check: bool,
    /// `--cluster`: the Redis (or Valkey) URL that `store`, cluster channels and pub/sub share
    /// (SPEC §15); `None` keeps everything in this process.
    pub cluster: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            timeout: Some(Duration::from_secs(5)),
            memory_limit: None,
            max_goroutines: 10_000,
            workers: None,
            watch: false,
            leak_check: false,
            cluster: None,
        }
    }
}

/// Parses `500ms`, `10s`, `2m`, `1h`, `1h2m3.5s`, `250us`, or a bare number of seconds (`1.5`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    let bad =
        || format!("invalid duration '{text}' (expected e.g. 500ms, 10s, 2m, 1h, or seconds)");
    if s.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = s.parse::<f64>() {
        return secs_to_duration(secs).ok_or_else(bad);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if num_len == 0 {
            return Err(bad());
        }
        let value: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    secs_to_duration(total).ok_or_else(bad)
}

fn secs_to_duration(secs: f64) -> Option<Duration> {
    if (0.0..1e12).contains(&secs) {
        Some(Duration::from_secs_f64(secs))
    } else {
        None
    }
}

/// Parses `256MB`, `1.5GiB`, `64k`, `1024` (bytes). Decimal and binary units both mean powers of 1024,
/// as people mean them for memory limits.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let s = text.trim();
    let bad = || format!("invalid size '{text}' (expected e.g. 64KB, 256MB, 1GB, or a byte count)");
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    if split == 0 {
        return Err(bad());
    }
    let value: f64 = s[..split].parse().map_err(|_| bad())?;
    let scale: f64 = match s[split..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    let bytes = value * scale;
    if !bytes.is_finite() || bytes < 1.0 || bytes > usize::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_spelling() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
    }

    #[test]
    fn bad_durations_are_refused() {
        for bad in [
            "", "s", "10x", "-1", "ms10", "1e999", "nan", "10 s s", "1..2s", "inf",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("64k"), Ok(65536));
        assert_eq!(parse_size("256MB"), Ok(256 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("1.5kb"), Ok(1536));
        for bad in ["", "MB", "12XB", "-5MB", "0", "1e400"] {
            assert!(parse_size(bad).is_err(), "{bad:?} accepted");
        }
    }
}
