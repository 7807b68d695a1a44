//! Property tests: no byte sequence panics a parser, the line splitter or the
//! log_format compiler.

use gateway_exporter::logs::apache_error::ApacheError;
use gateway_exporter::logs::cause::{AppCause, Cause, Event};
use gateway_exporter::logs::haproxy::Haproxy;
use gateway_exporter::logs::nginx_access::{
    AccessFormat, COMBINED, JsonFormat, JsonKeys, scan_object,
};
use gateway_exporter::logs::nginx_error::NginxError;
use gateway_exporter::logs::php_error::PhpError;
use gateway_exporter::logs::phpfpm;
use gateway_exporter::logs::sink::{Access, Sink, Verdict};
use gateway_exporter::logs::tail::{Lines, split_lines};
use proptest::prelude::*;
use std::path::Path;

#[derive(Default)]
struct Count(usize);

impl Sink for Count {
    fn error(&mut self, _: Cause, vhost: &[u8], upstream: &[u8]) {
        self.0 += 1 + vhost.len() + upstream.len();
    }
    fn event(&mut self, _: Event) {
        self.0 += 1;
    }
    fn access(&mut self, a: &Access<'_>) {
        self.0 += a.vhost.len() + a.upstream_addr.len() + a.upstream_status.len();
    }
    fn app_error(&mut self, _: AppCause, vhost: &[u8]) {
        self.0 += 1 + vhost.len();
    }
}

impl Lines for Count {
    fn line(&mut self, line: &[u8]) {
        assert!(!line.contains(&b'\n'));
        self.0 += 1;
    }
    fn too_long(&mut self) {
        self.0 += 1;
    }
    fn bytes(&mut self, _: u64) {}
    fn rotation(&mut self) {}
    fn read_error(&mut self, _: &Path, _: &'static str, _: &str) {}
}

/// Real line shapes with random bytes spliced in, so parsers get deep, not just rejected.
fn mangled() -> impl Strategy<Value = Vec<u8>> {
    let seeds: Vec<&'static [u8]> = vec![
        b"2026/11/21 23:57:38 [crit] 1#1: *37 connect() to unix:/tmp/x.sock failed (2: No such file or directory) while connecting to upstream, client: 1.2.3.4, server: a, upstream: \"fastcgi://unix:/tmp/x.sock:\"",
        b"2026/11/21 23:57:38 [error] 1#1: *1 upstream timed out (110: Connection timed out) while reading response header from upstream, client: 1, server: s, upstream: \"http://",
        b"[Sat Nov 21 23:59:35.161911 2026] [proxy:error] [pid 1:tid 2] (111)Connection refused: AH00957: http: attempt to connect to 127.0.0.1:9 (127.0.0.1:9) failed",
        b"[Sat Nov 21 23:59:35.161911 2026] [proxy_balancer:error] [pid 1:tid 2] [client 1:2] AH01170: balancer://dead: All workers are in error state",
        b"<134>Nov 22 00:56:01 localhost haproxy[1]: 127.0.0.1:52414 [22/Nov/2026:00:56:00.447] fe be/<NOSRV> 0/1001/-1/-1/1001 503 217 - - sQ-- 2/2/1/0/0 0/1 \"GET / HTTP/1.0\"",
        b"127.0.0.1 - - [21/Nov/2026:23:57:38 +0000] \"GET / HTTP/1.1\" 502 157 \"-\" \"curl\"",
        b"{\"status\":009,\"host\":\"a\",\"upstream_addr\":\"1, 2 : 3\",\"upstream_status\":\"502, 502 : 200\",\"x\":{\"y\":[\"}\"]}}",
        b"[22-Nov-2026 00:00:00] WARNING: [pool www] server reached pm.max_children setting (5)",
    ];
    (
        prop::sample::select(seeds),
        any::<usize>(),
        prop::collection::vec(any::<u8>(), 0..40),
        any::<usize>(),
    )
        .prop_map(|(seed, at, junk, cut)| {
            let mut v = seed.to_vec();
            let at = at % (v.len() + 1);
            v.splice(at..at, junk);
            v.truncate(cut % (v.len() + 1).max(1) + v.len() / 2);
            v
        })
}

