//! Harness for the scenario suite: the shipped rules compressed in time, the shipped
//! Alertmanager config pointed at a webhook, a real app process (PHP's built-in server),
//! and what one `/probe` says. Test files declare `mod common;`,
//! `#[path = "common/prometheus.rs"] mod prometheus;` and
//! `#[path = "common/scenarios.rs"] mod scenarios;`.

use crate::common::{Daemon, get, require, sample_value, tempdir};
use crate::prometheus::{RULE_FILE, load_yaml, repo_path};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// How much faster than real time the test's copy of the rules runs.
pub const SPEEDUP: u64 = 10;

/// `5m` -> seconds; None for anything that is not one plain Prometheus duration.
fn seconds(d: &str) -> Option<u64> {
    let split = d.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = d.split_at(split);
    let n: u64 = n.parse().ok()?;
    Some(match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => return None,
    })
}

/// A duration divided by [`SPEEDUP`], in whole seconds (at least 1s).
fn compress(d: &str) -> Option<String> {
    seconds(d).map(|s| format!("{}s", (s / SPEEDUP).max(1)))
}

/// Every range `[5m]` and `offset 30m` in a PromQL expression, compressed.
pub fn compress_expr(expr: &str) -> String {
    let mut out = String::new();
    let mut rest = expr;
    loop {
        let bracket = rest.find('[');
        let offset = rest.find("offset ");
        match (bracket, offset) {
            (Some(b), o) if o.is_none_or(|o| b < o) => {
                let end = rest[b..].find(']').map(|e| b + e).expect("closing ]");
                out.push_str(&rest[..=b]);
                let inner = &rest[b + 1..end];
                out.push_str(&compress(inner).unwrap_or_else(|| inner.to_string()));
                rest = &rest[end..];
            }
            (_, Some(o)) => {
                let start = o + "offset ".len();
                let len = rest[start..]
                    .find(|c: char| !c.is_ascii_alphanumeric())
                    .unwrap_or(rest.len() - start);
                out.push_str(&rest[..start]);
                let d = &rest[start..start + len];
                out.push_str(&compress(d).unwrap_or_else(|| d.to_string()));
                rest = &rest[start + len..];
            }
            _ => {
                out.push_str(rest);
                return out;
            }
        }
    }
}

/// The shipped rules with every `for:`, range, offset and group `interval` divided by
/// [`SPEEDUP`], written as JSON (which is YAML) into `dir`. Thresholds stay as they are.
pub fn compressed_rules(dir: &Path) -> PathBuf {
    let mut doc = load_yaml(&repo_path(RULE_FILE));
    for group in doc["groups"].as_array_mut().unwrap() {
        if let Some(i) = group.get("interval").and_then(Value::as_str) {
            group["interval"] = Value::from(compress(i).expect("interval: duration"));
        }
        for rule in group["rules"].as_array_mut().unwrap() {
            if let Some(f) = rule.get("for").and_then(Value::as_str) {
                rule["for"] = Value::from(compress(f).expect("for: duration"));
            }
            let expr = rule["expr"].as_str().unwrap().to_string();
            rule["expr"] = Value::from(compress_expr(&expr));
        }
    }
    let path = dir.join("rules.json");
    std::fs::write(&path, doc.to_string()).unwrap();
    path
}

/// A real app process: PHP's built-in web server on `port`, answering `ok` on every path,
/// after `delay` (an app that is still booting refuses connections meanwhile).
pub struct App {
    _dir: tempfile::TempDir,
    _daemon: Daemon,
}

impl App {
    pub fn start(port: u16, delay: Duration) -> App {
        let php = require("php");
        let dir = tempdir();
        std::fs::write(dir.path().join("index.php"), "<?php echo \"ok\\n\";\n").unwrap();
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(format!(
            "sleep {}; exec {} -S 127.0.0.1:{port} -t {} {}/index.php",
            delay.as_secs_f64(),
            php.display(),
            dir.path().display(),
            dir.path().display()
        ));
        let daemon = Daemon::spawn("php-app", cmd, dir.path());
        App {
            _dir: dir,
            _daemon: daemon,
        }
    }
}

/// What one blackbox-style `/probe` of `url` says: status code and, on failure, the
/// layer and vendor of `probe_failure_info`.
#[derive(Debug, Clone, Default)]
pub struct ProbeVerdict {
    pub code: u16,
    pub layer: String,
    pub vendor: String,
}

pub fn probe(exporter_port: u16, url: &str) -> ProbeVerdict {
    let target: String = url::form_urlencoded::byte_serialize(url.as_bytes()).collect();
    let text = get(
        exporter_port,
        &format!("/probe?module=http_2xx&target={target}"),
    )
    .body;
    let code = sample_value(&text, "probe_http_status_code", &[]).unwrap_or(0.0) as u16;
    let info = text
        .lines()
        .find(|l| l.starts_with("probe_failure_info{"))
        .unwrap_or("");
    let label = |k: &str| {
        info.split(&format!("{k}=\""))
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or("-")
            .to_string()
    };
    ProbeVerdict {
        code,
        layer: label("layer"),
        vendor: label("vendor"),
    }
}

#[test]
fn compresses_ranges_offsets_and_nothing_else() {
    assert_eq!(
        compress_expr("rate(x[5m]) > 1/60 unless y offset 30m > 0.5"),
        "rate(x[30s]) > 1/60 unless y offset 180s > 0.5"
    );
    assert_eq!(
        compress_expr("increase(a[30m] offset 1d) and b[1h]"),
        "increase(a[180s] offset 8640s) and b[360s]"
    );
    assert_eq!(compress_expr("a{le=\"0.5\"} > 4"), "a{le=\"0.5\"} > 4");
}
