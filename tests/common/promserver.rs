//! A real Prometheus (Debian's) on a free port over a TSDB backfilled from an OpenMetrics
//! text or scraping the exporter, queried through its HTTP API.
#![allow(dead_code)] // each test binary uses a different part

use crate::common::{Daemon, eventually, free_port, get, require, tempdir};
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

pub struct Prometheus {
    pub port: u16,
    _daemon: Daemon,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Backfill `openmetrics` (samples with timestamps, ending in `# EOF`) with
    /// `promtool tsdb create-blocks-from openmetrics`, then serve it.
    pub fn with_backfill(openmetrics: &str) -> Prometheus {
        let dir = tempdir();
        let input = dir.path().join("data.om");
        let tsdb = dir.path().join("tsdb");
        std::fs::write(&input, openmetrics).unwrap();
        let out = Command::new(require("promtool"))
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&input)
            .arg(&tsdb)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "backfill failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, "global:\n  scrape_interval: 15s\n").unwrap();
        Self::serve(dir, &config)
    }

    /// Prometheus scraping `target` (`host:port`) as job `gateway` every second.
    pub fn scraping(target: &str) -> Prometheus {
        let dir = tempdir();
        let config = dir.path().join("prometheus.yml");
        let yml = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: gateway\n    static_configs:\n      - targets: ['{target}']\n"
        );
        std::fs::write(&config, yml).unwrap();
        Self::serve(dir, &config)
    }

    fn serve(dir: tempfile::TempDir, config: &std::path::Path) -> Prometheus {
        let tsdb = dir.path().join("tsdb");
        let port = free_port();
        let mut cmd = Command::new(require("prometheus"));
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", tsdb.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--storage.tsdb.retention.time=30d");
        let mut daemon = Daemon::spawn("prometheus", cmd, dir.path());
        eventually(Duration::from_secs(30), "prometheus ready", || {
            daemon.assert_running();
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
            (get(port, "/-/ready").status == 200).then_some(())
        });
        Prometheus {
            port,
            _daemon: daemon,
            _dir: dir,
        }
    }

    /// GET an API path with query parameters; `Ok(data)` on `"status":"success"`.
    pub fn api(&self, path: &str, params: &[(&str, &str)]) -> Result<Value, String> {
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
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
    pub fn query(&self, expr: &str, time: i64) -> Result<Vec<Value>, String> {
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
}

/// Percent-encoding of a query-string component.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
