#![no_main]
//! The config file: arbitrary YAML through parsing and validation.
use gateway_exporter::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = Config::parse(text, "fuzz.yml") {
        // What passed validation once passes it again (a reload re-validates).
        config.validate().unwrap();
    }
});
