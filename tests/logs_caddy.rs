//! Real Caddy (Debian's `caddy`) in front of dead, slow, resetting, closing and garbling
//! upstreams, a name that does not resolve, TLS to a plain server, a missing unix socket and
//! a passive health check: its JSON access and error logs, two files under one glob, give
//! one count per failed request under the cause of the Go error, and one response per
//! access entry, even with debug lines (one per try) in the same files.

mod common;
#[path = "common/servers.rs"]
mod servers;

use common::*;
use servers::{one_shot, wait_listening};
use std::process::Command;
use std::time::Duration;

#[test]
fn caddy_errors_by_cause_once_per_request() {
    let caddy = require("caddy");
    let slow = FakeUpstream::start(Behaviour::Hang);
    let reset = FakeUpstream::start(Behaviour::Reset);
    let close = FakeUpstream::start(Behaviour::Close);
    let garbage = FakeUpstream::start(Behaviour::Raw("garbage\r\n\r\n".into()));
    let (dead, dead_retried, dead_checked, port) =
        (free_port(), free_port(), free_port(), free_port());
    let dir = tempdir();
    let d = dir.path().display().to_string();
    let caddyfile = format!(
        r#"{{
	admin off
	auto_https off
	debug
	storage file_system {d}/storage
	log default {{
		output file {d}/caddy.log
		format json
	}}
}}
http://127.0.0.1:{port} {{
	log {{
		output file {d}/access.log
		format json
	}}
	handle /dead* {{
		reverse_proxy 127.0.0.1:{dead}
	}}
	handle /retried* {{
		reverse_proxy 127.0.0.1:{dead_retried} {{
			lb_retries 2
		}}
	}}
	handle /slow* {{
		reverse_proxy 127.0.0.1:{slow} {{
			transport http {{
				response_header_timeout 1s
			}}
		}}
	}}
	handle /reset* {{
		reverse_proxy 127.0.0.1:{reset}
	}}
	handle /close* {{
		reverse_proxy 127.0.0.1:{close}
	}}
	handle /garbage* {{
		reverse_proxy 127.0.0.1:{garbage}
	}}
	handle /tls* {{
		reverse_proxy https://127.0.0.1:{garbage}
	}}
	handle /dns* {{
		reverse_proxy nonexistent.invalid:80
	}}
	handle /sock* {{
		reverse_proxy unix/{d}/missing.sock
	}}
	handle /checked* {{
		reverse_proxy 127.0.0.1:{dead_checked} {{
			fail_duration 30s
			max_fails 1
		}}
	}}
	handle {{
		respond "ok" 200
	}}
}}
"#,
        slow = slow.port,
        reset = reset.port,
        close = close.port,
        garbage = garbage.port,
    );
    let conf = dir.path().join("Caddyfile");
    std::fs::write(&conf, caddyfile).unwrap();
    let mut cmd = Command::new(caddy);
    cmd.args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&conf)
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path());
    let mut daemon = Daemon::spawn("caddy", cmd, dir.path());
    wait_listening(
        &mut daemon,
        &format!("127.0.0.1:{port}"),
        Duration::from_secs(10),
    );
    let paths = [
        "/dead", "/retried", "/slow", "/reset", "/close", "/garbage", "/tls", "/dns", "/sock",
        "/checked", "/checked", "/ok",
    ];
    let statuses: Vec<(&str, u16)> = paths.iter().map(|p| (*p, get(port, p).status)).collect();
    // Our own probe: its failure counts, its response does not.
    let own = http(
        "GET",
        port,
        "/dead",
        &[("User-Agent", "gateway-exporter/0.1.0")],
    );
    assert_eq!(own.status, 502);
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
    let logs = eventually(Duration::from_secs(5), "every request logged", || {
        let (access, errors) = (read("access.log"), read("caddy.log"));
        (access.matches("handled request").count() == paths.len() + 1
            && errors.matches("\"logger\":\"http.log.error").count() == paths.len())
        .then(|| format!("{errors}\n{access}"))
    });
    let metrics = one_shot(&format!(
        "logs:\n  - {{path: '{d}/*.log', format: caddy, name: caddy}}\n"
    ));
    let ctx = format!("statuses {statuses:?}\n{logs}\n{metrics}");
    assert_eq!(
        statuses.iter().map(|s| s.1).collect::<Vec<_>>(),
        [502, 502, 504, 502, 502, 502, 502, 502, 502, 502, 503, 200],
        "{ctx}"
    );
    let vhost = format!("127.0.0.1:{port}");
    let expected: &[(&str, String, f64)] = &[
        ("connect_refused", format!("127.0.0.1:{dead}"), 2.0),
        ("connect_refused", format!("127.0.0.1:{dead_retried}"), 1.0),
        ("connect_refused", format!("127.0.0.1:{dead_checked}"), 1.0),
        ("timeout", "-".into(), 1.0),
        ("reset", format!("127.0.0.1:{}", reset.port), 1.0),
        ("premature_close", "-".into(), 1.0),
        ("invalid_response", "-".into(), 1.0),
        ("ssl_handshake", "-".into(), 1.0),
        ("dns", "nonexistent.invalid".into(), 1.0),
        ("socket_missing", format!("{d}/missing.sock"), 1.0),
        ("no_live_upstreams", "-".into(), 1.0),
    ];
    for (cause, upstream, n) in expected {
        let got = sum(
            &metrics,
            "gateway_upstream_errors_total",
            &[
                ("log", "caddy"),
                ("vhost", &vhost),
                ("cause", cause),
                ("upstream", upstream),
            ],
        );
        assert_eq!(got, *n, "{cause} {upstream}\n{ctx}");
    }
    // One count per failed request: the retried request's debug lines (one per try) and the
    // access entries add nothing.
    assert!(
        logs.matches("\"msg\":\"upstream roundtrip\"").count() > paths.len(),
        "debug lines present: {ctx}"
    );
    let failed = statuses.iter().filter(|s| s.1 >= 500).count() as f64 + 1.0;
    assert_eq!(
        sum(
            &metrics,
            "gateway_upstream_errors_total",
            &[("log", "caddy")]
        ),
        failed,
        "{ctx}"
    );
    // Every access entry is a response, our probe's excepted.
    let responses = |status: &str| {
        sum(
            &metrics,
            "gateway_http_responses_total",
            &[("log", "caddy"), ("vhost", &vhost), ("status", status)],
        )
    };
    assert_eq!(
        (
            responses("502"),
            responses("503"),
            responses("504"),
            responses("200")
        ),
        (9.0, 1.0, 1.0, 1.0),
        "{ctx}"
    );
    assert_eq!(
        sum(
            &metrics,
            "gateway_log_lines_unrecognised_total",
            &[("log", "caddy")]
        ),
        0.0,
        "{ctx}"
    );
    promtool_check_metrics(&metrics).unwrap();
}
