//! Wall-clock time as Prometheus wants it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, as a float (0 if the clock is before 1970).
pub fn unix_now() -> f64 {
    unix_seconds(SystemTime::now())
}

/// `time` as seconds since the Unix epoch (0 before 1970).
pub fn unix_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
