#![no_main]
//! nginx stub_status pages.
use gateway_exporter::workers::fuzzing::parse_nginx;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_nginx(data);
});
