//! Harness for the alerting tests: the repository's rule files, a real Prometheus and a real
//! Alertmanager from Debian on free ports with their own storage, and a local webhook that
//! records the notifications Alertmanager delivers. Test files declare `mod common;` and
//! `#[path = "common/prometheus.rs"] mod prometheus;`.
#![allow(dead_code)] // each alerts_* test binary uses a different part

use crate::common::{Daemon, eventually, free_port, get, require, tempdir, wait_for_port};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// The one rule file the repository ships (the Helm chart embeds the same file).
pub const RULE_FILE: &str = "alerts/gateway-exporter.rules.yml";
/// The literal prefix of every `runbook_url`; the chart replaces it as a plain string.
pub const RUNBOOK_BASE: &str =
    "https://github.com/gateway-exporter/gateway-exporter/blob/main/alerts/runbooks/";
/// The literal prefix of every `dashboard_url` (Grafana's default address).
pub const DASHBOARD_BASE: &str = "http://localhost:3000/d/";

pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A YAML file as JSON values (JSON is YAML, so a modified copy can be written back as JSON).
pub fn load_yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One rule of a rule file, alert or recording.
#[derive(Debug, Clone)]
pub struct Rule {
    /// `Some(name)` for an alert.
    pub alert: Option<String>,
    /// `Some(name)` for a recording rule.
    pub record: Option<String>,
    pub expr: String,
    pub for_: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

impl Rule {
    pub fn name(&self) -> &str {
        self.alert.as_deref().or(self.record.as_deref()).unwrap()
    }
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().expect("label values are strings").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn rules() -> Vec<Rule> {
    let doc = load_yaml(&repo_path(RULE_FILE));
    let mut out = Vec::new();
    for group in doc["groups"].as_array().expect("groups") {
        for r in group["rules"].as_array().expect("rules") {
            out.push(Rule {
                alert: r["alert"].as_str().map(str::to_string),
                record: r["record"].as_str().map(str::to_string),
                expr: r["expr"].as_str().expect("expr").to_string(),
                for_: r["for"].as_str().map(str::to_string),
                labels: string_map(&r["labels"]),
                annotations: string_map(&r["annotations"]),
            });
        }
    }
    out
}

pub fn alerts() -> Vec<Rule> {
    rules().into_iter().filter(|r| r.alert.is_some()).collect()
}

/// Run a Debian tool; returns (success, stdout + stderr).
pub fn run(binary: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(require(binary))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// GET `path_and_query` from 127.0.0.1:port and parse the JSON body.
pub fn get_json(port: u16, path_and_query: &str) -> Value {
    let reply = get(port, path_and_query);
    assert_eq!(reply.status, 200, "GET {path_and_query}: {}", reply.body);
    serde_json::from_str(&reply.body)
        .unwrap_or_else(|e| panic!("GET {path_and_query}: {e}: {}", reply.body))
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The shipped Alertmanager config with short waits and every receiver pointed at the
/// webhook, the blackhole too, so a test sees what is routed there (no templates: the webhook
/// gets the raw alerts). Routes and inhibit rules are the shipped ones.
pub fn alertmanager_config(webhook: &Webhook) -> String {
    let mut doc = load_yaml(&repo_path("alertmanager/alertmanager.yml"));
    doc.as_object_mut().unwrap().remove("templates");
    doc["route"]["group_wait"] = Value::from("3s");
    doc["route"]["group_interval"] = Value::from("2s");
    for receiver in doc["receivers"].as_array_mut().unwrap() {
        let name = receiver["name"].clone();
        *receiver = serde_json::json!({"name": name, "webhook_configs": [{"url": webhook.url()}]});
    }
    doc.to_string()
}

/// A real Prometheus: 1s scrape and evaluation interval, its own storage directory.
pub struct Prometheus {
    pub port: u16,
    pub dir: tempfile::TempDir,
    daemon: Daemon,
}

impl Prometheus {
    /// Scrape each `(job, "host:port")` target, evaluate `rule_files`, send alerts to
    /// Alertmanager on `alertmanager_port` when given.
    pub fn start(
        targets: &[(&str, String)],
        rule_files: &[PathBuf],
        alertmanager_port: Option<u16>,
    ) -> Prometheus {
        let dir = tempdir();
        let mut jobs: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (job, target) in targets {
            jobs.entry(job).or_default().push(target.clone());
        }
        let scrape_configs: Vec<Value> = jobs
            .iter()
            .map(
                |(job, t)| serde_json::json!({"job_name": job, "static_configs": [{"targets": t}]}),
            )
            .collect();
        let mut config = serde_json::json!({
            "global": {"scrape_interval": "1s", "scrape_timeout": "900ms", "evaluation_interval": "1s"},
            "rule_files": rule_files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "scrape_configs": scrape_configs,
        });
        if let Some(am) = alertmanager_port {
            config["alerting"] = serde_json::json!({"alertmanagers": [{"static_configs": [{"targets": [format!("127.0.0.1:{am}")]}]}]});
        }
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
        Self::serve(dir, &config_path)
    }

    /// Prometheus scraping one exporter (`host:port`) as job `gateway`, no rules.
    pub fn scraping(target: &str) -> Prometheus {
        Self::start(&[("gateway", target.to_string())], &[], None)
    }

    /// Backfill `openmetrics` (samples with timestamps, ending in `# EOF`) with
    /// `promtool tsdb create-blocks-from openmetrics`, then serve that TSDB.
    pub fn with_backfill(openmetrics: &str) -> Prometheus {
        let dir = tempdir();
        let input = dir.path().join("data.om");
        std::fs::write(&input, openmetrics).unwrap();
        let (ok, out) = run(
            "promtool",
            &[
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                &input.display().to_string(),
                &dir.path().join("data").display().to_string(),
            ],
        );
        assert!(ok, "backfill failed: {out}");
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, "global:\n  scrape_interval: 15s\n").unwrap();
        Self::serve(dir, &config_path)
    }

    fn serve(dir: tempfile::TempDir, config_path: &Path) -> Prometheus {
        let port = free_port();
        let mut cmd = Command::new(require("prometheus"));
        cmd.arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // Backfilled blocks are old: keep them servable.
            .arg("--storage.tsdb.retention.time=30d")
            // Resend firing alerts every second so a short test sees state changes at once.
            .arg("--rules.alert.resend-delay=1s");
        let daemon = Daemon::spawn("prometheus", cmd, dir.path());
        let mut p = Prometheus { port, dir, daemon };
        wait_for_port(port, Duration::from_secs(20));
        eventually(Duration::from_secs(20), "prometheus ready", || {
            p.daemon.assert_running();
            (get(port, "/-/ready").status == 200).then_some(())
        });
        p
    }

    /// GET an API path with query parameters; `Ok(data)` on `"status":"success"`,
    /// `Err(errorType: error)` otherwise (a query that does not parse, say).
    pub fn api(&self, path: &str, params: &[(&str, &str)]) -> Result<Value, String> {
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
            .collect();
        let reply = get(self.port, &format!("{path}?{}", query.join("&")));
        let body: Value =
            serde_json::from_str(&reply.body).map_err(|e| format!("{e}: {}", reply.body))?;
        if body["status"] == "success" {
            Ok(body["data"].clone())
        } else {
            Err(format!("{}: {}", body["errorType"], body["error"]))
        }
    }

    /// The result vector of an instant query at `time` (Unix seconds).
    pub fn query_at(&self, expr: &str, time: i64) -> Result<Vec<Value>, String> {
        let data = self.api(
            "/api/v1/query",
            &[("query", expr), ("time", &time.to_string())],
        )?;
        Ok(data["result"].as_array().cloned().unwrap_or_default())
    }

    /// The result matrix of a range query.
    pub fn query_range(
        &self,
        expr: &str,
        start: i64,
        end: i64,
        step: u32,
    ) -> Result<Vec<Value>, String> {
        let (s, e, st) = (start.to_string(), end.to_string(), step.to_string());
        let data = self.api(
            "/api/v1/query_range",
            &[("query", expr), ("start", &s), ("end", &e), ("step", &st)],
        )?;
        Ok(data["result"].as_array().cloned().unwrap_or_default())
    }

    /// The `data.result` of an instant query.
    pub fn query(&self, promql: &str) -> Vec<Value> {
        let v = get_json(
            self.port,
            &format!("/api/v1/query?query={}", urlencode(promql)),
        );
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// Rule evaluation errors and alert states, from `/api/v1/rules`.
    pub fn rule_groups(&self) -> Vec<Value> {
        get_json(self.port, "/api/v1/rules")["data"]["groups"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Names of the alerts firing now.
    pub fn firing(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .query("ALERTS{alertstate=\"firing\"}")
            .iter()
            .filter_map(|s| s["metric"]["alertname"].as_str().map(str::to_string))
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// A real Alertmanager (clustering off) with `config` (YAML or JSON).
pub struct Alertmanager {
    pub port: u16,
    pub dir: tempfile::TempDir,
    daemon: Daemon,
}

impl Alertmanager {
    pub fn start(config: &str) -> Alertmanager {
        let binary = require("prometheus-alertmanager");
        let dir = tempdir();
        let port = free_port();
        let config_path = dir.path().join("alertmanager.yml");
        std::fs::write(&config_path, config).unwrap();
        let mut cmd = Command::new(binary);
        cmd.arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=");
        let daemon = Daemon::spawn("alertmanager", cmd, dir.path());
        let mut am = Alertmanager { port, dir, daemon };
        wait_for_port(port, Duration::from_secs(20));
        eventually(Duration::from_secs(20), "alertmanager ready", || {
            am.daemon.assert_running();
            (get(port, "/-/ready").status == 200).then_some(())
        });
        am
    }

    /// Every alert Alertmanager holds, with `status.state` (active, suppressed) and
    /// `status.inhibitedBy`.
    pub fn alerts(&self) -> Vec<Value> {
        get_json(self.port, "/api/v2/alerts")
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// POST alerts (`[{labels, annotations}]`) to `/api/v2/alerts`, as Prometheus does.
    pub fn push(&self, alerts: &Value) {
        let body = alerts.to_string();
        let mut conn = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let request = format!(
            "POST /api/v2/alerts HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        conn.write_all(request.as_bytes()).unwrap();
        let mut reply = String::new();
        let _ = conn.read_to_string(&mut reply);
        assert!(
            reply.starts_with("HTTP/1.0 200") || reply.starts_with("HTTP/1.1 200"),
            "POST /api/v2/alerts: {reply}"
        );
    }
}

/// One Alertmanager matcher, `name="v"` or `name=~"re"` (anchored, as Alertmanager does).
pub struct Matcher {
    pub label: String,
    anchored: regex::Regex,
}

impl Matcher {
    pub fn parse(m: &str) -> Matcher {
        let re = regex::Regex::new(r#"^([a-zA-Z_]+)(=~|=)"(.*)"$"#).unwrap();
        let c = re
            .captures(m)
            .unwrap_or_else(|| panic!("unsupported matcher {m}"));
        let pattern = if &c[2] == "=~" {
            c[3].to_string()
        } else {
            regex::escape(&c[3])
        };
        Matcher {
            label: c[1].to_string(),
            anchored: regex::Regex::new(&format!("^(?:{pattern})$")).unwrap(),
        }
    }

    /// The matchers of an inhibit rule's `source_matchers` / `target_matchers`.
    pub fn list(v: &Value) -> Vec<Matcher> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|m| Matcher::parse(m.as_str().unwrap()))
            .collect()
    }

    pub fn is_match(&self, value: &str) -> bool {
        self.anchored.is_match(value)
    }
}

/// A local webhook receiver: every POSTed JSON body is kept, in order of arrival.
pub struct Webhook {
    pub port: u16,
    received: Arc<Mutex<Vec<Value>>>,
    stop: Arc<AtomicBool>,
}

impl Webhook {
    pub fn start() -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (received2, stop2) = (received.clone(), stop.clone());
        thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        if let Some(body) = read_post(conn) {
                            received2.lock().unwrap().push(body);
                        }
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Webhook {
            port,
            received,
            stop,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/notify", self.port)
    }

    /// The notifications received so far (Alertmanager's webhook payloads).
    pub fn received(&self) -> Vec<Value> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Read one HTTP request with a Content-Length body, answer 200, return the body as JSON.
fn read_post(mut conn: TcpStream) -> Option<Value> {
    conn.set_nonblocking(false).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let body_start = loop {
        let n = conn.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        raw.extend_from_slice(&buf[..n]);
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&raw[..body_start]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while raw.len() < body_start + length {
        let n = conn.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    serde_json::from_slice(&raw[body_start..(body_start + length).min(raw.len())]).ok()
}
