#![no_main]
//! PHP-FPM `?json&full` status pages; the first byte says whether the queue is trusted (TCP).
use gateway_exporter::workers::fuzzing::parse_fpm;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    if let Ok(status) = parse_fpm(body, "/status", flags & 1 == 1) {
        assert!(status.pool.is_some());
    }
});
