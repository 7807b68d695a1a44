#![no_main]
//! nginx access lines in JSON (escape=json), with the default keys and with renamed ones;
//! the first byte picks.
use gateway_exporter::logs::nginx_access::{JsonFormat, JsonKeys, scan_object};
use gateway_exporter_fuzz::{CheckedSink, lines};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static FORMATS: LazyLock<[JsonFormat; 2]> = LazyLock::new(|| {
    let renamed = JsonKeys {
        status: Some("s".into()),
        vhost: Some("vhost".into()),
        upstream_addr: Some("ua".into()),
        upstream_status: Some("us".into()),
        upstream_response_time: Some("urt".into()),
        user_agent: Some("ua_string".into()),
    };
    [
        JsonFormat::new(&JsonKeys::default()),
        JsonFormat::new(&renamed),
    ]
});

fuzz_target!(|data: &[u8]| {
    let Some((&pick, data)) = data.split_first() else {
        return;
    };
    let format = &FORMATS[usize::from(pick & 1)];
    let mut sink = CheckedSink::default();
    for line in lines(data) {
        format.parse(line, &mut sink);
        scan_object(line, |key, value| {
            // Keys and values are slices of the line, never past it.
            assert!(key.len() + value.len() <= line.len());
        });
    }
});
