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

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// The local time zone's offset from UTC now, in seconds (east positive): for log lines that
/// carry local wall-clock time without a zone (nginx's error log, Apache's, PHP-FPM's).
pub fn local_utc_offset() -> i64 {
    // SAFETY: time(2) with a null pointer only returns the time.
    let now = unsafe { libc::time(std::ptr::null_mut()) };
    let mut tm = std::mem::MaybeUninit::<libc::tm>::zeroed();
    // SAFETY: localtime_r writes one `tm` into the buffer we own and returns it, or null on
    // failure; `tm` is read only when it succeeded.
    let done = unsafe { libc::localtime_r(&now, tm.as_mut_ptr()) };
    if done.is_null() {
        return 0;
    }
    // SAFETY: localtime_r succeeded, so it filled `tm` (and zeroed is a valid `tm` anyway).
    unsafe { tm.assume_init() }.tm_gmtoff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_count_from_the_epoch() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
    }
}
