//! Real HAProxy (httplog via a syslog-format log target) against failing servers: each
//! request line counts once under the cause its termination state gives, feeds the
//! status counters, and server state changes become events.

mod common;
#[path = "common/servers.rs"]
mod servers;

use common::*;
use servers::{BlackholePort, Haproxy, one_shot};
use std::time::Duration;

#[test]
fn haproxy_termination_states_by_cause() {
    let hang = FakeUpstream::start(Behaviour::Hang);
    let reset = FakeUpstream::start(Behaviour::Reset);
    let close = FakeUpstream::start(Behaviour::Close);
    let garbage = FakeUpstream::start(Behaviour::Raw(
        "garbage without a status line\r\n\r\n".into(),
    ));
    let ok = FakeUpstream::respond("200 OK", &[], "fine");
    let blackhole = BlackholePort::bind();
    let (dead, dead2) = (free_port(), free_port());
    let port = free_port();
    let body = format!(
        r#"  retries 0
frontend fe
  bind 127.0.0.1:{port}
  http-request deny deny_status 429 if {{ path_beg /limited }}
  use_backend be_refused if {{ path_beg /refused }}
  use_backend be_slow if {{ path_beg /slow }}
  use_backend be_reset if {{ path_beg /reset }}
  use_backend be_close if {{ path_beg /close }}
  use_backend be_garbage if {{ path_beg /garbage }}
  use_backend be_down if {{ path_beg /down }}
  use_backend be_queue if {{ path_beg /queue }}
  use_backend be_ct if {{ path_beg /ct }}
  default_backend be_ok
backend be_refused
  server s1 127.0.0.1:{dead}
backend be_slow
  timeout server 1s
  server s1 127.0.0.1:{hang}
backend be_reset
  server s1 127.0.0.1:{reset}
backend be_close
  server s1 127.0.0.1:{close}
backend be_garbage
  server s1 127.0.0.1:{garbage}
backend be_down
  server s1 127.0.0.1:{dead2} check inter 100ms fall 1 rise 1
backend be_queue
  timeout server 2s
  timeout queue 1s
  server s1 127.0.0.1:{hang} maxconn 1
backend be_ct
  server s1 127.0.0.1:{bh}
backend be_ok
  server s1 127.0.0.1:{ok}
"#,
        hang = hang.port,
        reset = reset.port,
        close = close.port,
        garbage = garbage.port,
        ok = ok.port,
        bh = blackhole.port,
    );
    let haproxy = Haproxy::start(port, &body);
    let log = || std::fs::read_to_string(&haproxy.log).unwrap_or_default();
    eventually(Duration::from_secs(5), "be_down/s1 marked DOWN", || {
        log().contains("be_down/s1 is DOWN").then_some(())
    });
    // One request holds be_queue's only slot until its server timeout; the next one queues.
    let first = std::thread::spawn(move || get(port, "/queue/1").status);
    std::thread::sleep(Duration::from_millis(200));
    let mut statuses: Vec<u16> = [
        "/queue/2", "/refused", "/slow", "/reset", "/close", "/garbage", "/down", "/ct",
        "/limited", "/ok",
    ]
    .iter()
    .map(|p| get(port, p).status)
    .collect();
    statuses.push(first.join().unwrap());
    let text = eventually(Duration::from_secs(5), "request lines logged", || {
        let l = log();
        (l.matches("\"GET /").count() >= 11).then_some(l)
    });
    let metrics = one_shot(&format!(
        "logs:\n  - {{path: {}, format: haproxy, name: h}}\n",
        haproxy.log.display()
    ));
    let ctx = format!("statuses {statuses:?}\n{text}\n{metrics}");
    let expected: &[(&str, &str, &str, f64)] = &[
        ("queue_timeout", "be_queue", "be_queue", 1.0),
        ("timeout", "be_queue", "s1", 1.0),
        ("connect_refused", "be_refused", "s1", 1.0),
        ("timeout", "be_slow", "s1", 1.0),
        ("premature_close", "be_reset", "s1", 1.0),
        ("premature_close", "be_close", "s1", 1.0),
        ("invalid_response", "be_garbage", "s1", 1.0),
        ("no_live_upstreams", "be_down", "be_down", 1.0),
        ("connect_timeout", "be_ct", "s1", 1.0),
        ("rate_limited", "fe", "fe", 1.0),
    ];
    for (cause, vhost, upstream, n) in expected {
        let got = sum(
            &metrics,
            "gateway_upstream_errors_total",
            &[("cause", cause), ("vhost", vhost), ("upstream", upstream)],
        );
        assert_eq!(got, *n, "{cause} {vhost} {upstream}\n{ctx}");
    }
    let total: f64 = expected.iter().map(|e| e.3).sum();
    assert_eq!(
        sum(&metrics, "gateway_upstream_errors_total", &[("log", "h")]),
        total,
        "{ctx}"
    );
    // Every request line is an access line too, under the frontend (the harness's
    // readiness probe adds a `<BADREQ>` 400).
    let probes = text.matches("<BADREQ>").count() as f64;
    assert_eq!(
        sum(
            &metrics,
            "gateway_http_responses_total",
            &[("log", "h"), ("vhost", "fe")]
        ),
        11.0 + probes,
        "{ctx}"
    );
    assert_eq!(
        sum(
            &metrics,
            "gateway_http_responses_total",
            &[("status", "200")]
        ),
        1.0,
        "{ctx}"
    );
    assert_eq!(
        sum(
            &metrics,
            "gateway_http_responses_total",
            &[("status", "429")]
        ),
        1.0,
        "{ctx}"
    );
    assert_eq!(
        sum(
            &metrics,
            "gateway_server_events_total",
            &[("event", "server_down")]
        ),
        1.0,
        "{ctx}"
    );
    assert_eq!(
        sum(
            &metrics,
            "gateway_server_events_total",
            &[("event", "backend_down")]
        ),
        1.0,
        "{ctx}"
    );
    promtool_check_metrics(&metrics).unwrap();
}
