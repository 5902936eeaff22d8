//! HCL2 job files: rendering the typed job (through its API JSON form) in the layout of a
//! hand-written Nomad job file, and parsing such files back to API JSON.
//!
//! Both directions read block names, labels and duration fields from the API field list
//! ([`super::schema`]), so HCL and JSON cannot drift apart. The parser handles the plain HCL this
//! tool writes (blocks, attributes, literals, string templates); variables and functions are
//! rejected with a hint to use `nomad job run -output`.
//!
//! Layout: `render` writes job files, `parse` reads them back, `annotate` adds `--annotate`'s
//! comments to rendered text; the Go duration format both directions use is here.

mod annotate;
mod coerce;
mod jobspec;
mod parse;
mod render;

pub use annotate::annotate;
pub use parse::parse_job;
pub use render::{render_job, render_job_into};

use super::SECOND;

/// HCL identifiers: a letter or `_`, then letters, digits, `_` and `-`.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A Go duration string as Nomad accepts: the largest exact unit (`90s`, `5m`, `1h`).
pub fn format_duration(ns: i64) -> String {
    const UNITS: [(i64, &str); 5] = [
        (3600 * SECOND, "h"),
        (60 * SECOND, "m"),
        (SECOND, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
    ];
    if ns == 0 {
        return "0s".to_string();
    }
    for (unit, suffix) in UNITS {
        if ns % unit == 0 {
            return format!("{}{suffix}", ns / unit);
        }
    }
    format!("{ns}ns")
}

/// Parses a Go duration (`1h30m`, `10s`, `250ms`) into nanoseconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    if s == "0" {
        return Some(0);
    }
    let mut total: i64 = 0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let number: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_end] {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => SECOND,
            "m" => 60 * SECOND,
            "h" => 3600 * SECOND,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total = total.checked_add((number * unit as f64).round() as i64)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(format_duration(90 * SECOND), "90s");
        assert_eq!(format_duration(300 * SECOND), "5m");
        assert_eq!(format_duration(3600 * SECOND), "1h");
        assert_eq!(format_duration(250_000_000), "250ms");
        assert_eq!(parse_duration("1h30m"), Some(5400 * SECOND));
        assert_eq!(parse_duration("250ms"), Some(250_000_000));
        assert_eq!(parse_duration("x"), None);
    }
}
