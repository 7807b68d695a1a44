//! Property tests for every parser of untrusted bytes besides the log lines (those are in
//! logs_proptest.rs; here only the upstream times they emit): status pages, FastCGI, x509, fingerprints, durations, checkpoints,
//! sock_diag replies, the config, host:port, the servers' config files. Each gets random
//! bytes (no panic, no hang) and generated well-formed input whose answer is known. The
//! fuzz targets in fuzz/ run the same parsers for minutes (docs/fuzzing.md).

use gateway_exporter::base::duration;
use gateway_exporter::base::net::parse_host_port;
use gateway_exporter::config::Config;
use gateway_exporter::logs::cause::{AppCause, Cause, Event};
use gateway_exporter::logs::fuzzing::{load_checkpoint, save_checkpoint};
use gateway_exporter::logs::haproxy::Haproxy;
use gateway_exporter::logs::nginx_access::AccessFormat;
use gateway_exporter::logs::sink::{Access, Sink};
use gateway_exporter::logs::tail::Offset;
use gateway_exporter::probe::fingerprint::{Vendor, classify};
use gateway_exporter::probe::x509::not_after;
use gateway_exporter::workers::fuzzing::{
    ListenAddr, fpm_listen_address, parse_apache, parse_apache_limit, parse_cgi, parse_fpm,
    parse_fpm_pools, parse_inet_msg, parse_nginx, parse_nginx_limit, parse_unix_msg, parse_uwsgi,
    read_fastcgi_reply,
};
use hyper::HeaderMap;
use hyper::header::{HeaderName, HeaderValue};
use proptest::prelude::*;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

/// Counters as status pages print them, the extremes included.
fn counter() -> impl Strategy<Value = u64> {
    prop_oneof![0..1000u64, Just(u64::MAX), Just(u64::MAX - 1), any::<u64>()]
}

/// One FastCGI record of `kind` around `content`, with `padding` bytes after it.
fn record(kind: u8, content: &[u8], padding: u8) -> Vec<u8> {
    let mut r = vec![1, kind, 0, 1];
    r.extend_from_slice(&(content.len() as u16).to_be_bytes());
    r.extend_from_slice(&[padding, 0]);
    r.extend_from_slice(content);
    r.extend(std::iter::repeat_n(0, usize::from(padding)));
    r
}

/// A DER element with a short or long-form length.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match content.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n < 0x100 => out.extend_from_slice(&[0x81, n as u8]),
        n => out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(content);
    out
}

/// A certificate skeleton: the fields before validity are empty elements, which is all
/// `not_after` reads.
fn certificate(not_after_tag: u8, not_after: &str) -> Vec<u8> {
    let validity = [
        der(0x17, b"260101000000Z"),
        der(not_after_tag, not_after.as_bytes()),
    ]
    .concat();
    let tbs = [
        der(0xa0, &der(0x02, &[2])),
        der(0x02, &[1]),
        der(0x30, &[]),
        der(0x30, &[]),
        der(0x30, &validity),
    ]
    .concat();
    der(0x30, &der(0x30, &tbs))
}

/// Days from 1970-01-01, counted the slow way (an independent reference).
fn days_since_epoch(year: i64, month: i64, day: i64) -> i64 {
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let year_days = |y: i64| if leap(y) { 366 } else { 365 };
    let mut days: i64 =
        (1970..year).map(year_days).sum::<i64>() - (year..1970).map(year_days).sum::<i64>();
    for m in 1..month {
        days += month_days[(m - 1) as usize] + i64::from(m == 2 && leap(year));
    }
    days + day - 1
}

/// The upstream times the log parsers emit.
#[derive(Default)]
struct Times(Vec<f64>);

impl Sink for Times {
    fn error(&mut self, _: Cause, _: &[u8], _: &[u8]) {}
    fn event(&mut self, _: Event) {}
    fn app_error(&mut self, _: AppCause, _: &[u8]) {}
    fn access(&mut self, a: &Access<'_>) {
        self.0.extend(a.upstream_time);
    }
}

