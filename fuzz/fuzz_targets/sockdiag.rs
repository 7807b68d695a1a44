#![no_main]
//! sock_diag replies (one netlink message payload): the first byte picks unix or inet.
use gateway_exporter::workers::fuzzing::{parse_inet_msg, parse_unix_msg};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, msg)) = data.split_first() else {
        return;
    };
    if pick & 1 == 0 {
        let _ = parse_unix_msg(msg);
    } else {
        let _ = parse_inet_msg(msg);
    }
});
