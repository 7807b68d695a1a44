//! `/probe` cannot escape its allow-list: a real nginx redirects from an allowed host to
//! denied ones, link-local and cloud-metadata addresses stay closed even to `"*"`, and a
//! name that the resolver rebinds to a denied address is not connected to. The scheduled
//! probes (the operator's own config) keep following redirects anywhere.

mod common;

use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

fn config(allowed: &[&str], extra: &str) -> String {
    let allowed: Vec<String> = allowed.iter().map(|a| format!("'{a}'")).collect();
    format!(
        "modules:\n  http_2xx: {{prober: http, timeout: 2s}}\n\
         probe_endpoint:\n  allowed_targets: [{}]\n{extra}",
        allowed.join(", ")
    )
}

/// One `/probe` answer (must be 200) as (probe_success, probe_http_redirects, reason).
fn probe(port: u16, target: &str) -> (f64, f64, String) {
    let reply = get(port, &format!("/probe?module=http_2xx&target={target}"));
    assert_eq!(reply.status, 200, "{target}: {}", reply.body);
    let text = reply.body;
    let reason = text
        .lines()
        .find(|l| l.starts_with("probe_failure_info{"))
        .and_then(|l| l.split("reason=\"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("")
        .to_string();
    (
        sample_value(&text, "probe_success", &[]).unwrap(),
        sample_value(&text, "probe_http_redirects", &[]).unwrap(),
        reason,
    )
}

#[test]
fn redirects_are_checked_hop_by_hop() {
    let port = free_port();
    let nginx = Nginx::start(
        &format!(
            "server {{ listen 127.0.0.1:{port};\n\
               location = /ok {{ return 200 \"ok\\n\"; }}\n\
               location = /away {{ return 302 http://127.0.0.2:{port}/secret; }}\n\
               location = /chain {{ return 302 /away; }}\n\
               location = /trusted {{ return 302 http://127.0.0.2:{port}/trusted; }}\n\
               location = /metadata {{ return 302 http://169.254.169.254/latest/meta-data/; }}\n\
               location = /metadata-name {{ return 302 http://metadata.google.internal/computeMetadata/v1/; }}\n\
               location = /metadata-v6 {{ return 302 http://[fd00:ec2::254]/latest/meta-data/; }}\n\
               location = /alibaba {{ return 302 http://100.100.100.200/latest/meta-data/; }}\n\
               location = /link-local {{ return 302 http://169.254.10.10:{port}/; }}\n\
               location = /link-local-v6 {{ return 302 http://[fe80::1]:{port}/; }}\n\
             }}\n\
             server {{ listen 127.0.0.2:{port}; access_log {{dir}}/denied.log;\n\
               location / {{ return 200 \"reached\\n\"; }} }}"
        ),
        port,
    );
    let denied_log = nginx.dir.path().join("denied.log");
    let reached = |path: &str| {
        std::fs::read_to_string(&denied_log)
            .unwrap_or_default()
            .contains(&format!("GET {path} "))
    };
    let at = |path: &str| format!("http://127.0.0.1:{port}{path}");

    // Only 127.0.0.1 may be probed; a scheduled probe follows the same kind of redirect.
    let strict = Exporter::start(&config(
        &["127.0.0.1"],
        &format!(
            "probes:\n  - {{name: trusted, url: '{}', interval: 1s, timeout: 2s}}\n",
            at("/trusted")
        ),
    ));
    assert_eq!(probe(strict.port, &at("/ok")), (1.0, 0.0, String::new()));
    let hostile = [
        ("/away", 1.0),
        ("/chain", 2.0),
        ("/metadata", 1.0),
        ("/metadata-name", 1.0),
        ("/metadata-v6", 1.0),
        ("/alibaba", 1.0),
        ("/link-local", 1.0),
        ("/link-local-v6", 1.0),
    ];
    for (path, redirects) in hostile {
        let started = Instant::now();
        let got = probe(strict.port, &at(path));
        assert_eq!(got, (0.0, redirects, "not_allowed".into()), "{path}");
        // Refused before connecting, not after a connect timeout to nowhere.
        assert!(started.elapsed() < Duration::from_secs(1), "{path}");
    }
    assert!(!reached("/secret"), "a denied hop was connected to");
    eventually(
        Duration::from_secs(10),
        "the scheduled probe follows",
        || {
            (strict.value("gateway_probe_success", &[("target", "trusted")]) == Some(1.0))
                .then_some(())
        },
    );
    assert!(reached("/trusted"), "the scheduled probe reached 127.0.0.2");

    // "*" opens every host (blackbox parity) except link-local and metadata.
    let open = Exporter::start(&config(&["*"], ""));
    assert_eq!(probe(open.port, &at("/away")), (1.0, 1.0, String::new()));
    assert!(reached("/secret"), "the redirect really leads to a server");
    for (path, redirects) in &hostile[2..] {
        assert_eq!(
            probe(open.port, &at(path)),
            (0.0, *redirects, "not_allowed".into()),
            "{path}"
        );
    }
    for target in [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://metadata.google.internal/",
        "http://metadata.google.internal./",
        "http://100.100.100.200/",
        "http://[fd00:ec2::254]/",
        "http://169.254.0.1/",
        "http://[fe80::1]/",
    ] {
        let reply = get(
            open.port,
            &format!("/probe?module=http_2xx&target={target}"),
        );
        assert_eq!(reply.status, 403, "{target}: {}", reply.body);
        assert!(
            reply.body.contains("not allowed"),
            "{target}: {}",
            reply.body
        );
    }
}

/// The exporter in a mount namespace of its own whose /etc/hosts is `hosts`, so the test
/// decides what names resolve to (glibc reads the file on every lookup).
fn start_with_hosts(
    config_yaml: &str,
    hosts: &std::path::Path,
) -> (Daemon, u16, tempfile::TempDir) {
    let dir = tempdir();
    let config_path = dir.path().join("config.yml");
    std::fs::write(&config_path, config_yaml).unwrap();
    let port = free_port();
    let mut cmd = Command::new(require("unshare"));
    cmd.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg("mount --bind \"$0\" /etc/hosts && exec \"$@\"")
        .arg(hosts)
        .arg(env!("CARGO_BIN_EXE_gateway-exporter"))
        .arg("--config.file")
        .arg(&config_path)
        .arg("--web.listen-address")
        .arg(format!("127.0.0.1:{port}"));
    let mut daemon = Daemon::spawn("gateway-exporter", cmd, dir.path());
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        daemon.assert_running();
        assert!(Instant::now() < deadline, "exporter: {}", daemon.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    (daemon, port, dir)
}

#[test]
fn a_name_rebound_to_a_denied_address_is_not_connected_to() {
    let port = free_port();
    let nginx = Nginx::start(
        &format!(
            "log_format addr '$server_addr $request';\n\
             server {{ listen 127.0.0.1:{port}; listen 127.0.0.2:{port}; access_log {{dir}}/addr.log addr;\n\
               location / {{ return 200 \"ok\\n\"; }} }}"
        ),
        port,
    );
    let hosts_dir = tempdir();
    let hosts = hosts_dir.path().join("hosts");
    std::fs::write(&hosts, "127.0.0.1 localhost\n").unwrap();
    let (_exporter, exporter_port, _dir) = start_with_hosts(&config(&["localhost"], ""), &hosts);
    let target = format!("http://localhost:{port}/");
    assert_eq!(probe(exporter_port, &target), (1.0, 0.0, String::new()));

    // Rebind: the same allowed name now points at another loopback address.
    std::fs::write(&hosts, "127.0.0.2 localhost\n").unwrap();
    assert_eq!(
        probe(exporter_port, &target),
        (0.0, 0.0, "not_allowed".into())
    );
    let log = std::fs::read_to_string(nginx.dir.path().join("addr.log")).unwrap();
    assert!(log.contains("127.0.0.1 GET / "), "{log}");
    assert!(
        !log.contains("127.0.0.2"),
        "the rebound address was reached: {log}"
    );
}