/// What an access line carried, owned.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    vhost: Vec<u8>,
    status: u16,
    upstream_addr: Vec<u8>,
    upstream_status: Vec<u8>,
    upstream_time: Option<f64>,
}

#[derive(Default)]
struct Recorder(Vec<Seen>);

impl Sink for Recorder {
    fn error(&mut self, _: Cause, _: &[u8], _: &[u8]) {}
    fn event(&mut self, _: Event) {}
    fn access(&mut self, a: &Access<'_>) {
        self.0.push(Seen {
            vhost: a.vhost.to_vec(),
            status: a.status,
            upstream_addr: a.upstream_addr.to_vec(),
            upstream_status: a.upstream_status.to_vec(),
            upstream_time: a.upstream_time,
        });
    }
    fn app_error(&mut self, _: AppCause, _: &[u8]) {}
}

/// nginx variables and a value strategy for each: values never hold a space, a quote, a
/// bracket or a `|`, so every separator below ends its field where the format says.
fn variables() -> Vec<(&'static str, BoxedStrategy<String>)> {
    let word = || "[a-z0-9./-]{1,12}".boxed();
    vec![
        ("status", "[1-5][0-9][0-9]".boxed()),
        ("host", "[a-z]{1,8}(\\.[a-z]{1,5})?".boxed()),
        ("server_name", "[a-z]{1,8}".boxed()),
        (
            "upstream_addr",
            "10\\.0\\.[0-9]{1,3}\\.[0-9]{1,3}:[0-9]{2,5}(,10\\.0\\.0\\.[0-9]:80)?".boxed(),
        ),
        (
            "upstream_status",
            "[1-5][0-9][0-9](,[1-5][0-9][0-9])?".boxed(),
        ),
        ("upstream_response_time", "[0-9]\\.[0-9]{3}".boxed()),
        ("remote_addr", word()),
        ("time_local", word()),
        ("request_time", word()),
        ("body_bytes_sent", "[0-9]{1,6}".boxed()),
        ("http_user_agent", word()),
    ]
}

const SEPARATORS: [&str; 8] = [" ", " - ", "\" \"", " [", "] ", " ua=\"", "\" ", "|"];

/// A `log_format` built from variables (always `$status`) and separators, a line written
/// in it, and the access the parser must read from that line.
fn format_and_line() -> impl Strategy<Value = (String, String, Seen)> {
    let names: Vec<usize> = (1..variables().len()).collect();
    (
        prop::sample::subsequence(names, 0..6).prop_shuffle(),
        any::<prop::sample::Index>(),
        prop::collection::vec(prop::sample::select(SEPARATORS.to_vec()), 12),
        any::<bool>(),
        prop::option::of(prop::sample::select(vec!["[", "- ", "\""])),
        any::<bool>(),
    )
        .prop_flat_map(|(mut picked, status_at, seps, trailing, prefix, braced)| {
            picked.insert(status_at.index(picked.len() + 1), 0); // $status, somewhere
            let all = variables();
            let values: Vec<BoxedStrategy<String>> =
                picked.iter().map(|i| all[*i].1.clone()).collect();
            (Just((picked, seps, trailing, prefix, braced)), values)
        })
        .prop_map(|((picked, seps, trailing, prefix, braced), values)| {
            let all = variables();
            let mut format = prefix.unwrap_or("").to_string();
            let mut line = format.clone();
            let mut fields = std::collections::HashMap::new();
            for (n, (i, value)) in picked.iter().zip(&values).enumerate() {
                let name = all[*i].0;
                format.push_str(&if braced {
                    format!("${{{name}}}")
                } else {
                    format!("${name}")
                });
                line.push_str(value);
                fields.insert(name, value.as_str());
                if n + 1 < picked.len() || trailing {
                    format.push_str(seps[n]);
                    line.push_str(seps[n]);
                }
            }
            let field = |name: &str| fields.get(name).copied().unwrap_or("").as_bytes().to_vec();
            let vhost = ["server_name", "host"]
                .iter()
                .find_map(|n| fields.get(n))
                .map_or(b"-".to_vec(), |v| v.as_bytes().to_vec());
            let want = Seen {
                vhost,
                status: fields["status"].parse().unwrap(),
                upstream_addr: field("upstream_addr"),
                upstream_status: field("upstream_status"),
                upstream_time: fields
                    .get("upstream_response_time")
                    .map(|t| t.parse().unwrap()),
            };
            (format, line, want)
        })
}

