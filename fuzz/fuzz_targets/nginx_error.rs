#![no_main]
//! nginx error.log lines.
use gateway_exporter::logs::nginx_error;
use gateway_exporter_fuzz::{CheckedSink, lines};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut sink = CheckedSink::default();
    let mut parser = nginx_error::NginxError::default();
    for line in lines(data) {
        parser.parse(line, &mut sink);
    }
    parser.end_of_input(&mut sink);
});
