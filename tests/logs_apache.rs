//! Real Apache httpd (mod_proxy_http, mod_proxy_fcgi, mod_proxy_balancer) against failing
//! upstreams; `--one-shot` over its error log must count requests, not lines (one failure
//! writes two or three lines), each under its cause.

mod common;
#[path = "common/servers.rs"]
mod servers;

use common::*;
use servers::{Apache, one_shot, sum};

#[test]
fn apache_failures_count_requests_not_lines() {
    let hang = FakeUpstream::start(Behaviour::Hang);
    let reset = FakeUpstream::start(Behaviour::Reset);
    let big = FakeUpstream::respond("200 OK", &[&format!("X-Big: {}", "a".repeat(10000))], "x");
    let (dead, dead1) = (free_port(), free_port());
    let sockets = tempdir();
    let s = sockets.path().display().to_string();
    std::fs::set_permissions(
        sockets.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let _denied =
        std::os::unix::net::UnixListener::bind(sockets.path().join("denied.sock")).unwrap();
    std::fs::set_permissions(
        sockets.path().join("denied.sock"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let body = format!(
        r#"
ProxyPass /refused http://127.0.0.1:{dead}/ retry=0
ProxyPass /slow http://127.0.0.1:{hang}/ timeout=1 retry=0
ProxyPass /reset http://127.0.0.1:{reset}/ retry=0
ProxyPass /big http://127.0.0.1:{big}/ retry=0
ProxyPass /missing unix:{s}/missing.sock|fcgi://missing/ retry=0
ProxyPass /denied unix:{s}/denied.sock|fcgi://denied/ retry=0
<Proxy balancer://dead>
  BalancerMember http://127.0.0.1:{dead1} retry=60
  ProxySet forcerecovery=off
</Proxy>
ProxyPass /dead balancer://dead/
"#,
        hang = hang.port,
        reset = reset.port,
        big = big.port,
    );
    let apache = Apache::start(16, &body);
    let port = apache.port;
    let statuses: Vec<u16> = [
        "/refused", "/slow", "/reset", "/big", "/missing", "/denied", "/dead", "/dead",
    ]
    .iter()
    .map(|p| get(port, p).status)
    .collect();
    let log = eventually(
        std::time::Duration::from_secs(5),
        "error lines written",
        || {
            let log = std::fs::read_to_string(&apache.error_log).unwrap_or_default();
            (log.matches("AH01170").count() >= 1).then_some(log)
        },
    );
    let text = one_shot(&format!(
        "logs:\n  - {{path: {}, format: apache_error, name: a}}\n",
        apache.error_log.display()
    ));
    let expected: &[(&str, &str, f64)] = &[
        ("connect_refused", &format!("127.0.0.1:{dead}"), 1.0),
        ("connect_refused", &format!("127.0.0.1:{dead1}"), 1.0),
        ("timeout", &format!("127.0.0.1:{}", hang.port), 1.0),
        ("reset", &format!("127.0.0.1:{}", reset.port), 1.0),
        ("header_too_big", "-", 1.0),
        ("socket_missing", &format!("unix:{s}/missing.sock"), 1.0),
        ("socket_permission", &format!("unix:{s}/denied.sock"), 1.0),
        ("no_live_upstreams", "dead", 1.0),
    ];
    let ctx = format!("statuses {statuses:?}\n{log}\n{text}");
    for (cause, upstream, n) in expected {
        let got = sum(
            &text,
            "gateway_upstream_errors_total",
            &[("cause", cause), ("upstream", upstream)],
        );
        assert_eq!(got, *n, "{cause} {upstream}\n{ctx}");
    }
    let total: f64 = expected.iter().map(|e| e.2).sum();
    assert_eq!(
        sum(&text, "gateway_upstream_errors_total", &[("log", "a")]),
        total,
        "{ctx}"
    );
    assert_eq!(
        total as usize,
        statuses.iter().filter(|s| **s >= 500).count(),
        "{ctx}"
    );
    assert_eq!(
        sum(
            &text,
            "gateway_log_lines_unrecognised_total",
            &[("log", "a")]
        ),
        0.0,
        "{ctx}"
    );
    promtool_check_metrics(&text).unwrap();
}
