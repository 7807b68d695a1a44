//! What parsers emit. Parsers are pure (bytes in, calls out); the metrics side implements
//! [`Sink`], tests implement it with a recorder.

use super::cause::{AppCause, Cause, Event};
use memchr::memmem::Finder;
use std::sync::LazyLock;

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
    /// A request the app failed, in its own words (a PHP fatal error, a worker that
    /// crashed, a hosting limit): once per request, `-` when the log names no vhost.
    fn app_error(&mut self, cause: AppCause, vhost: &[u8]);
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

/// Bytes of a value a parser keeps between lines (thread ids, clients, upstreams, backend
/// names): what a parser remembers must not grow with the length of hostile lines.
pub const KEPT_BYTES: usize = 256;

/// The part of `v` a parser may keep between lines.
pub fn kept(v: &[u8]) -> &[u8] {
    &v[..v.len().min(KEPT_BYTES)]
}

/// A three-digit status code (nginx writes `009` for an HTTP/0.9 reply); anything else, `-`
/// included, is None.
pub fn status_code(v: &[u8]) -> Option<u16> {
    match v {
        [a, b, c] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => None,
    }
}

/// `http://10.0.0.5:8080/x` -> `10.0.0.5:8080`, `fastcgi://unix:/run/x.sock:` ->
/// `unix:/run/x.sock` (nginx adds the colon on connect errors only), `http://pool/x` -> `pool`.
pub fn normalise_upstream(v: &[u8]) -> &[u8] {
    static SCHEME: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"://"));
    let v = match SCHEME.find(v) {
        Some(i) => &v[i + 3..],
        None => v,
    };
    if let Some(path) = v.strip_prefix(b"unix:") {
        let end = memchr::memchr(b':', path).unwrap_or(path.len());
        return &v[..5 + end];
    }
    &v[..memchr::memchr(b'/', v).unwrap_or(v.len())]
}

/// Sum of the numbers of an `$upstream_response_time` list (`-` entries skipped); None
/// when there is no number at all, or when the sum is not finite (huge values overflow it).
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
    any.then_some(total).filter(|t: &f64| t.is_finite())
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
        assert_eq!(sum_times(b"1e308, 1e308"), None);
    }

    #[test]
    fn status_codes_are_three_digits() {
        assert_eq!(status_code(b"502"), Some(502));
        assert_eq!(status_code(b"009"), Some(9));
        for bad in [&b"-"[..], b"50", b"5020", b"5x2", b""] {
            assert_eq!(status_code(bad), None);
        }
    }

    #[test]
    fn upstreams_lose_scheme_path_and_nginx_colon() {
        assert_eq!(
            normalise_upstream(b"http://10.0.0.5:8080/x"),
            b"10.0.0.5:8080"
        );
        assert_eq!(
            normalise_upstream(b"fastcgi://unix:/run/x.sock:"),
            b"unix:/run/x.sock"
        );
        assert_eq!(normalise_upstream(b"http://pool/x"), b"pool");
        assert_eq!(normalise_upstream(b"10.0.0.5:80"), b"10.0.0.5:80");
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
        pub apps: Vec<(String, String)>,
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
        fn app_error(&mut self, cause: AppCause, vhost: &[u8]) {
            self.apps.push((cause.as_str().into(), s(vhost)));
        }
    }
}
