#![no_main]
//! PHP-FPM's own log lines.
use gateway_exporter::logs::phpfpm;
use gateway_exporter_fuzz::{CheckedSink, lines};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut sink = CheckedSink::default();
    for line in lines(data) {
        phpfpm::parse(line, &mut sink);
    }
});
