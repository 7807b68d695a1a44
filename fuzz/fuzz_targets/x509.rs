#![no_main]
//! DER certificates: `notAfter`.
use gateway_exporter::probe::x509::not_after;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(t) = not_after(data) {
        // Years 0000..=9999 at most: well inside what a gauge of seconds holds.
        assert!((-62_200_000_000..=253_500_000_000).contains(&t), "{t}");
    }
});
