#![no_main]
//! HAProxy httplog and state lines: one parser over every line, since it keeps state.
use gateway_exporter::logs::haproxy::Haproxy;
use gateway_exporter_fuzz::{CheckedSink, lines};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parser = Haproxy::default();
    let mut sink = CheckedSink::default();
    for line in lines(data) {
        parser.parse(line, &mut sink);
    }
});
