//! Real nginx against upstreams that fail in every way; the exporter follows its error and
//! access logs live and must count each failure once under the right cause, and the traps
//! (client abort, static 404, peer-disabled warnings) not at all.

mod common;
#[path = "common/servers.rs"]
mod servers;

use common::*;
use servers::{BlackholePort, FullUnixSocket};
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

#[test]
fn nginx_failures_are_counted_once_by_cause() {
    let hang = FakeUpstream::start(Behaviour::Hang);
    let reset = FakeUpstream::start(Behaviour::Reset);
    let close = FakeUpstream::start(Behaviour::Close);
    let garbage = FakeUpstream::start(Behaviour::Raw(
        "garbage without a status line\r\n\r\n".into(),
    ));
    let big = FakeUpstream::respond("200 OK", &[&format!("X-Big: {}", "a".repeat(20000))], "x");
    let ok = FakeUpstream::respond("200 OK", &[], "fine");
    let blackhole = BlackholePort::bind();
    let plain = FakeUpstream::start(Behaviour::Greet(
        "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".into(),
    ));
    let (dead, dead1, dead2) = (free_port(), free_port(), free_port());
    let port = free_port();

    let sockets = tempdir();
    std::fs::set_permissions(
        sockets.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let s = sockets.path().display().to_string();
    let _denied =
        std::os::unix::net::UnixListener::bind(sockets.path().join("denied.sock")).unwrap();
    std::fs::set_permissions(
        sockets.path().join("denied.sock"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let _full = FullUnixSocket::bind(&sockets.path().join("full.sock"));

    let http = format!(
        r#"
  log_format up '$remote_addr [$time_local] "$request" $status $host ua="$upstream_addr" us="$upstream_status" urt="$upstream_response_time"';
  log_format js escape=json '{{"host":"$host","status":$status,"upstream_addr":"$upstream_addr","upstream_status":"$upstream_status","upstream_response_time":"$upstream_response_time"}}';
  limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;
  upstream two_dead {{ server 127.0.0.1:{dead1}; server 127.0.0.1:{dead2}; }}
  server {{
    listen 127.0.0.1:{port};
    server_name app.test;
    access_log {{dir}}/up.log up;
    access_log {{dir}}/js.log js;
    proxy_connect_timeout 1s; proxy_read_timeout 1s; proxy_send_timeout 1s;
    location /refused {{ proxy_pass http://127.0.0.1:{dead}; }}
    location /hang {{ proxy_pass http://127.0.0.1:{hang}; }}
    location /blackhole {{ proxy_pass http://127.0.0.1:{bh}; }}
    location /reset {{ proxy_pass http://127.0.0.1:{reset}; }}
    location /close {{ proxy_pass http://127.0.0.1:{close}; }}
    location /garbage {{ proxy_pass http://127.0.0.1:{garbage}; }}
    location /big {{ proxy_buffer_size 4k; proxy_pass http://127.0.0.1:{big}; }}
    location /missing {{ fastcgi_pass unix:{s}/missing.sock; }}
    location /denied {{ fastcgi_pass unix:{s}/denied.sock; }}
    location /full {{ fastcgi_pass unix:{s}/full.sock; }}
    location /dead {{ proxy_pass http://two_dead; }}
    location /limited {{ limit_req zone=one; proxy_pass http://127.0.0.1:{ok}; }}
    location /static {{ root {{dir}}/www; }}
    location /ok {{ proxy_pass http://127.0.0.1:{ok}; }}
    location /tlsplain {{ proxy_pass https://127.0.0.1:{plain}; }}
    location /tlshang {{ proxy_pass https://127.0.0.1:{hang}; }}
    location /nodns {{ set $b backend.invalid; proxy_pass http://$b; }}
  }}
"#,
        hang = hang.port,
        bh = blackhole.port,
        reset = reset.port,
        close = close.port,
        garbage = garbage.port,
        big = big.port,
        ok = ok.port,
        plain = plain.port,
    );
    let nginx = Nginx::start_as("www-data", &http, port);
    let up_log = nginx.dir.path().join("up.log");
    let js_log = nginx.dir.path().join("js.log");
    let exporter = Exporter::start(&format!(
        "logs:\n  - {{path: {err}, format: nginx_error, name: err, proxy_read_timeout: 1s}}\n  - path: {up}\n    format: nginx_access\n    name: acc\n    log_format: '$remote_addr [$time_local] \"$request\" $status $host ua=\"$upstream_addr\" us=\"$upstream_status\" urt=\"$upstream_response_time\"'\n  - {{path: {js}, format: nginx_access_json, name: js}}\nlog_settings: {{poll_interval: 50ms}}\n",
        err = nginx.error_log.display(),
        up = up_log.display(),
        js = js_log.display(),
    ));
    // Followed from their end: what nginx wrote while starting counts nothing.
    eventually(Duration::from_secs(5), "files followed", || {
        (sum(&exporter.metrics(), "gateway_log_files_followed", &[]) == 3.0).then_some(())
    });

    for path in [
        "/refused",
        "/hang",
        "/blackhole",
        "/reset",
        "/close",
        "/garbage",
        "/big",
        "/missing",
        "/denied",
        "/full",
        "/dead",
        "/dead",
        "/limited",
        "/limited",
        "/static/nope.html",
        "/ok",
        "/tlsplain",
        "/tlshang",
        "/nodns",
    ] {
        get(port, path);
    }
    // A client that gives up: nginx logs "client prematurely closed connection" (a trap).
    let mut abort = TcpStream::connect(("127.0.0.1", port)).unwrap();
    abort
        .write_all(b"GET /hang HTTP/1.0\r\nHost: app.test\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    drop(abort);
    // A reload: a lifecycle event right before the errors would show on a dashboard.
    nginx_reload(&nginx);

    let expected: &[(&str, &str, f64)] = &[
        ("connect_refused", &format!("127.0.0.1:{dead}"), 1.0),
        ("connect_refused", &format!("127.0.0.1:{dead1}"), 1.0),
        ("connect_refused", &format!("127.0.0.1:{dead2}"), 1.0),
        ("timeout", &format!("127.0.0.1:{}", hang.port), 1.0),
        (
            "connect_timeout",
            &format!("127.0.0.1:{}", blackhole.port),
            1.0,
        ),
        ("reset", &format!("127.0.0.1:{}", reset.port), 1.0),
        ("premature_close", &format!("127.0.0.1:{}", close.port), 1.0),
        (
            "invalid_response",
            &format!("127.0.0.1:{}", garbage.port),
            1.0,
        ),
        ("header_too_big", &format!("127.0.0.1:{}", big.port), 1.0),
        ("socket_missing", &format!("unix:{s}/missing.sock"), 1.0),
        ("socket_permission", &format!("unix:{s}/denied.sock"), 1.0),
        ("backlog_full", &format!("unix:{s}/full.sock"), 1.0),
        ("no_live_upstreams", "two_dead", 1.0),
        ("rate_limited", "-", 1.0),
        ("ssl_handshake", &format!("127.0.0.1:{}", plain.port), 1.0),
        // The handshake runs on proxy_connect_timeout: a silent TLS peer is a connect timeout.
        ("connect_timeout", &format!("127.0.0.1:{}", hang.port), 1.0),
        ("dns", "backend.invalid", 1.0),
    ];
    let total: f64 = expected.iter().map(|e| e.2).sum();
    // Bounded wait; on timeout the assertions below show the log and the metrics.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let text = exporter.metrics();
        let events = sum(
            &text,
            "gateway_server_events_total",
            &[("log", "err"), ("event", "reload")],
        );
        if sum(&text, "gateway_upstream_errors_total", &[("log", "err")]) >= total && events >= 1.0
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300)); // nothing more may trickle in
    let text = exporter.metrics();
    let log = nginx.error_log_text();
    assert!(
        log.contains("client prematurely closed connection"),
        "no client abort line: {log}"
    );
    assert!(
        log.contains("is not found") || log.contains("open() "),
        "no static 404 line: {log}"
    );
    for (cause, upstream, n) in expected {
        let got = sum(
            &text,
            "gateway_upstream_errors_total",
            &[("log", "err"), ("cause", cause), ("upstream", upstream)],
        );
        assert_eq!(got, *n, "{cause} {upstream}\n{log}\n{text}");
    }
    assert_eq!(
        sum(&text, "gateway_upstream_errors_total", &[("log", "err")]),
        total,
        "{log}\n{text}"
    );
    assert_eq!(
        sum(
            &text,
            "gateway_upstream_errors_total",
            &[("vhost", "app.test")]
        ),
        total
    );
    assert_eq!(
        sum(
            &text,
            "gateway_server_events_total",
            &[("log", "err"), ("event", "reload")]
        ),
        1.0
    );
    assert!(
        sum(
            &text,
            "gateway_server_events_total",
            &[("log", "err"), ("event", "worker_start")]
        ) >= 1.0
    );
    assert_eq!(
        sum(&text, "gateway_upstream_timeout_seconds", &[("log", "err")]),
        1.0
    );

    // The access log: statuses, and the zipped tries of the all-dead group.
    eventually(Duration::from_secs(5), "access lines", || {
        (sum(
            &exporter.metrics(),
            "gateway_log_lines_read_total",
            &[("log", "acc")],
        ) >= 20.0)
            .then_some(())
    });
    let text = exporter.metrics();
    let acc = std::fs::read_to_string(&up_log).unwrap();
    let status = |s: &str| {
        sum(
            &text,
            "gateway_http_responses_total",
            &[("log", "acc"), ("status", s)],
        )
    };
    assert_eq!(status("504"), 3.0, "{acc}");
    assert_eq!(status("503"), 1.0, "{acc}");
    assert_eq!(status("404"), 1.0, "{acc}");
    assert_eq!(status("499"), 1.0, "{acc}");
    assert_eq!(
        sum(&text, "gateway_http_responses_total", &[("log", "acc")]),
        20.0,
        "{acc}"
    );
    assert_eq!(status("009"), 1.0, "{acc}"); // the garbage reply passed through as HTTP/0.9
    // Every request once more in the per-vhost total the rules read, whatever its status.
    let vhosts: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|l| l.starts_with("gateway_http_responses_total{log=\"acc\""))
        .filter_map(|l| l.split("vhost=\"").nth(1)?.split('"').next())
        .collect();
    assert!(vhosts.len() >= 2, "{vhosts:?}");
    for vhost in vhosts {
        assert_eq!(
            sum(
                &text,
                "gateway_http_requests_total",
                &[("log", "acc"), ("vhost", vhost)]
            ),
            sum(
                &text,
                "gateway_http_responses_total",
                &[("log", "acc"), ("vhost", vhost)]
            ),
            "{vhost}: {acc}"
        );
    }
    assert_eq!(
        sum(&text, "gateway_http_requests_total", &[("log", "acc")]),
        20.0,
        "{acc}"
    );
    // $host: the Host header without its port, or the server_name when absent.
    assert_eq!(
        sum(
            &text,
            "gateway_http_responses_total",
            &[("log", "acc"), ("vhost", "app.test")]
        ),
        1.0,
        "{acc}"
    );
    for d in [dead1, dead2] {
        let tries = sum(
            &text,
            "gateway_upstream_tries_total",
            &[
                ("log", "acc"),
                ("upstream", &format!("127.0.0.1:{d}")),
                ("status", "502"),
            ],
        );
        assert_eq!(tries, 1.0, "{acc}");
    }
    assert_eq!(
        sample_value(
            &text,
            "gateway_log_lines_unrecognised_total",
            &[("log", "acc")]
        ),
        Some(0.0)
    );
    assert!(
        sum(
            &text,
            "gateway_upstream_response_time_seconds_count",
            &[("log", "acc")]
        ) >= 1.0,
        "{text}"
    );
    // The same requests as JSON (escape=json, where nginx writes `"status":009`).
    let js = |labels: &[(&str, &str)]| {
        sum(
            &text,
            "gateway_http_responses_total",
            &[&[("log", "js")], labels].concat(),
        )
    };
    assert_eq!(
        js(&[]),
        20.0,
        "{}",
        std::fs::read_to_string(&js_log).unwrap()
    );
    assert_eq!(js(&[("status", "009")]), 1.0);
    assert_eq!(js(&[("status", "504")]), 3.0);
    assert_eq!(
        sum(
            &text,
            "gateway_upstream_tries_total",
            &[("log", "js"), ("upstream", "two_dead"), ("status", "502")]
        ),
        1.0
    );
    promtool_check_metrics(&text).unwrap();
}

#[test]
fn nginx_lifecycle_lines_become_events() {
    let port = free_port();
    let nginx = Nginx::start(&format!("server {{ listen 127.0.0.1:{port}; }}"), port);
    let pid: i32 = std::fs::read_to_string(nginx.dir.path().join("nginx.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    unsafe { libc::kill(pid, libc::SIGHUP) };
    eventually(Duration::from_secs(5), "old worker gone", || {
        nginx
            .error_log_text()
            .contains("exited with code")
            .then_some(())
    });
    unsafe { libc::kill(pid, libc::SIGQUIT) };
    eventually(Duration::from_secs(5), "master exit", || {
        nginx
            .error_log_text()
            .lines()
            .any(|l| l.ends_with(&format!("{pid}#{pid}: exit")))
            .then_some(())
    });
    let text = servers::one_shot(&format!(
        "logs:\n  - {{path: {}, format: nginx_error, name: n}}\n",
        nginx.error_log.display()
    ));
    let event = |e: &str| {
        sum(
            &text,
            "gateway_server_events_total",
            &[("log", "n"), ("event", e)],
        )
    };
    let log = nginx.error_log_text();
    assert_eq!(event("restart"), 1.0, "{log}");
    assert_eq!(event("reload"), 1.0, "{log}");
    assert_eq!(event("shutdown"), 1.0, "{log}");
    assert_eq!(event("worker_start"), 2.0, "{log}");
    assert_eq!(event("worker_exit"), 2.0, "{log}");
    assert_absent(&text, "gateway_upstream_errors_total", &[]);
    assert_eq!(
        sample_value(
            &text,
            "gateway_log_lines_unrecognised_total",
            &[("log", "n")]
        ),
        Some(0.0),
        "{log}"
    );
}

fn nginx_reload(nginx: &Nginx) {
    let pid: i32 = std::fs::read_to_string(nginx.dir.path().join("nginx.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    unsafe { libc::kill(pid, libc::SIGHUP) };
    eventually(Duration::from_secs(5), "nginx reloaded", || {
        nginx
            .error_log_text()
            .contains("reconfiguring")
            .then_some(())
    });
}
