#![no_main]
//! Apache mod_status `?auto` pages.
use gateway_exporter::workers::fuzzing::parse_apache;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(status) = parse_apache(data) {
        assert!(status.active.is_some() && status.idle.is_some());
    }
});
