#![no_main]
//! The one `host:port` parser; the first two bytes are the default port.
use gateway_exporter::base::net::parse_host_port;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((port, text)) = data.split_first_chunk::<2>() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    if let Ok((host, port)) = parse_host_port(text, u16::from_be_bytes(*port)) {
        assert!(!host.is_empty() && port != 0);
        assert!(text.contains(host.as_str()));
    }
});
