#![no_main]
//! nginx access lines under a few log_formats: the first byte picks the format.
use gateway_exporter::logs::nginx_access::{AccessFormat, COMBINED};
use gateway_exporter_fuzz::{CheckedSink, lines};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static FORMATS: LazyLock<Vec<AccessFormat>> = LazyLock::new(|| {
    [
        COMBINED,
        "$host \"$upstream_addr\" $status [$upstream_status] $upstream_response_time",
        "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\" $server_name $upstream_addr $upstream_status $upstream_response_time",
        "$time_iso8601|$http_host|$status|$upstream_status|$upstream_addr|$upstream_response_time",
    ]
    .iter()
    .map(|f| AccessFormat::compile(f).expect("a valid log_format"))
    .collect()
});

fuzz_target!(|data: &[u8]| {
    let Some((&pick, data)) = data.split_first() else {
        return;
    };
    let format = &FORMATS[usize::from(pick) % FORMATS.len()];
    let mut sink = CheckedSink::default();
    for line in lines(data) {
        format.parse(line, &mut sink);
    }
});
