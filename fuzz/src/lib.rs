//! What the fuzz targets share: a sink that checks what parsers emit, and the split of one
//! input into the lines a stateful parser sees in turn.

use gateway_exporter::logs::cause::{AppCause, Cause, Event};
use gateway_exporter::logs::sink::{Access, Sink};

/// Checks every emitted value the way the metrics side relies on it: a status has at most
/// three digits (it becomes a label), a time is a finite, non-negative number of seconds
/// (it goes into a histogram, whose sum an `inf` would poison for good).
#[derive(Default)]
pub struct CheckedSink {
    pub emitted: usize,
}

impl Sink for CheckedSink {
    fn error(&mut self, cause: Cause, vhost: &[u8], upstream: &[u8]) {
        assert!(!cause.as_str().is_empty());
        self.emitted += 1 + vhost.len() + upstream.len();
    }
    fn event(&mut self, event: Event) {
        assert!(!event.as_str().is_empty());
        self.emitted += 1;
    }
    fn app_error(&mut self, cause: AppCause, vhost: &[u8]) {
        assert!(!cause.as_str().is_empty());
        self.emitted += 1 + vhost.len();
    }
    fn access(&mut self, a: &Access<'_>) {
        assert!(a.status < 1000, "status {} is not three digits", a.status);
        if let Some(t) = a.upstream_time {
            assert!(t.is_finite() && t >= 0.0, "upstream time {t} seconds");
        }
        self.emitted += 1 + a.vhost.len() + a.upstream_addr.len() + a.upstream_status.len();
    }
}

/// The lines of `data` as the tailer hands them over (without the `\n`).
pub fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split(|&b| b == b'\n')
}
