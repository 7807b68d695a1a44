#![no_main]
//! uWSGI stats server JSON.
use gateway_exporter::workers::fuzzing::parse_uwsgi;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(status) = parse_uwsgi(data) {
        assert_eq!(
            status.active.zip(status.idle).map(|(a, i)| a + i),
            status.limit
        );
    }
});
