#![no_main]
//! Prometheus-style durations from config files.
use gateway_exporter::base::duration::{MAX, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(d) = parse(text) {
        assert!(d <= MAX, "{text:?} gave {d:?}");
    }
});
