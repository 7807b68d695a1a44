//! Live diagnosis: the guides' outside-in checklist run in seconds by the exporter that
//! already holds the evidence. For each URL: DNS, connect, TLS, status, who generated the
//! error (fingerprint), the origin directly, the web server's logs of the last minutes,
//! connect tests of the upstreams they name, the worker pools, the maintenance flags and
//! the reloads just before; then one verdict: status, layer, cause, upstream or pool,
//! evidence, fix steps and runbook.
//!
//! An aggregate like the runtime and the server: it reads every source's public API and no
//! source reads it. One deadline bounds the whole walk; the logs are read from their end,
//! bounded in bytes and in time.

pub mod host;
pub mod logscan;
pub mod pages;
pub mod render;
pub mod runbooks;
pub mod verdict;

use crate::base::net::parse_host_port;
use crate::config::Config;
use crate::probe::config::ProbeConfig;
use crate::probe::http::{Target, Trace, probe, traced};
use futures::future::join_all;
use host::HostState;
use logscan::{Limits, LogSummary};
use serde::Serialize;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tokio::time::timeout_at;
use verdict::{ConnectCheck, Context, Finding, Probed};

/// How far and how long one diagnosis goes.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The whole walk ends by then; what has not answered is reported as such.
    pub deadline: Duration,
    pub limits: Limits,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            deadline: Duration::from_secs(10),
            limits: Limits {
                bytes_per_file: 256 * 1024,
                files_per_log: 4,
                window: Duration::from_secs(15 * 60),
            },
        }
    }
}

/// Upstreams the logs name that get a connect test, at most.
const MAX_CHECKS: usize = 8;

/// The diagnosis of every target, and of every failing source when no URL was given.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub healthy: bool,
    pub took_ms: u64,
    pub findings: Vec<Finding>,
    /// What was read of the logs.
    pub logs_read: Vec<String>,
    pub host: HostState,
    /// The probes of this walk, with their own logs (for the recent-probes list).
    #[serde(skip)]
    pub probes: Vec<(String, Trace)>,
}

/// The targets to walk: the URLs given (with a configured probe's settings when one has
/// the same URL), or every configured and detected probe.
pub fn targets(config: &Config, urls: &[String]) -> Vec<ProbeConfig> {
    if urls.is_empty() {
        return config.probes.clone();
    }
    urls.iter()
        .map(|url| {
            config
                .probes
                .iter()
                .find(|p| &p.url == url)
                .cloned()
                .unwrap_or_else(|| ProbeConfig::new(url, url))
        })
        .collect()
}

/// Walk `targets` (and, when `sources` is set, judge every failing source too).
pub async fn diagnose(
    config: &Config,
    targets: &[ProbeConfig],
    sources: bool,
    settings: &Settings,
) -> Report {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + settings.deadline;
    let logs = {
        let logs_config = config.logs.clone();
        let limits = settings.limits;
        async move {
            let now = crate::base::clock::unix_now() as i64;
            let scan =
                tokio::task::spawn_blocking(move || logscan::scan(&logs_config, limits, now));
            match timeout_at(deadline, scan).await {
                Ok(Ok(summary)) => summary,
                _ => LogSummary {
                    read: vec!["the logs were not read in time (deadline)".into()],
                    ..Default::default()
                },
            }
        }
    };
    let host = async {
        timeout_at(deadline, host::read(config))
            .await
            .unwrap_or_default()
    };
    let probes = join_all(targets.iter().map(|t| walk_probe(t, deadline)));
    // The probes first: the web server logs their failures too, before the logs are read.
    let (probed, host) = tokio::join!(probes, host);
    let logs = logs.await;
    let checks = connect_checks(&logs, deadline).await;
    let cx = Context {
        logs: &logs,
        checks: &checks,
        host: &host,
    };
    let mut findings: Vec<Finding> = targets
        .iter()
        .zip(&probed)
        .map(|(t, (public, origin))| {
            let vhost = t.vhost();
            let p = Probed {
                name: &t.name,
                url: &t.url,
                vhost: &vhost,
                public,
                origin: t.origin.as_deref().zip(origin.as_ref()),
            };
            verdict::judge_probe(&p, &cx)
        })
        .collect();
    if sources {
        let more = verdict::judge_sources(&cx, &findings);
        findings.extend(more);
    }
    let mut probes = Vec::new();
    for (t, (public, origin)) in targets.iter().zip(probed) {
        probes.push((t.name.clone(), public));
        if let Some(origin) = origin {
            probes.push((format!("{} (origin)", t.name), origin));
        }
    }
    Report {
        healthy: findings.iter().all(|f| f.healthy),
        took_ms: started.elapsed().as_millis() as u64,
        findings,
        logs_read: logs.read,
        host,
        probes,
    }
}

/// The public probe and, when configured, the origin probe, each traced, within `deadline`.
async fn walk_probe(t: &ProbeConfig, deadline: tokio::time::Instant) -> (Trace, Option<Trace>) {
    let Ok(url) = url::Url::parse(&t.url) else {
        let mut trace = Trace::default();
        trace.log.push(format!("{:?} is not a URL", t.url));
        return (trace, None);
    };
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    let timeout = t.timeout.min(left);
    let public = Target {
        url: url.clone(),
        connect_to: None,
        host_override: None,
    };
    let origin = t
        .origin
        .as_deref()
        .and_then(|o| parse_host_port(o, 0).ok())
        .map(|connect_to| Target {
            url,
            connect_to: Some(connect_to),
            host_override: None,
        });
    let run = |target: Target| async move { traced(probe(&target, &t.http, timeout)).await.1 };
    match origin {
        Some(origin) => {
            let (public, origin) = tokio::join!(run(public), run(origin));
            (public, Some(origin))
        }
        None => (run(public).await, None),
    }
}

/// Connect tests of the upstreams the logs blame (addresses only, not group names).
async fn connect_checks(logs: &LogSummary, deadline: tokio::time::Instant) -> Vec<ConnectCheck> {
    let upstreams: BTreeSet<&str> = logs
        .errors
        .iter()
        .map(|g| g.upstream.as_str())
        .filter(|u| u.starts_with("unix:/") || parse_host_port(u, 0).is_ok_and(|(_, p)| p != 0))
        .take(MAX_CHECKS)
        .collect();
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    let timeout = left.min(Duration::from_secs(2));
    join_all(upstreams.into_iter().map(|u| async move {
        let result = crate::workers::check_upstream(u, timeout).await;
        ConnectCheck {
            upstream: u.to_string(),
            failure: result.err().map(|d| d.to_string()),
        }
    }))
    .await
}
