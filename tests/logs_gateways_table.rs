//! Envoy and Traefik (no binaries here) from the lines their docs specify, through the
//! exporter's `--one-shot`: the config names, the causes, the responses and tries; the
//! cardinality caps holding for each of the four gateway formats; and no mangled line of
//! theirs panicking a parser.

mod common;
#[path = "common/servers.rs"]
mod servers;

use common::*;
use gateway_exporter::logs::cause::{AppCause, Cause, Event};
use gateway_exporter::logs::ingress_nginx::IngressNginx;
use gateway_exporter::logs::sink::{Access, Sink};
use gateway_exporter::logs::{caddy, envoy, traefik};
use proptest::prelude::*;
use servers::one_shot;

fn envoy(code: u16, flags: &str, authority: &str, host: &str) -> String {
    format!(
        "[2026-11-22T10:00:00.310Z] \"GET /x HTTP/1.1\" {code} {flags} 0 91 3 12 \"10.0.35.28\" \"curl/7.88.1\" \"cc21d9b0\" \"{authority}\" \"{host}\"\n"
    )
}

fn traefik_json(status: u16, size: u32, router: &str, url: &str) -> String {
    let server = if url.is_empty() {
        String::new()
    } else {
        format!(r#""ServiceURL":"{url}","OriginStatus":{status},"#)
    };
    format!(
        r#"{{"DownstreamContentSize":{size},"DownstreamStatus":{status},{server}"RequestHost":"shop.test","RouterName":"{router}","ServiceName":"shop@docker","level":"info","msg":""}}"#
    ) + "\n"
}

fn traefik_clf(status: u16, size: u32, router: &str, url: &str) -> String {
    format!(
        "10.0.0.1 - - [22/Nov/2026:10:00:00 +0000] \"GET /x HTTP/1.1\" {status} {size} \"-\" \"curl/8.5.0\" 42 \"{router}\" \"{url}\" 3ms\n"
    )
}

#[test]
fn envoy_and_traefik_lines_through_one_shot() {
    let dir = tempdir();
    let d = dir.path();
    let envoy_log: String = [
        envoy(503, "UF,URX", "shop.test", "10.0.2.1:80"),
        envoy(503, "UH", "shop.test", "-"),
        envoy(504, "UT", "shop.test", "10.0.2.1:80"),
        envoy(503, "UO", "shop.test", "-"),
        envoy(429, "RL", "shop.test", "-"),
        envoy(0, "DC", "shop.test", "10.0.2.1:80"),
        envoy(200, "-", "shop.test", "10.0.2.1:80"),
        r#"{"authority":"shop.test","response_code":"502","response_flags":"UPE","upstream_host":"10.0.2.2:80","upstream_cluster":"web","user_agent":"curl"}"#.to_string() + "\n",
        "not an envoy line\n".into(),
    ]
    .concat();
    let traefik_log: String = [
        traefik_json(200, 612, "shop@docker", "http://10.0.0.5:80"),
        traefik_json(504, 15, "shop@docker", "http://10.0.0.5:80"),
        traefik_json(502, 11, "shop@docker", "http://10.0.0.5:80"),
        traefik_clf(503, 19, "shop@docker", "-"),
        traefik_clf(429, 17, "shop@docker", "-"),
    ]
    .concat();
    std::fs::write(d.join("envoy.log"), envoy_log).unwrap();
    std::fs::write(d.join("traefik.log"), traefik_log).unwrap();
    let metrics = one_shot(&format!(
        "logs:\n  - {{path: {d}/envoy.log, format: envoy, name: envoy}}\n  - {{path: {d}/traefik.log, format: traefik, name: traefik}}\n",
        d = d.display()
    ));
    let errors = |log: &str, cause: &str, upstream: &str| {
        sum(
            &metrics,
            "gateway_upstream_errors_total",
            &[("log", log), ("cause", cause), ("upstream", upstream)],
        )
    };
    let ctx = &metrics;
    assert_eq!(
        errors("envoy", "connect_refused", "10.0.2.1:80"),
        1.0,
        "{ctx}"
    );
    assert_eq!(errors("envoy", "no_live_upstreams", "-"), 1.0, "{ctx}");
    assert_eq!(errors("envoy", "timeout", "10.0.2.1:80"), 1.0, "{ctx}");
    assert_eq!(errors("envoy", "circuit_open", "-"), 1.0, "{ctx}");
    assert_eq!(errors("envoy", "rate_limited", "-"), 1.0, "{ctx}");
    assert_eq!(
        errors("envoy", "invalid_response", "10.0.2.2:80"),
        1.0,
        "{ctx}"
    );
    assert_eq!(
        sum(
            &metrics,
            "gateway_upstream_errors_total",
            &[("log", "envoy")]
        ),
        6.0,
        "DC and the 200 count nothing\n{ctx}"
    );
    // Code 0 (client gone) is no response; the rest are.
    assert_eq!(
        sum(
            &metrics,
            "gateway_http_responses_total",
            &[("log", "envoy")]
        ),
        7.0,
        "{ctx}"
    );
    assert_eq!(
        sum(
            &metrics,
            "gateway_upstream_tries_total",
            &[("log", "envoy"), ("upstream", "10.0.2.1:80")]
        ),
        3.0,
        "{ctx}"
    );
    assert_eq!(
        sum(
            &metrics,
            "gateway_log_lines_unrecognised_total",
            &[("log", "envoy")]
        ),
        1.0,
        "{ctx}"
    );
    assert_eq!(errors("traefik", "timeout", "10.0.0.5:80"), 1.0, "{ctx}");
    assert_eq!(errors("traefik", "no_live_upstreams", "-"), 1.0, "{ctx}");
    assert_eq!(errors("traefik", "rate_limited", "-"), 1.0, "{ctx}");
    assert_eq!(
        sum(
            &metrics,
            "gateway_upstream_errors_total",
            &[("log", "traefik")]
        ),
        3.0,
        "Traefik's 502 names no cause\n{ctx}"
    );
    assert_eq!(
        sum(
            &metrics,
            "gateway_http_responses_total",
            &[("log", "traefik"), ("vhost", "shop@docker")]
        ),
        5.0,
        "{ctx}"
    );
    assert_eq!(
        sum(
            &metrics,
            "gateway_upstream_tries_total",
            &[
                ("log", "traefik"),
                ("upstream", "10.0.0.5:80"),
                ("status", "502")
            ]
        ),
        1.0,
        "{ctx}"
    );
    promtool_check_metrics(&metrics).unwrap();
}

#[test]
fn caps_hold_for_every_gateway_format() {
    const N: usize = 40;
    const CAP: usize = 5;
    let dir = tempdir();
    let d = dir.path();
    type Writer = fn(usize) -> String;
    let formats: [(&str, Writer); 4] = [
        ("ingress_nginx", |i| {
            format!(
                "10.0.0.1 - - [22/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 502 150 \"-\" \"curl\" 77 0.01 [ns-svc{i}-80] [] 10.1.0.{i}:80 0 0.001 502 id{i}\n"
            )
        }),
        ("caddy", |i| {
            format!(
                r#"{{"level":"error","logger":"http.log.error.log0","msg":"dial tcp 10.1.0.{i}:80: connect: connection refused","request":{{"host":"site{i}.test"}},"status":502,"err_trace":"reverseproxy.statusError (reverseproxy.go:1272)"}}"#
            ) + "\n"
        }),
        ("envoy", |i| {
            envoy(
                503,
                "UF",
                &format!("site{i}.test"),
                &format!("10.1.0.{i}:80"),
            )
        }),
        ("traefik", |i| {
            traefik_clf(
                504,
                15,
                &format!("r{i}@docker"),
                &format!("http://10.1.0.{i}:80"),
            )
        }),
    ];
    let mut config = String::from("logs:\n");
    for (format, line) in &formats {
        let text: String = (0..N).map(line).collect();
        std::fs::write(d.join(format), text).unwrap();
        config += &format!(
            "  - {{path: {}/{format}, format: {format}, name: {format}}}\n",
            d.display()
        );
    }
    config += &format!("log_settings: {{max_label_values: {CAP}}}\n");
    let metrics = one_shot(&config);
    for (format, _) in &formats {
        let vhosts: std::collections::BTreeSet<&str> = metrics
            .lines()
            .filter(|l| {
                l.starts_with("gateway_http_responses_total{")
                    || l.starts_with("gateway_upstream_errors_total{")
            })
            .filter(|l| l.contains(&format!("log=\"{format}\"")))
            .filter_map(|l| l.split("vhost=\"").nth(1)?.split('"').next())
            .collect();
        assert!(
            vhosts.contains("__overflow__"),
            "{format}: {vhosts:?}\n{metrics}"
        );
        assert!(vhosts.len() <= CAP + 1, "{format}: {vhosts:?}");
        assert!(
            sum(
                &metrics,
                "gateway_log_cardinality_overflow_total",
                &[("log", format), ("label", "vhost")]
            ) > 0.0,
            "{format}\n{metrics}"
        );
        // Folded, not dropped: every line still counts.
        let counted = if *format == "caddy" {
            sum(
                &metrics,
                "gateway_upstream_errors_total",
                &[("log", format)],
            )
        } else {
            sum(&metrics, "gateway_http_responses_total", &[("log", format)])
        };
        assert_eq!(counted, N as f64, "{format}\n{metrics}");
    }
}

/// Counts what a parser emitted, touching every byte it handed out.
#[derive(Default)]
struct Touch(usize);

impl Sink for Touch {
    fn error(&mut self, _: Cause, vhost: &[u8], upstream: &[u8]) {
        self.0 += 1 + vhost.len() + upstream.len();
    }
    fn event(&mut self, _: Event) {
        self.0 += 1;
    }
    fn app_error(&mut self, _: AppCause, vhost: &[u8]) {
        self.0 += 1 + vhost.len();
    }
    fn access(&mut self, a: &Access<'_>) {
        self.0 += a.vhost.len() + a.upstream_addr.len() + a.upstream_status.len();
    }
}

/// Real lines of the four formats with random bytes spliced in and cut anywhere.
fn mangled() -> impl Strategy<Value = Vec<u8>> {
    let seeds = vec![
        "10.0.0.1 - - [22/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 4 \"-\" \"curl\" 63 0.004 [default-web-80] [] 127.0.0.1:40009, 127.0.0.1:35617 : 10.0.0.9:80 0, 4 : 2 0.001, 0.003 : 0.1 502, 200 : 200 52975f01".to_string(),
        r#"{"level":"error","ts":1.2,"logger":"http.log.error.log0","msg":"read tcp 127.0.0.1:49850->127.0.0.1:18102: read: connection reset by peer","request":{"host":"a:1","headers":{"User-Agent":["c"]}},"status":502,"err_trace":"reverseproxy.statusError (reverseproxy.go:1272)"}"#.to_string(),
        r#"{"level":"error","logger":"http.log.access.log0","msg":"handled request","request":{"host":"a","headers":{"User-Agent":["gateway-exporter/1"]}},"status":502}"#.to_string(),
        "[2026-11-22T10:00:00.310Z] \"GET /p HTTP/1.1\" 503 UF,URX upstream_reset_before_response_started{connection_failure} - \"TLS_error\" 0 91 30 12 \"-\" \"curl\" \"7d1c\" \"p:9080\" \"10.0.0.9:9080\" outbound|9080||p".to_string(),
        envoy(503, "UH", "shop.test", "-"),
        r#"{":authority":"gw","response_code":504,"response_flags":"UT","upstream_host":null,"x-envoy-upstream-service-time":"7"}"#.to_string(),
        traefik_json(504, 15, "shop@docker", "http://10.0.0.5:80"),
        traefik_clf(503, 19, "shop@docker", "-"),
    ];
    (
        prop::sample::select(seeds),
        any::<usize>(),
        prop::collection::vec(any::<u8>(), 0..24),
        any::<usize>(),
    )
        .prop_map(|(seed, at, junk, cut)| {
            let mut v = seed.into_bytes();
            let at = at % (v.len() + 1);
            v.splice(at..at, junk);
            v.truncate(cut % (v.len() + 1));
            v
        })
}

proptest! {
    #[test]
    fn no_mangled_gateway_line_panics(line in mangled()) {
        let ingress = IngressNginx::new();
        let mut sink = Touch::default();
        ingress.parse(&line, &mut sink);
        caddy::parse(&line, &mut sink);
        envoy::parse(&line, &mut sink);
        traefik::parse(&line, &mut sink);
        prop_assert!(sink.0 < 4 * 2 * line.len() + 64);
    }
}
