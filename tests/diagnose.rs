//! `gateway-exporter diagnose` against real nginx in front of a dead, a slow, a 500ing and a
//! healthy upstream and a saturated PHP-FPM pool: the verdict's code, layer, cause,
//! upstream or pool and runbook in `--output json`, and the exit codes. Then the same
//! verdict served: `/diagnose.json`, `/runbooks/<alert>` with live evidence,
//! `/probe?debug=true`, the recent probes on the landing page.

mod common;
#[path = "common/servers.rs"]
mod servers;

use common::*;
use serde_json::Value;
use servers::*;
use std::process::Command;
use std::time::{Duration, Instant};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", self.stdout, self.stderr))
    }

    /// The first finding, the one about the first probe.
    fn verdict(&self) -> Value {
        self.json()["findings"][0].clone()
    }
}

/// `gateway-exporter diagnose` with `config` (when given) and `args`.
fn diagnose(config: Option<&str>, args: &[&str]) -> Run {
    let dir = tempdir();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gateway-exporter"));
    cmd.arg("diagnose");
    if let Some(config) = config {
        let path = dir.path().join("config.yml");
        std::fs::write(&path, config).unwrap();
        cmd.arg("--config.file").arg(path);
    }
    let out = cmd.args(args).output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// nginx on a free port proxying `/` to `upstream` with `extra` directives.
fn nginx_in_front(upstream: &str, extra: &str) -> (Nginx, u16) {
    let port = free_port();
    let nginx = Nginx::start(
        &format!(
            "server {{ listen 127.0.0.1:{port}; server_name shop.test; {extra}\n\
               location / {{ proxy_pass http://{upstream}; }} }}"
        ),
        port,
    );
    (nginx, port)
}

fn config_for(nginx: &Nginx, port: u16) -> String {
    format!(
        "logs:\n  - {{path: '{}', format: nginx_error, name: web}}\n\
         probes:\n  - {{name: shop, url: 'http://127.0.0.1:{port}/', timeout: 4s}}\n",
        nginx.error_log.display()
    )
}

/// The fields every verdict test asserts.
fn assert_verdict(v: &Value, want: &[(&str, Value)], run: &Run) {
    for (key, value) in want {
        assert_eq!(&v[*key], value, "{key} in\n{}\n{}", run.stdout, run.stderr);
    }
}

#[test]
fn dead_upstream_behind_nginx_is_connect_refused_with_its_address() {
    let _beside = run_beside_others();
    let dead = free_port();
    let (nginx, port) = nginx_in_front(&format!("127.0.0.1:{dead}"), "");
    let config = config_for(&nginx, port);
    let run = diagnose(Some(&config), &["--output", "json"]);
    assert_eq!(
        run.code, 1,
        "a fault exits 1: {}\n{}",
        run.stdout, run.stderr
    );
    let v = run.verdict();
    assert_verdict(
        &v,
        &[
            ("subject", "probe shop".into()),
            ("status", 502.into()),
            ("layer", "proxy".into()),
            ("vendor", "nginx".into()),
            ("cause", "connect_refused".into()),
            ("upstream", format!("127.0.0.1:{dead}").into()),
            ("runbook", "GatewayUpstreamConnectionRefused".into()),
        ],
        &run,
    );
    let evidence = v["evidence"].to_string();
    assert!(
        evidence
            .contains("connect() failed (111: Connection refused) while connecting to upstream"),
        "the real nginx line is quoted: {evidence}"
    );
    assert!(
        evidence.contains(&format!("connect test 127.0.0.1:{dead}: connect_refused")),
        "the upstream was tested: {evidence}"
    );
    assert!(
        v["fingerprint"].to_string().contains("server: nginx/"),
        "{}",
        v["fingerprint"]
    );
    assert!(
        v["fix"][0].as_str().unwrap().starts_with("Start the app"),
        "{}",
        v["fix"]
    );

    let text = diagnose(Some(&config), &[]);
    assert_eq!(text.code, 1);
    for want in [
        "FAULT probe shop",
        "cause:      connect_refused",
        &format!("upstream:   127.0.0.1:{dead}"),
        "runbook:    GatewayUpstreamConnectionRefused",
    ] {
        assert!(text.stdout.contains(want), "{want:?} in:\n{}", text.stdout);
    }
}

#[test]
fn slow_upstream_is_a_timeout_and_a_500_from_the_app_is_the_apps() {
    let _beside = run_beside_others();
    let slow = FakeUpstream::start(Behaviour::Hang);
    let (nginx, port) = nginx_in_front(&slow.addr().to_string(), "proxy_read_timeout 1s;");
    let url = format!("http://127.0.0.1:{port}/");
    let run = diagnose(Some(&config_for(&nginx, port)), &["--output", "json", &url]);
    assert_eq!(run.code, 1);
    assert_verdict(
        &run.verdict(),
        &[
            ("status", 504.into()),
            ("layer", "proxy".into()),
            ("cause", "timeout".into()),
            ("upstream", slow.addr().to_string().into()),
            ("runbook", "GatewayUpstreamTimeout".into()),
        ],
        &run,
    );
    assert_eq!(
        run.json()["findings"].as_array().unwrap().len(),
        1,
        "with a URL given, only that URL is judged"
    );

    let app = FakeUpstream::respond(
        "500 Internal Server Error",
        &["Content-Type: text/html", "X-Powered-By: PHP/8.2"],
        "<html><body><h1>Whoops, something went wrong</h1></body></html>",
    );
    let (nginx, port) = nginx_in_front(&app.addr().to_string(), "");
    let run = diagnose(Some(&config_for(&nginx, port)), &["--output", "json"]);
    assert_eq!(run.code, 1);
    assert_verdict(
        &run.verdict(),
        &[
            ("status", 500.into()),
            ("layer", "app".into()),
            ("cause", "app_error".into()),
            ("runbook", "GatewayProbe5xx".into()),
        ],
        &run,
    );
}

#[test]
fn healthy_site_exits_zero() {
    let _beside = run_beside_others();
    let app = FakeUpstream::respond("200 OK", &[], "hello");
    let (nginx, port) = nginx_in_front(&app.addr().to_string(), "");
    let run = diagnose(Some(&config_for(&nginx, port)), &["--output", "json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    assert_eq!(report["healthy"], true);
    assert_verdict(
        &run.verdict(),
        &[
            ("healthy", true.into()),
            ("status", 200.into()),
            ("cause", "none".into()),
        ],
        &run,
    );
}

#[test]
fn usage_and_config_errors_exit_two() {
    for (config, args, says) in [
        (
            None,
            &["not a url"][..],
            "is not an http:// or https:// URL",
        ),
        (
            None,
            &["ftp://127.0.0.1/"][..],
            "is not an http:// or https:// URL",
        ),
        (None, &["--output", "yaml"][..], "invalid value 'yaml'"),
        (Some("probez: []\n"), &[][..], "probez"),
    ] {
        let run = diagnose(config, args);
        assert_eq!(run.code, 2, "{args:?}: {}\n{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
    }
    let run = diagnose(None, &["--config.file", "/nonexistent/gw.yml"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("/nonexistent/gw.yml"), "{}", run.stderr);
}

#[test]
fn one_deadline_bounds_the_walk() {
    let _beside = run_beside_others();
    let hang = FakeUpstream::start(Behaviour::Hang);
    let url = format!("http://{}/", hang.addr());
    let started = Instant::now();
    let run = diagnose(
        Some("probes: []\n"),
        &["--output", "json", "--timeout", "1s", &url],
    );
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert_eq!(run.code, 1);
    assert_verdict(
        &run.verdict(),
        &[
            ("status", 0.into()),
            ("cause", "timeout".into()),
            ("runbook", "GatewayProbeFailing".into()),
        ],
        &run,
    );
}

#[test]
fn saturated_php_fpm_pool_is_named() {
    let _alone = run_alone();
    let pools = fpm_pool(
        "sat",
        "{dir}/sat.sock",
        "pm = static\npm.max_children = 1\npm.status_path = /status\npm.status_listen = {dir}/sat-status.sock",
    );
    let fpm = PhpFpm::start(&pools, &["{dir}/sat.sock", "{dir}/sat-status.sock"]);
    let sock = fpm.path("sat.sock");
    let script = fpm.path("sleep.php");
    let port = free_port();
    let nginx = Nginx::start(
        &format!(
            "server {{ listen 127.0.0.1:{port}; server_name php.test;\n\
               location = /sleep.php {{ fastcgi_pass unix:{sock}; fastcgi_read_timeout 1s;\n\
                 fastcgi_param REQUEST_METHOD $request_method; fastcgi_param QUERY_STRING $query_string;\n\
                 fastcgi_param SCRIPT_FILENAME {script}; fastcgi_param SCRIPT_NAME /sleep.php; }} }}"
        ),
        port,
    );
    assert_eq!(
        get(port, "/sleep.php?s=0").status,
        200,
        "{}",
        fpm.log_text()
    );
    let config = format!(
        "logs:\n  - {{path: '{log}', format: nginx_error, name: web}}\n\
         workers:\n  - {{kind: phpfpm, name: sat, address: 'unix:{status}', listen: 'unix:{sock}', config_file: '{conf}'}}\n\
         probes:\n  - {{name: php, url: 'http://127.0.0.1:{port}/sleep.php?s=0', timeout: 4s}}\n",
        log = nginx.error_log.display(),
        status = fpm.path("sat-status.sock"),
        conf = fpm.conf.display(),
    );
    let _busy = fire_requests(port, "/sleep.php?s=5", 3);
    std::thread::sleep(Duration::from_millis(300));
    let run = diagnose(Some(&config), &["--output", "json"]);
    assert_eq!(run.code, 1);
    assert_verdict(
        &run.verdict(),
        &[
            ("status", 504.into()),
            ("layer", "proxy".into()),
            ("cause", "pool_saturated".into()),
            ("pool", "sat".into()),
            ("upstream", format!("unix:{sock}").into()),
            ("runbook", "GatewayWorkerPoolSaturated".into()),
        ],
        &run,
    );
    assert!(
        run.verdict()["evidence"]
            .to_string()
            .contains("pool sat (phpfpm): 1 of 1 workers active"),
        "{}",
        run.stdout
    );
}

#[test]
fn served_verdict_runbooks_and_probe_debug() {
    let _beside = run_beside_others();
    let dead = free_port();
    let (nginx, port) = nginx_in_front(&format!("127.0.0.1:{dead}"), "");
    let exporter = Exporter::start(&format!(
        "{}modules: {{http_2xx: {{prober: http, timeout: 3s}}}}\n\
         probe_endpoint: {{allowed_targets: ['127.0.0.1']}}\n",
        config_for(&nginx, port)
    ));
    let report: Value = serde_json::from_str(&get(exporter.port, "/diagnose.json").body).unwrap();
    let v = &report["findings"][0];
    assert_eq!(
        (
            v["cause"].as_str(),
            v["upstream"].as_str(),
            v["runbook"].as_str()
        ),
        (
            Some("connect_refused"),
            Some(format!("127.0.0.1:{dead}").as_str()),
            Some("GatewayUpstreamConnectionRefused")
        ),
        "{report}"
    );

    let page = get(exporter.port, "/diagnose");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("data-cause=\"connect_refused\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("http-equiv=\"refresh\""));

    let runbook = get(
        exporter.port,
        &format!("/runbooks/GatewayUpstreamConnectionRefused?upstream=127.0.0.1:{dead}"),
    );
    assert_eq!(runbook.status, 200);
    let (live, rest) = runbook.body.split_once("<hr>").unwrap();
    assert!(live.contains("data-cause=\"connect_refused\""), "{live}");
    assert!(rest.contains("<h2>Mitigation</h2>"), "{rest}");
    let quiet = get(
        exporter.port,
        "/runbooks/GatewayUpstreamConnectionRefused?upstream=10.9.9.9:80",
    );
    assert!(
        quiet
            .body
            .contains("Nothing fails with these labels right now"),
        "{}",
        quiet.body
    );
    assert_eq!(
        get(exporter.port, "/runbooks/GatewayNoSuchAlert").status,
        404
    );
    // The shipped rules with only their runbook prefix swapped for the exporter's.
    let swapped = get(
        exporter.port,
        "/runbooks/GatewayUpstreamConnectionRefused.md",
    );
    assert_eq!(swapped.status, 200);
    assert!(
        swapped
            .body
            .split_once("<hr>")
            .unwrap()
            .0
            .contains("data-cause=\"connect_refused\"")
    );

    let target = format!("http://127.0.0.1:{port}/");
    let debug = get(exporter.port, &format!("/probe?target={target}&debug=true"));
    assert_eq!(debug.status, 200);
    assert!(
        debug
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    for want in [
        "Logs for the probe:\n",
        &format!("Connected to 127.0.0.1:{port}"),
        "Response: 502",
        "server: nginx/",
        "Probe failed: reason http_status, status 502, generated by layer proxy vendor nginx",
        "Metrics that would have been returned:\n",
        "probe_success 0",
    ] {
        assert!(debug.body.contains(want), "{want:?} in:\n{}", debug.body);
    }
    let plain = get(exporter.port, &format!("/probe?target={target}"));
    assert!(!plain.body.contains("Logs for the probe"), "{}", plain.body);

    let landing = get(exporter.port, "/").body;
    let recent = landing
        .split("<h2>Recent probes</h2>")
        .nth(1)
        .expect(&landing);
    assert!(recent.contains(&target), "{recent}");
    assert!(recent.contains("http_status"), "{recent}");
}