/// Numbers as a log may hold them, the ones f64 parsing turns infinite included.
fn time_token() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "inf", "-inf", "infinity", "NaN", "1e999", "1e308", "-1", "-", "0"
        ])
        .prop_map(String::from),
        (0..100_000u32).prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn log_times_are_finite_seconds(tries in prop::collection::vec(time_token(), 1..4), tr in time_token()) {
        let mut times = Times::default();
        let access = AccessFormat::compile("$host $status $upstream_response_time").unwrap();
        access.parse(format!("a 502 {}", tries.join(", ")).as_bytes(), &mut times);
        let haproxy = format!("127.0.0.1:1 [22/Nov/2026:00:00:08.048] fe be/s1 0/0/0/{tr}/5 200 0 - - ---- 1/1/0/0/0 0/0 \"GET / HTTP/1.1\"");
        Haproxy::default().parse(haproxy.as_bytes(), &mut times);
        for t in times.0 {
            prop_assert!(t.is_finite() && t >= 0.0, "{t}");
        }
    }

    #[test]
    fn status_pages_never_panic(body in bytes(400), tcp in any::<bool>()) {
        let _ = parse_fpm(&body, "/status", tcp);
        let _ = parse_apache(&body);
        let _ = parse_nginx(&body);
        let _ = parse_uwsgi(&body);
    }

    #[test]
    fn fpm_counters_pass_through(
        queue in counter(), queue_len in counter(), idle in counter(), active in counter(),
        reached in counter(), slow in counter(),
    ) {
        let body = format!(
            r#"{{"pool":"www","listen queue":{queue},"listen queue len":{queue_len},"idle processes":{idle},"active processes":{active},"max children reached":{reached},"slow requests":{slow}}}"#
        );
        let s = parse_fpm(body.as_bytes(), "/status", true).unwrap();
        prop_assert_eq!(
            (s.active, s.idle, s.queue, s.queue_limit, s.limit_reached, s.slow_requests),
            (Some(active), Some(idle), Some(queue), Some(queue_len), Some(reached), Some(slow))
        );
    }

    #[test]
    fn fpm_process_lists_count_every_worker_once(states in prop::collection::vec(0..3u8, 1..20)) {
        let procs: Vec<String> = states
            .iter()
            .map(|s| match s {
                0 => r#"{"state":"Idle","request uri":"/"}"#.to_string(),
                1 => r#"{"state":"Running","request uri":"/app.php?x=1"}"#.to_string(),
                _ => r#"{"state":"Running","request uri":"/status?json&full"}"#.to_string(),
            })
            .collect();
        let body = format!(
            r#"{{"pool":"www","listen queue":0,"listen queue len":0,"idle processes":0,"active processes":0,"max children reached":0,"slow requests":0,"processes":[{}]}}"#,
            procs.join(",")
        );
        let s = parse_fpm(body.as_bytes(), "/status", false).unwrap();
        let running_others = states.iter().filter(|s| **s == 1).count() as u64;
        prop_assert_eq!(s.active, Some(running_others));
        prop_assert_eq!(s.idle, Some(states.len() as u64 - running_others));
    }

    #[test]
    fn apache_counts_our_request_idle_without_wrapping(busy in counter(), idle in counter()) {
        let page = format!("ServerMPM: event\nBusyWorkers: {busy}\nIdleWorkers: {idle}\n");
        let s = parse_apache(page.as_bytes()).unwrap();
        let ours = busy.min(1);
        prop_assert_eq!(s.active, Some(busy - ours));
        prop_assert_eq!(s.idle, Some(idle.saturating_add(ours)));
    }

    #[test]
    fn nginx_stub_status_without_wrapping(
        accepts in counter(), handled in counter(), requests in counter(),
        reading in counter(), writing in counter(), waiting in counter(),
    ) {
        let page = format!(
            "Active connections: 1 \nserver accepts handled requests\n {accepts} {handled} {requests} \nReading: {reading} Writing: {writing} Waiting: {waiting} \n"
        );
        let s = parse_nginx(page.as_bytes()).unwrap();
        prop_assert_eq!(s.active, Some(reading.saturating_add(writing).saturating_sub(1)));
        prop_assert_eq!(s.idle, Some(waiting));
        prop_assert_eq!(s.limit_reached, Some(accepts.saturating_sub(handled)));
    }

    #[test]
    fn uwsgi_workers_add_up(statuses in prop::collection::vec(prop::sample::select(vec!["idle", "busy", "cheap", "pause"]), 0..30)) {
        let workers: Vec<String> = statuses.iter().map(|s| format!(r#"{{"status":"{s}"}}"#)).collect();
        let page = format!(r#"{{"listen_queue":1,"workers":[{}]}}"#, workers.join(","));
        let s = parse_uwsgi(page.as_bytes()).unwrap();
        // Without cores a worker is one thread: busy is active, idle is idle, and a cheap or
        // paused worker serves nothing (neither) while still counting toward the limit.
        let count = |status: &str| statuses.iter().filter(|s| **s == status).count() as u64;
        prop_assert_eq!(
            (s.active, s.idle, s.limit),
            (Some(count("busy")), Some(count("idle")), Some(statuses.len() as u64))
        );
    }

    #[test]
    fn fastcgi_replies_never_panic(reply in bytes(600), cap in 0..2048usize) {
        let _ = parse_cgi(&reply);
        if let Ok(r) = read_fastcgi_reply(&reply, cap) {
            prop_assert!(r.body.len() <= cap);
        }
    }

    #[test]
    fn fastcgi_records_reassemble_the_body(
        body in bytes(3000),
        chunk in 1..700usize,
        padding in 0..8u8,
        status in 100..600u16,
    ) {
        let stdout = [format!("Status: {status} X\r\nContent-type: text/plain\r\n\r\n").into_bytes(), body.clone()].concat();
        let mut reply = record(7, b"a warning on stderr", padding);
        for c in stdout.chunks(chunk) {
            reply.extend(record(6, c, padding));
        }
        reply.extend(record(3, &[0; 8], 0));
        let got = read_fastcgi_reply(&reply, 1 << 20).unwrap();
        prop_assert_eq!(got.status, status);
        // An empty body is replaced by STDERR, where FPM says "Primary script unknown".
        let expected = if body.is_empty() { b"a warning on stderr".to_vec() } else { body };
        prop_assert_eq!(got.body, expected);
    }

    #[test]
    fn x509_never_panics(der_bytes in bytes(300), time in "[0-9Z]{0,16}", tag in 0x16..0x19u8) {
        let _ = not_after(&der_bytes);
        let _ = not_after(&certificate(tag, &time));
    }

    #[test]
    fn x509_reads_every_valid_time(
        year in 1950..2100i64, month in 1..=12i64, day in 1..=28i64,
        hour in 0..24i64, minute in 0..60i64, second in 0..60i64, generalized in any::<bool>(),
    ) {
        // UTCTime holds 1950..=2049 only (RFC 5280).
        let (tag, text) = if generalized || year >= 2050 {
            (0x18, format!("{year:04}{month:02}{day:02}{hour:02}{minute:02}{second:02}Z"))
        } else {
            (0x17, format!("{:02}{month:02}{day:02}{hour:02}{minute:02}{second:02}Z", year % 100))
        };
        let want = days_since_epoch(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
        prop_assert_eq!(not_after(&certificate(tag, &text)), Some(want));
    }

    #[test]
    fn fingerprints_never_panic(
        status in any::<u16>(),
        headers in prop::collection::vec((prop::sample::select(vec!["server", "via", "cf-ray", "x-cache", "x-served-by", "x-amz-cf-id", "content-type", "x-x"]), bytes(40)), 0..6),
        body in bytes(500),
    ) {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            if let Ok(v) = HeaderValue::from_bytes(&value) {
                map.append(HeaderName::from_static(name), v);
            }
        }
        let f = classify(status, &map, &body);
        if f.vendor != Vendor::Unknown {
            prop_assert_eq!(f.vendor.layer(), f.layer);
        }
    }

    #[test]
    fn durations_are_bounded(text in "[0-9.]{0,25}(ms|s|m|h|d|x|)[0-9.]{0,5}(ms|s|m|h|d|)") {
        if let Ok(d) = duration::parse(&text) {
            prop_assert!(d <= duration::MAX);
        }
    }

    #[test]
    fn durations_read_their_value(n in prop_oneof![0..1000u64, any::<u64>()], unit in prop::sample::select(vec![("ms", 1u128), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)])) {
        let millis = u128::from(n) * unit.1;
        let got = duration::parse(&format!("{n}{}", unit.0));
        if millis <= duration::MAX.as_millis() {
            // Through f64: exact for every value a setting takes (at most 365d in ms).
            prop_assert_eq!(got.map(|d| d.as_millis()), Ok(millis));
        } else {
            prop_assert!(got.is_err());
        }
    }

    #[test]
    fn checkpoints_load_any_file(text in bytes(300)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.offsets");
        std::fs::write(&path, &text).unwrap();
        let _ = load_checkpoint(&path);
    }

    #[test]
    fn checkpoints_round_trip(offsets in prop::collection::vec((any::<u64>(), any::<u64>(), any::<u64>(), "/[^\n]{0,40}"), 0..5)) {
        let offsets: Vec<Offset> = offsets
            .into_iter()
            .map(|(dev, ino, offset, path)| Offset { id: (dev, ino), offset, path: PathBuf::from(path) })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.offsets");
        save_checkpoint(&path, &offsets).unwrap();
        prop_assert_eq!(load_checkpoint(&path), Some(offsets));
    }

    #[test]
    fn sock_diag_replies_never_panic(msg in bytes(200)) {
        let _ = parse_unix_msg(&msg);
        let _ = parse_inet_msg(&msg);
    }

    #[test]
    fn sock_diag_inet_listeners(v6 in any::<bool>(), ip in any::<[u8; 16]>(), port in any::<u16>(), queue in any::<u32>(), limit in any::<u32>()) {
        let mut msg = vec![0u8; 72];
        msg[0] = if v6 { libc::AF_INET6 } else { libc::AF_INET } as u8;
        msg[1] = 10; // TCP_LISTEN
        msg[4..6].copy_from_slice(&port.to_be_bytes());
        msg[8..24].copy_from_slice(&ip);
        msg[56..60].copy_from_slice(&queue.to_ne_bytes());
        msg[60..64].copy_from_slice(&limit.to_ne_bytes());
        let addr: IpAddr = if v6 { ip.into() } else { <[u8; 4]>::try_from(&ip[..4]).unwrap().into() };
        let l = parse_inet_msg(&msg).unwrap();
        prop_assert_eq!(l.addr, ListenAddr::Tcp(SocketAddr::new(addr, port)));
        prop_assert_eq!((l.queue, l.limit), (queue, limit));
    }

    #[test]
    fn configs_never_panic(text in "[ -~\n]{0,200}") {
        let _ = Config::parse(&text, "prop.yml");
    }

    #[test]
    fn config_sections_never_panic(
        section in prop::sample::select(vec!["probes", "logs", "workers", "upstreams", "modules", "log_settings", "autodetect"]),
        body in "[ -~\n]{0,120}",
    ) {
        let _ = Config::parse(&format!("{section}:\n  {body}"), "prop.yml");
        let _ = Config::parse(&format!("{section}: [{{{body}}}]"), "prop.yml");
    }

    #[test]
    fn host_port_never_panics(text in "\\PC{0,40}", default in any::<u16>()) {
        if let Ok((host, port)) = parse_host_port(&text, default) {
            prop_assert!(!host.is_empty() && port != 0);
        }
    }

    #[test]
    fn host_port_round_trip(host in "[a-z0-9.-]{1,30}|[0-9a-f:]{2,20}", port in 1..=u16::MAX) {
        let text = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
        prop_assert_eq!(parse_host_port(&text, 0), Ok((host, port)));
    }

    #[test]
    fn server_confs_never_panic(text in "[ -~\n]{0,200}") {
        let _ = parse_fpm_pools(&text);
        let _ = parse_apache_limit(&text);
        let _ = parse_nginx_limit(&text, 4);
        let _ = fpm_listen_address(&text);
    }

    #[test]
    fn fpm_pool_files_read_back(name in "[a-z][a-z0-9_]{0,10}", children in any::<u64>(), port in 1..=u16::MAX) {
        let text = format!("[{name}]\nlisten = 127.0.0.1:{port}\npm.max_children = {children} ; a comment\n");
        let pools = parse_fpm_pools(&text).unwrap();
        prop_assert_eq!(pools.len(), usize::from(name != "global"));
        if let Some(p) = pools.first() {
            prop_assert_eq!(p.max_children, Some(children));
            prop_assert_eq!(p.listen.clone(), Some(format!("127.0.0.1:{port}")));
        }
    }
}

/// The durations issue 14 saw panic `--config.check` are errors that name the file.
#[test]
fn oversized_config_durations_are_errors() {
    for interval in [
        "300000000000000d",
        "10000000000000000000s",
        "1e400s",
        "NaNs",
    ] {
        let yaml = format!(
            "probes:\n  - name: p\n    url: http://127.0.0.1:1/\n    interval: {interval}\n"
        );
        let error = format!("{:#}", Config::parse(&yaml, "x.yml").unwrap_err());
        assert!(
            error.contains("x.yml") && error.contains("duration"),
            "{interval}: {error}"
        );
    }
    assert_eq!(
        duration::parse("365d"),
        Ok(Duration::from_secs(365 * 86400))
    );
}
