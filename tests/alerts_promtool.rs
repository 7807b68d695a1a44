//! The rule files and the Alertmanager example through Debian's own tools: `promtool check
//! rules`, `promtool test rules`, `amtool check-config`, `amtool config routes test`,
//! `amtool template render`.

mod common;
#[path = "common/prometheus.rs"]
mod prometheus;

use prometheus::{RULE_FILE, alerts, repo_path, run};

#[test]
fn promtool_check_rules_accepts_the_rule_file() {
    let (ok, out) = run("promtool", &["check", "rules", RULE_FILE]);
    assert!(ok, "{out}");
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn promtool_unit_tests_pass() {
    let mut files: Vec<String> = std::fs::read_dir(repo_path("alerts/tests"))
        .unwrap()
        .map(|e| format!("alerts/tests/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "{files:?}");
    for file in files {
        let (ok, out) = run("promtool", &["test", "rules", &file]);
        assert!(ok, "promtool test rules {file}:\n{out}");
    }
}

#[test]
fn amtool_accepts_the_example_config() {
    let (ok, out) = run("amtool", &["check-config", "alertmanager/alertmanager.yml"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("1 templates") && out.contains("inhibit rules"),
        "{out}"
    );
}

#[test]
fn every_alert_routes_by_its_severity() {
    for rule in alerts() {
        let name = rule.alert.as_deref().unwrap();
        let severity = &rule.labels["severity"];
        let receiver = match severity.as_str() {
            _ if name == "GatewayWatchdog" => "heartbeat",
            "critical" => "pager",
            "warning" => "tickets",
            _ => "blackhole",
        };
        let (ok, out) = run(
            "amtool",
            &[
                "config",
                "routes",
                "test",
                "--config.file=alertmanager/alertmanager.yml",
                &format!("--verify.receivers={receiver}"),
                &format!("alertname={name}"),
                &format!("severity={severity}"),
            ],
        );
        assert!(ok, "{name} ({severity}) should reach {receiver}: {out}");
    }
    // Without a severity an alert still reaches a human.
    let (ok, out) = run(
        "amtool",
        &[
            "config",
            "routes",
            "test",
            "--config.file=alertmanager/alertmanager.yml",
            "--verify.receivers=tickets",
            "alertname=Other",
        ],
    );
    assert!(ok, "{out}");
}

#[test]
fn the_notification_starts_with_summary_layer_cause_and_runbook() {
    let rule = alerts()
        .into_iter()
        .find(|r| r.alert.as_deref() == Some("GatewayUpstreamConnectionRefused"))
        .unwrap();
    let runbook = rule.annotations["runbook_url"].clone();
    let labels = serde_json::json!({
        "alertname": "GatewayUpstreamConnectionRefused", "severity": "critical", "layer": "app",
        "cause": "connect_refused", "job": "gateway", "instance": "web1:10211",
        "vhost": "shop.example", "upstream": "127.0.0.1:8080"
    });
    let data = serde_json::json!({
        "receiver": "pager", "status": "firing",
        "alerts": [{
            "status": "firing", "labels": labels,
            "annotations": {
                "summary": rule.annotations["summary"],
                "description": "On web1:10211, vhost shop.example: connections to upstream 127.0.0.1:8080 are refused, 0.50 failed requests/s.",
                "runbook_url": runbook,
                "dashboard_url": "http://localhost:3000/d/gateway-upstreams"
            },
            "startsAt": "2026-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "", "fingerprint": "0"
        }],
        "groupLabels": {"alertname": "GatewayUpstreamConnectionRefused"},
        "commonLabels": labels,
        "commonAnnotations": {"summary": rule.annotations["summary"]},
        "externalURL": "http://127.0.0.1:9093"
    });
    let dir = common::tempdir();
    let data_path = dir.path().join("data.json");
    std::fs::write(&data_path, data.to_string()).unwrap();
    let (ok, out) = run(
        "amtool",
        &[
            "template",
            "render",
            "--template.glob=alertmanager/templates/*.tmpl",
            &format!("--template.data={}", data_path.display()),
            "--template.text={{ template \"gateway.title\" . }}\n{{ template \"gateway.text\" . }}",
        ],
    );
    assert!(ok, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "[FIRING:1] GatewayUpstreamConnectionRefused: The upstream refuses connections (app down or wrong port).",
        "{out}"
    );
    assert_eq!(lines[1], rule.annotations["summary"], "{out}");
    assert_eq!(lines[2], "Layer: app | cause: connect_refused", "{out}");
    assert_eq!(lines[3], format!("Runbook: {runbook}"), "{out}");
    assert!(
        lines[4].starts_with("On web1:10211, vhost shop.example"),
        "{out}"
    );
}
