//! What parsers emit. Parsers are pure (bytes in, calls out); the metrics side implements
//! [`Sink`], tests implement it with a recorder.

use super::cause::{Cause, Event};

/// One access-log request, fields borrowed from the line (`-` or empty when absent).
#[derive(Debug, Default, Clone, Copy)]
pub struct Access<'a> {
    pub vhost: &'a [u8],
    pub status: u16,
    /// `$upstream_addr`: tries separated by `, `, internal redirects by ` : `.
    pub upstream_addr: &'a [u8],
    /// `$upstream_status`, same shape as `upstream_addr`.
    pub upstream_status: &'a [u8],
    /// Seconds the upstream took, summed over tries.
    pub upstream_time: Option<f64>,
}

pub trait Sink {
    /// A failed upstream try (nginx) or request (Apache, HAProxy).
    fn error(&mut self, cause: Cause, vhost: &[u8], upstream: &[u8]);
    fn event(&mut self, event: Event);
    fn access(&mut self, access: &Access<'_>);
}

/// A parser's verdict on one line, apart from what it emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The line has the format's shape (it may still count nothing: a trap, a notice).
    Known,
    /// No rule of the format understood the line.
    Unrecognised,
}

/// The items of an nginx upstream list (tries separated by `, `, redirects by ` : `), in order.
pub fn upstream_items(list: &[u8]) -> impl Iterator<Item = &[u8]> {
    list.split(|&b| b == b' ')
        .map(|item| item.strip_suffix(b",").unwrap_or(item))
        .filter(|item| !item.is_empty() && *item != b":")
}

/// Sum of the numbers of an `$upstream_response_time` list (`-` entries skipped); None
/// when there is no number at all.
pub fn sum_times(list: &[u8]) -> Option<f64> {
    let mut total = 0.0;
    let mut any = false;
    for item in upstream_items(list) {
        let value = std::str::from_utf8(item)
            .ok()
            .and_then(|s| s.parse::<f64>().ok());
        if let Some(v) = value.filter(|v| v.is_finite() && *v >= 0.0) {
            total += v;
            any = true;
        }
    }
    any.then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_lists_split_on_tries_and_redirects() {
        let items: Vec<&[u8]> =
            upstream_items(b"127.0.0.1:9, unix:/run/a.sock : 10.0.0.6:80").collect();
        assert_eq!(
            items,
            [&b"127.0.0.1:9"[..], b"unix:/run/a.sock", b"10.0.0.6:80"]
        );
        assert_eq!(sum_times(b"-, 0.250 : 1.000"), Some(1.25));
        assert_eq!(sum_times(b"-"), None);
        assert_eq!(sum_times(b""), None);
    }
}

#[cfg(test)]
pub mod recorder {
    use super::*;

    /// Collects what a parser emitted, as label strings.
    #[derive(Debug, Default)]
    pub struct Recorder {
        pub errors: Vec<(String, String, String)>,
        pub events: Vec<String>,
        pub access: Vec<(String, u16, String, String, Option<f64>)>,
    }

    fn s(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    impl Sink for Recorder {
        fn error(&mut self, cause: Cause, vhost: &[u8], upstream: &[u8]) {
            self.errors
                .push((cause.as_str().into(), s(vhost), s(upstream)));
        }
        fn event(&mut self, event: Event) {
            self.events.push(event.as_str().into());
        }
        fn access(&mut self, a: &Access<'_>) {
            self.access.push((
                s(a.vhost),
                a.status,
                s(a.upstream_addr),
                s(a.upstream_status),
                a.upstream_time,
            ));
        }
    }
}
