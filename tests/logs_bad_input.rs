//! Bad input: invalid UTF-8, NUL bytes, megabyte lines, a log replaced by a directory, an
//! unreadable log, a flood of distinct vhosts and upstreams. Each is counted (once), nothing
//! panics, and the other logs keep flowing.

mod common;

use common::*;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

const REFUSED: &str = "2026/11/22 00:00:00 [error] 7#7: *1 connect() failed (111: Connection refused) while connecting to upstream, client: 192.0.2.1, server: s.test, upstream: \"http://10.0.0.1:80/\"\n";

fn append(path: &std::path::Path, bytes: &[u8]) {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

#[test]
fn bad_lines_and_vanishing_logs_are_counted_and_survived() {
    let dir = tempdir();
    let good = dir.path().join("good.log");
    let bad = dir.path().join("bad.log");
    std::fs::write(&good, "").unwrap();
    let mut exporter = Exporter::start(&format!(
        "logs:\n  - {{path: {}, format: nginx_error, name: good}}\n  - {{path: {}, format: nginx_error, name: bad}}\nlog_settings: {{poll_interval: 20ms}}\n",
        good.display(),
        bad.display()
    ));
    exporter.wait_following("good", 1.0);
    let value = |e: &Exporter, name: &str, labels: &[(&str, &str)]| sum(&e.metrics(), name, labels);
    let flowing = |e: &Exporter, n: f64| {
        append(&good, REFUSED.as_bytes());
        eventually(Duration::from_secs(5), "the good log flows", || {
            (value(e, "gateway_log_lines_read_total", &[("log", "good")]) >= n).then_some(())
        });
    };

    // Appears later, full of bad bytes.
    let mut bytes = REFUSED.replace("s.test", "s\u{0}x").into_bytes(); // NUL in the vhost
    bytes.extend_from_slice(REFUSED.as_bytes());
    bytes.extend_from_slice(b"\0\0\0\0\n");
    bytes.extend_from_slice(
        &REFUSED
            .replace("s.test", "s\u{fffd}")
            .into_bytes()
            .into_iter()
            .map(|b| if b == 0xef { 0xfe } else { b })
            .collect::<Vec<u8>>(),
    ); // invalid UTF-8 in the vhost
    bytes.extend(std::iter::repeat_n(b'x', 3 << 20)); // a 3 MB line, over the 1 MiB limit
    bytes.push(b'\n');
    bytes.extend_from_slice(REFUSED.as_bytes());
    std::fs::write(&bad, &bytes).unwrap();
    eventually(Duration::from_secs(10), "bad log read", || {
        (value(&exporter, "gateway_log_lines_read_total", &[("log", "bad")]) >= 6.0).then_some(())
    });
    flowing(&exporter, 1.0);
    let text = exporter.metrics();
    assert_eq!(
        sum(&text, "gateway_log_lines_read_total", &[("log", "bad")]),
        6.0,
        "{text}"
    );
    assert_eq!(
        sum(
            &text,
            "gateway_log_read_errors_total",
            &[("log", "bad"), ("reason", "line_too_long")]
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        sum(
            &text,
            "gateway_log_read_errors_total",
            &[("log", "bad"), ("reason", "invalid_utf8")]
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        sum(
            &text,
            "gateway_log_lines_unrecognised_total",
            &[("log", "bad")]
        ),
        2.0,
        "{text}"
    ); // NULs, too long
    assert_eq!(
        sum(&text, "gateway_upstream_errors_total", &[("log", "bad")]),
        4.0,
        "{text}"
    );
    promtool_check_metrics(&text).unwrap();

    // Replaced by a directory: reported once, however many polls see it.
    std::fs::remove_file(&bad).unwrap();
    std::fs::create_dir(&bad).unwrap();
    eventually(Duration::from_secs(5), "not_a_file counted", || {
        (value(
            &exporter,
            "gateway_log_read_errors_total",
            &[("log", "bad"), ("reason", "not_a_file")],
        ) >= 1.0)
            .then_some(())
    });
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        value(
            &exporter,
            "gateway_log_read_errors_total",
            &[("log", "bad"), ("reason", "not_a_file")]
        ),
        1.0
    );
    flowing(&exporter, 2.0);
    // And back to a file: read from its start.
    std::fs::remove_dir(&bad).unwrap();
    std::fs::write(&bad, REFUSED).unwrap();
    eventually(Duration::from_secs(5), "file again", || {
        (value(&exporter, "gateway_log_lines_read_total", &[("log", "bad")]) >= 7.0).then_some(())
    });
    flowing(&exporter, 3.0);
    exporter.daemon.assert_running();
    assert_eq!(
        exporter
            .daemon
            .stderr()
            .matches("not a regular file")
            .count(),
        1,
        "logged once"
    );
    assert!(!exporter.daemon.stderr().contains("panicked"));
}

#[test]
fn an_unreadable_log_is_counted_and_the_others_still_read() {
    let dir = tempdir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let good = dir.path().join("good.log");
    let secret = dir.path().join("secret.log");
    std::fs::write(&good, REFUSED).unwrap();
    std::fs::write(&secret, REFUSED).unwrap();
    std::fs::set_permissions(&good, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).unwrap();
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "logs:\n  - {{path: {}, format: nginx_error, name: good}}\n  - {{path: {}, format: nginx_error, name: secret}}\n",
            good.display(),
            secret.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    // As nobody: root would read the file anyway.
    use std::os::unix::process::CommandExt;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gateway-exporter"))
        .arg("--config.file")
        .arg(&config)
        .arg("--one-shot")
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        sum(
            &text,
            "gateway_log_read_errors_total",
            &[("log", "secret"), ("reason", "permission")]
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        sum(&text, "gateway_upstream_errors_total", &[("log", "good")]),
        1.0,
        "{text}"
    );
    assert_absent(&text, "gateway_upstream_errors_total", &[("log", "secret")]);
}

/// An nginx error line for `vhost` failing on `upstream`.
fn refused(vhost: &str, upstream: &str) -> String {
    REFUSED
        .replace("s.test", vhost)
        .replace("10.0.0.1:80", upstream)
}

#[test]
fn the_cardinality_cap_folds_new_vhosts_and_upstreams_into_overflow() {
    let dir = tempdir();
    let log = dir.path().join("error.log");
    std::fs::write(&log, "").unwrap();
    let exporter = Exporter::start(&format!(
        "logs:\n  - {{path: {}, format: nginx_error, name: capped}}\nlog_settings: {{poll_interval: 20ms, max_label_values: 2}}\n",
        log.display()
    ));
    exporter.wait_following("capped", 1.0);
    // Two vhosts and two upstreams fit; c and 10.0.0.3 come third and fold, every time.
    let lines = [
        ("a", "10.0.0.1:80"),
        ("b", "10.0.0.2:80"),
        ("c", "10.0.0.3:80"),
        ("a", "10.0.0.3:80"),
        ("c", "10.0.0.1:80"),
        ("c", "10.0.0.3:80"),
    ];
    let text: String = lines.iter().map(|(v, u)| refused(v, u)).collect();
    append(&log, text.as_bytes());
    let text = eventually(Duration::from_secs(5), "every line read", || {
        let text = exporter.metrics();
        (sum(&text, "gateway_log_lines_read_total", &[("log", "capped")]) >= 6.0).then_some(text)
    });
    let errors = |vhost: &str, upstream: &str| {
        sample_value(
            &text,
            "gateway_upstream_errors_total",
            &[("log", "capped"), ("vhost", vhost), ("upstream", upstream)],
        )
    };
    let overflow = "__overflow__";
    assert_eq!(errors("a", "10.0.0.1:80"), Some(1.0), "{text}");
    assert_eq!(errors("b", "10.0.0.2:80"), Some(1.0), "{text}");
    assert_eq!(errors(overflow, overflow), Some(2.0), "{text}");
    assert_eq!(errors("a", overflow), Some(1.0), "{text}");
    assert_eq!(errors(overflow, "10.0.0.1:80"), Some(1.0), "{text}");
    assert_eq!(
        sum(&text, "gateway_upstream_errors_total", &[("log", "capped")]),
        6.0,
        "no line lost to the cap"
    );
    assert_absent(&text, "gateway_upstream_errors_total", &[("vhost", "c")]);
    assert_absent(
        &text,
        "gateway_upstream_errors_total",
        &[("upstream", "10.0.0.3:80")],
    );
    for label in ["vhost", "upstream"] {
        assert_eq!(
            sample_value(
                &text,
                "gateway_log_cardinality_overflow_total",
                &[("log", "capped"), ("label", label)]
            ),
            Some(3.0),
            "{label}: {text}"
        );
    }
    promtool_check_metrics(&text).unwrap();
}