fn all_parsers(line: &[u8]) {
    let mut sink = Count::default();
    let mut nginx = NginxError::default();
    nginx.parse(line, &mut sink);
    nginx.end_of_input(&mut sink);
    phpfpm::parse(line, &mut sink);
    PhpError::default().parse(line, &mut sink);
    ApacheError::default().parse(line, &mut sink);
    Haproxy::default().parse(line, &mut sink);
    AccessFormat::compile(COMBINED)
        .unwrap()
        .parse(line, &mut sink);
    AccessFormat::compile(
        "$host \"$upstream_addr\" $status [$upstream_status] $upstream_response_time",
    )
    .unwrap()
    .parse(line, &mut sink);
    JsonFormat::new(&JsonKeys::default()).parse(line, &mut sink);
    scan_object(line, |_, _| {});
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(line in prop::collection::vec(any::<u8>(), 0..300)) {
        all_parsers(&line);
    }

    #[test]
    fn mangled_real_lines_never_panic(line in mangled()) {
        all_parsers(&line);
    }

    #[test]
    fn formats_never_panic(format in "[ -~]{0,60}", line in prop::collection::vec(any::<u8>(), 0..100)) {
        if let Ok(f) = AccessFormat::compile(&format) {
            f.parse(&line, &mut Count::default());
        }
    }

    #[test]
    fn token_formats_parse_the_lines_they_describe(
        (format, line, want) in format_and_line(),
        junk in prop::collection::vec(any::<u8>(), 0..20),
        at in any::<usize>(),
    ) {
        let compiled = AccessFormat::compile(&format);
        prop_assert!(compiled.is_ok(), "{format:?}: {:?}", compiled.err());
        let compiled = compiled.unwrap();
        let mut got = Recorder::default();
        prop_assert_eq!(compiled.parse(line.as_bytes(), &mut got), Verdict::Known, "{:?} on {:?}", format, line);
        prop_assert_eq!(&got.0, &vec![want], "{:?} on {:?}", format, line);
        // The same line with junk spliced in anywhere: no panic, at most one access.
        let mut mangled = line.into_bytes();
        let at = at % (mangled.len() + 1);
        mangled.splice(at..at, junk);
        let mut got = Recorder::default();
        compiled.parse(&mangled, &mut got);
        prop_assert!(got.0.len() <= 1);
    }

    #[test]
    fn splitting_keeps_every_line(mut chunks in prop::collection::vec(prop::collection::vec(prop::sample::select(vec![b'a', b'\n', b'\r', 0u8]), 0..50), 0..10)) {
        chunks.push(b"\n".to_vec()); // every line terminated: each is a line or one too_long
        let mut carry = Vec::new();
        let mut skipping = false;
        let mut out = Count::default();
        for c in &chunks {
            split_lines(c, &mut carry, &mut skipping, 16, &mut out);
        }
        let newlines = chunks.iter().flatten().filter(|b| **b == b'\n').count();
        prop_assert_eq!(out.0, newlines);
    }
}
