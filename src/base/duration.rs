//! Durations in the Prometheus style (`500ms`, `5s`, `1m30s`, `2h`) for config files.

use serde::{Deserialize, Deserializer};
use std::time::Duration;

/// The longest duration any setting accepts: beyond it a value is a typo, and a timer or
/// deadline built from it would overflow.
pub const MAX: Duration = Duration::from_secs(365 * 86400);

/// Parse a Prometheus-style duration: one or more `<number><unit>` pairs, units
/// `ms`, `s`, `m`, `h`, `d`. A bare number is refused, so `timeout: 5` is an error.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("duration {text:?} lacks a unit (ms, s, m, h, d)"))?;
        if digits == 0 {
            return Err(format!("invalid duration {text:?}"));
        }
        let value: f64 = rest[..digits]
            .parse()
            .map_err(|_| format!("invalid number in duration {text:?}"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ms" => value / 1000.0,
            "s" => value,
            "m" => value * 60.0,
            "h" => value * 3600.0,
            "d" => value * 86400.0,
            other => return Err(format!("unknown unit {other:?} in duration {text:?}")),
        };
        total = Duration::try_from_secs_f64(seconds)
            .ok()
            .and_then(|d| total.checked_add(d))
            .filter(|t| *t <= MAX)
            .ok_or_else(|| format!("duration {text:?} is longer than the limit of 365d"))?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// Serde adapter: `#[serde(deserialize_with = "crate::base::duration::deserialize")]`.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse(&text).map_err(serde::de::Error::custom)
}

/// Serde adapter for `Option<Duration>` fields.
pub fn deserialize_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|t| parse(&t).map_err(serde::de::Error::custom))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_durations() {
        let table = [
            ("500ms", Duration::from_millis(500)),
            ("5s", Duration::from_secs(5)),
            ("1m30s", Duration::from_secs(90)),
            ("2h", Duration::from_secs(7200)),
            ("1.5s", Duration::from_millis(1500)),
            ("1d", Duration::from_secs(86400)),
        ];
        for (text, want) in table {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn refuses_bad_durations() {
        for text in [
            "",
            "5",
            "s",
            "5x",
            "5 s",
            "-1s",
            "1.2.3s",
            "366d",
            "300000000000000d",
            "10000000000000000000s",
            "364d2d",
        ] {
            assert!(parse(text).is_err(), "{text:?} should be refused");
        }
    }
}
