#![no_main]
//! Apache error_log: one parser over every line, since it pairs lines of one request.
use gateway_exporter::logs::apache_error::ApacheError;
use gateway_exporter_fuzz::{CheckedSink, lines};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parser = ApacheError::default();
    let mut sink = CheckedSink::default();
    for line in lines(data) {
        parser.parse(line, &mut sink);
    }
});
