#![no_main]
//! A FastCGI server's reply (records) read back from memory, under a small cap.
use gateway_exporter::workers::fuzzing::read_fastcgi_reply;
use libfuzzer_sys::fuzz_target;

const CAP: usize = 4096;

fuzz_target!(|data: &[u8]| {
    if let Ok(response) = read_fastcgi_reply(data, CAP) {
        assert!(response.body.len() <= CAP);
    }
});
