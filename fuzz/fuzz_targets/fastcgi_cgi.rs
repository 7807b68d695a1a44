#![no_main]
//! The CGI answer inside FastCGI STDOUT records: headers, `Status:`, body.
use gateway_exporter::workers::fuzzing::parse_cgi;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(response) = parse_cgi(data) {
        assert!(response.body.len() < data.len());
    }
});
