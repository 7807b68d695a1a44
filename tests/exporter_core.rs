//! The exporter's own surfaces: exposition formats, health, landing page, scheduled probes
//! with origin bypass, reload (HTTP and SIGHUP, good and bad), config check, and blackbox
//! compatibility against Debian's prometheus-blackbox-exporter.

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

fn exporter_bin() -> &'static str {
    env!("CARGO_BIN_EXE_gateway-exporter")
}

#[test]
fn metrics_negotiates_format_and_passes_promtool() {
    let exporter =
        Exporter::start("probes:\n  - {name: self, url: 'http://127.0.0.1:1/', interval: 1s}\n");
    eventually(Duration::from_secs(5), "first probe", || {
        exporter.value("gateway_probes_total", &[("target", "self")])
    });
    let plain = get(exporter.port, "/metrics");
    assert_eq!(plain.status, 200, "{}", plain.body);
    assert_eq!(
        plain.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    promtool_check_metrics(&plain.body).unwrap_or_else(|e| panic!("promtool: {e}\n{}", plain.body));
    assert!(
        plain.body.contains("# TYPE gateway_probes_total counter"),
        "{}",
        plain.body
    );
    assert!(!plain.body.contains("# EOF"));
    let om = http(
        "GET",
        exporter.port,
        "/metrics",
        &[(
            "Accept",
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
        )],
    );
    assert!(
        om.header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    assert!(om.body.ends_with("# EOF\n"));
    assert!(om.body.contains("# TYPE gateway_probes counter"));
    assert_eq!(
        sample_value(
            &plain.body,
            "gateway_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample_value(&plain.body, "gateway_config_last_reload_successful", &[]),
        Some(1.0)
    );
}

#[test]
fn accept_q_values_choose_the_format_on_metrics_and_probe() {
    let port = free_port();
    let _nginx = Nginx::start(
        &format!("server {{ listen 127.0.0.1:{port}; return 200; }}"),
        port,
    );
    let exporter = Exporter::start(
        "modules:\n  http_2xx: {prober: http, timeout: 3s}\nprobe_endpoint:\n  allowed_targets: ['127.0.0.1']\n",
    );
    const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0";
    const TEXT: &str = "text/plain; version=0.0.4";
    let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let table: &[(Option<&str>, &str)] = &[
        (None, TEXT),
        (Some("*/*"), TEXT),
        (Some(prometheus), OPENMETRICS),
        // q=0 means "not acceptable", however the range is spelled.
        (Some("application/openmetrics-text;version=1.0.0;q=0"), TEXT),
        (Some("application/openmetrics-text; q=0.0, */*"), TEXT),
        (
            Some("text/plain;q=0, application/openmetrics-text"),
            OPENMETRICS,
        ),
        // The heavier weight wins, wildcards included.
        (
            Some("application/openmetrics-text;q=0.3, text/plain;q=0.9"),
            TEXT,
        ),
        (
            Some("text/plain;q=0.2, application/openmetrics-text;q=0.8"),
            OPENMETRICS,
        ),
        (Some("application/openmetrics-text;q=0.5, */*;q=0.7"), TEXT),
        (Some("Application/OpenMetrics-Text; Q=1"), OPENMETRICS),
        // A malformed weight leaves its range out.
        (Some("application/openmetrics-text;q=high"), TEXT),
        (Some("application/openmetrics-text;q=2"), TEXT),
    ];
    let probe = format!("/probe?module=http_2xx&target=http://127.0.0.1:{port}/");
    for path in ["/metrics", probe.as_str()] {
        for (accept, want) in table {
            let headers: Vec<(&str, &str)> = accept.iter().map(|a| ("Accept", *a)).collect();
            let reply = http("GET", exporter.port, path, &headers);
            assert_eq!(reply.status, 200, "{path} {accept:?}: {}", reply.body);
            let content_type = reply.header("content-type").unwrap_or("");
            assert!(
                content_type.starts_with(want),
                "{path} with Accept {accept:?}: got {content_type:?}, want {want:?}"
            );
            assert_eq!(
                reply.body.ends_with("# EOF\n"),
                *want == OPENMETRICS,
                "{path} {accept:?}: the body is not in the announced format"
            );
        }
    }
}

#[test]
fn health_ready_and_landing_page() {
    let exporter = Exporter::start(
        "probes:\n  - {name: shop, url: 'http://127.0.0.1:1/cart', interval: 1h}\n",
    );
    assert_eq!(get(exporter.port, "/-/healthy").status, 200);
    assert_eq!(get(exporter.port, "/-/ready").status, 200);
    let landing = get(exporter.port, "/");
    assert_eq!(landing.status, 200);
    assert!(
        landing.body.contains("shop") && landing.body.contains("http://127.0.0.1:1/cart"),
        "{}",
        landing.body
    );
    assert!(landing.body.contains("href=\"/metrics\""));
    assert_eq!(
        get(exporter.port, "/-/reload").status,
        405,
        "reload is POST only"
    );
}

#[test]
fn origin_bypass_tells_cdn_failure_from_origin_failure() {
    // A CDN-like nginx whose origin pool points at a dead port, while the origin app answers.
    let app = FakeUpstream::respond("200 OK", &["Content-Type: text/plain"], "hello");
    let dead = free_port();
    let cdn = free_port();
    let _nginx = Nginx::start(
        &format!(
            "server {{ listen 127.0.0.1:{cdn}; location /misrouted {{ proxy_pass http://127.0.0.1:{dead}; }}\n\
             location / {{ proxy_pass http://127.0.0.1:{}; }} }}",
            app.port
        ),
        cdn,
    );
    let config = format!(
        "probes:\n\
         - {{name: cdn_broken, url: 'http://127.0.0.1:{cdn}/misrouted', origin: '127.0.0.1:{app}', interval: 300ms, timeout: 2s}}\n\
         - {{name: origin_down, url: 'http://127.0.0.1:{cdn}/misrouted', origin: '127.0.0.1:{dead}', interval: 300ms, timeout: 2s}}\n\
         - {{name: healthy, url: 'http://127.0.0.1:{cdn}/', origin: '127.0.0.1:{app}', interval: 300ms, timeout: 2s}}\n",
        app = app.port
    );
    let exporter = Exporter::start(&config);
    let text = eventually(Duration::from_secs(5), "all probes ran", || {
        let t = exporter.metrics();
        let n = t
            .lines()
            .filter(|l| l.starts_with("gateway_probe_success{"))
            .count();
        (n == 6).then_some(t)
    });
    let v = |target: &str, path: &str| {
        sample_value(
            &text,
            "gateway_probe_success",
            &[("target", target), ("path", path)],
        )
    };
    assert_eq!(
        (v("cdn_broken", "public"), v("cdn_broken", "origin")),
        (Some(0.0), Some(1.0)),
        "{text}"
    );
    assert_eq!(
        (v("origin_down", "public"), v("origin_down", "origin")),
        (Some(0.0), Some(0.0))
    );
    assert_eq!(
        (v("healthy", "public"), v("healthy", "origin")),
        (Some(1.0), Some(1.0))
    );
    let info = |target: &str, path: &str, extra: &[(&str, &str)]| {
        let mut labels = vec![("target", target), ("path", path)];
        labels.extend_from_slice(extra);
        sample_value(&text, "gateway_probe_failure_info", &labels)
    };
    assert_eq!(
        info(
            "cdn_broken",
            "public",
            &[
                ("layer", "proxy"),
                ("vendor", "nginx"),
                ("code", "502"),
                ("reason", "http_status")
            ]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        info(
            "origin_down",
            "origin",
            &[("reason", "connect_refused"), ("code", "0")]
        ),
        Some(1.0)
    );
    // No failure info while healthy.
    assert_absent(
        &text,
        "gateway_probe_failure_info",
        &[("target", "healthy")],
    );
    assert!(
        sample_value(
            &text,
            "gateway_probe_responses_total",
            &[
                ("target", "cdn_broken"),
                ("path", "public"),
                ("code", "502")
            ]
        )
        .unwrap()
            >= 1.0
    );
    assert!(
        sample_value(
            &text,
            "gateway_probe_http_duration_seconds",
            &[("target", "healthy"), ("phase", "connect")]
        )
        .is_some()
    );
    promtool_check_metrics(&text).unwrap();
}

#[test]
fn reload_accepts_good_and_refuses_bad_configs() {
    let dead = free_port();
    let first =
        format!("probes:\n  - {{name: one, url: 'http://127.0.0.1:{dead}/', interval: 200ms}}\n");
    let exporter = Exporter::start(&first);
    eventually(Duration::from_secs(5), "probe one", || {
        exporter.value("gateway_probe_success", &[("target", "one")])
    });

    let second =
        format!("probes:\n  - {{name: two, url: 'http://127.0.0.1:{dead}/', interval: 200ms}}\n");
    std::fs::write(&exporter.config_path, second).unwrap();
    assert_eq!(http("POST", exporter.port, "/-/reload", &[]).status, 200);
    eventually(Duration::from_secs(5), "probe two", || {
        exporter.value("gateway_probe_success", &[("target", "two")])
    });
    // The removed target's series are dropped.
    assert_absent(
        &exporter.metrics(),
        "gateway_probe_success",
        &[("target", "one")],
    );

    std::fs::write(
        &exporter.config_path,
        "probes:\n  - {name: three, url: 'http://x/', bogus: 1}\n",
    )
    .unwrap();
    // At most one reload a second (429 beyond): let the first one's second pass.
    std::thread::sleep(Duration::from_millis(1100));
    let refused = http("POST", exporter.port, "/-/reload", &[]);
    assert_eq!(refused.status, 500);
    assert!(
        refused.body.contains("line 2 column 37") && refused.body.contains("unknown field `bogus`"),
        "{}",
        refused.body
    );
    assert_eq!(
        exporter.value("gateway_config_last_reload_successful", &[]),
        Some(0.0)
    );
    let before = exporter
        .value("gateway_probes_total", &[("target", "two")])
        .unwrap();
    eventually(Duration::from_secs(5), "old probe keeps running", || {
        (exporter
            .value("gateway_probes_total", &[("target", "two")])
            .unwrap()
            > before)
            .then_some(())
    });

    // SIGHUP: a good config is taken and the flag recovers.
    std::fs::write(&exporter.config_path, first).unwrap();
    exporter.daemon.signal(libc::SIGHUP);
    eventually(Duration::from_secs(5), "SIGHUP reload", || {
        (exporter.value("gateway_config_last_reload_successful", &[]) == Some(1.0)
            && exporter
                .value("gateway_probe_success", &[("target", "one")])
                .is_some())
        .then_some(())
    });
    assert_eq!(
        exporter.value("gateway_config_reload_failures_total", &[]),
        Some(1.0)
    );
}

#[test]
fn config_check_reports_file_line_and_column() {
    let dir = tempdir();
    let good = dir.path().join("good.yml");
    std::fs::write(&good, "probes:\n  - {name: a, url: 'http://127.0.0.1/'}\n").unwrap();
    let out = Command::new(exporter_bin())
        .args(["--config.check", "--config.file"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Parse errors point at the offending key or value: line AND column.
    let parse_errors = [
        (
            "probes:\n  - name: a\n    url: http://x/\n    timeout: 5\n",
            "line 4 column 14",
            "lacks a unit",
        ),
        (
            "probes:\n  - name: a\n    url: http://x/\n    bogus: 1\n",
            "line 4 column 5",
            "unknown field `bogus`",
        ),
        ("probes: [\n", "line 1 column 9", "unclosed bracket"),
        ("bogus_section: 1\n", "line 1 column 1", "bogus_section"),
        (
            "log_settings:\n  poll_interval: 20ms\n  max_label_values: many\n",
            "line 3 column 21",
            "invalid u64",
        ),
        (
            "modules:\n  m:\n    prober: http\n    http:\n      fail_if_body_matches_regexp: ['(']\n",
            "line 5 column 36",
            "invalid regexp \"(\"",
        ),
    ];
    // Validation errors (checks across fields) name the offending entry.
    let validation_errors = [
        (
            "probes:\n  - name: a\n    url: 'not a url'\n",
            "probe \"a\": url",
        ),
        (
            "probes:\n  - name: a\n    url: http://x/\n    method: 'G T'\n",
            "probe \"a\": invalid HTTP method \"G T\"",
        ),
        (
            "modules:\n  m: {prober: dns}\n",
            "module \"m\": prober \"dns\" is not supported",
        ),
        ("log_settings: {max_label_values: 0}\n", "max_label_values"),
    ];
    let check = |text: &str| {
        let bad = dir.path().join("bad.yml");
        std::fs::write(&bad, text).unwrap();
        let out = Command::new(exporter_bin())
            .args(["--config.check", "--config.file"])
            .arg(&bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{text:?} accepted");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            stderr.contains("bad.yml"),
            "{text:?}: no file name in {stderr}"
        );
        stderr
    };
    for (text, location, what) in parse_errors {
        let stderr = check(text);
        let first = stderr.lines().next().unwrap_or("");
        assert!(
            first.contains(location) && first.contains(what),
            "{text:?}: want {location:?} and {what:?} in {first:?}"
        );
    }
    for (text, what) in validation_errors {
        let stderr = check(text);
        assert!(stderr.contains(what), "{text:?}: want {what:?} in {stderr}");
    }
    let missing = Command::new(exporter_bin())
        .args(["--config.check", "--config.file", "/nonexistent.yml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("/nonexistent.yml"),
        "the missing file is named"
    );
}

#[test]
fn probe_output_matches_blackbox_exporter_metric_names() {
    let blackbox_bin = require("prometheus-blackbox-exporter");
    let port = free_port();
    let _nginx = Nginx::start(
        &format!(
            "server {{ listen 127.0.0.1:{port}; location / {{ return 502; }} location /ok {{ return 200; }} }}"
        ),
        port,
    );
    let dir = tempdir();
    let bb_config = dir.path().join("blackbox.yml");
    std::fs::write(&bb_config, "modules:\n  http_2xx:\n    prober: http\n    timeout: 3s\n    http:\n      preferred_ip_protocol: ip4\n").unwrap();
    let bb_port = free_port();
    let mut cmd = Command::new(blackbox_bin);
    cmd.arg(format!("--config.file={}", bb_config.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{bb_port}"));
    let _bb = Daemon::spawn("blackbox", cmd, dir.path());
    wait_for_port(bb_port, Duration::from_secs(10));
    // The same blackbox.yml module, unchanged, is a valid module for us.
    let ours = Exporter::start(
        "modules:\n  http_2xx:\n    prober: http\n    timeout: 3s\n    http:\n      preferred_ip_protocol: ip4\n\
         probe_endpoint:\n  allowed_targets: ['127.0.0.1']\n",
    );
    for path in ["/", "/ok"] {
        let query = format!("/probe?module=http_2xx&target=http://127.0.0.1:{port}{path}");
        let (theirs, mine) = (get(bb_port, &query), get(ours.port, &query));
        assert_eq!(
            (theirs.status, mine.status),
            (200, 200),
            "{path}: blackbox {}, ours {}",
            theirs.body,
            mine.body
        );
        let (theirs, mine) = (theirs.body, mine.body);
        promtool_check_metrics(&mine).unwrap();
        for name in [
            "probe_success",
            "probe_http_status_code",
            "probe_duration_seconds",
            "probe_http_redirects",
            "probe_http_ssl",
            "probe_http_version",
            "probe_http_content_length",
            "probe_ip_protocol",
            "probe_dns_lookup_time_seconds",
            "probe_failed_due_to_regex",
        ] {
            let a = sample_value(&theirs, name, &[]);
            let b = sample_value(&mine, name, &[]);
            assert!(
                a.is_some() && b.is_some(),
                "{name} missing: blackbox {a:?}, ours {b:?}"
            );
            if [
                "probe_success",
                "probe_http_status_code",
                "probe_http_redirects",
                "probe_http_ssl",
                "probe_ip_protocol",
            ]
            .contains(&name)
            {
                assert_eq!(a, b, "{name} differs for {path}");
            }
        }
        for phase in ["resolve", "connect", "tls", "processing", "transfer"] {
            assert!(
                sample_value(&mine, "probe_http_duration_seconds", &[("phase", phase)]).is_some(),
                "{phase}"
            );
        }
    }
}

#[test]
fn upstreams_named_in_logs_are_checked_when_asked() {
    let dead = free_port();
    let port = free_port();
    let nginx = Nginx::start(
        &format!(
            "server {{ listen 127.0.0.1:{port}; server_name app.test;\n\
             location /dead {{ proxy_pass http://127.0.0.1:{dead}; }} }}"
        ),
        port,
    );
    let config = format!(
        "logs:\n  - {{name: err, path: '{}', format: nginx_error}}\ncheck_upstreams_from_logs: true\n",
        nginx.error_log.display()
    );
    let exporter = Exporter::start(&config);
    // Log lines written after start-up name the upstreams.
    exporter.wait_following("err", 1.0);
    assert_eq!(get(port, "/dead").status, 502);
    let dead_label = format!("127.0.0.1:{dead}");
    let text = eventually(
        Duration::from_secs(10),
        "the dead upstream is checked",
        || {
            let text = exporter.metrics();
            sample_value(&text, "gateway_upstream_up", &[("upstream", &dead_label)]).map(|_| text)
        },
    );
    assert_eq!(
        sample_value(&text, "gateway_upstream_up", &[("upstream", &dead_label)]),
        Some(0.0)
    );
    assert_eq!(
        sample_value(
            &text,
            "gateway_upstream_down_info",
            &[("upstream", &dead_label), ("reason", "connect_refused")]
        ),
        Some(1.0),
        "{text}"
    );
    // Without the key, log-named upstreams are not dialled.
    let quiet = Exporter::start(&config.replace(
        "check_upstreams_from_logs: true",
        "check_upstreams_from_logs: false",
    ));
    quiet.wait_following("err", 1.0);
    assert_eq!(get(port, "/dead").status, 502);
    eventually(
        Duration::from_secs(10),
        "the quiet exporter read the failure",
        || {
            quiet.value(
                "gateway_upstream_errors_total",
                &[("upstream", &dead_label)],
            )
        },
    );
    assert_absent(&quiet.metrics(), "gateway_upstream_up", &[]);
}
