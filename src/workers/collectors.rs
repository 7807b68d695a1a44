//! The scrape-time collectors of the workers source: pools, upstreams, maintenance flags.

use super::address::{Address, Down, DownReason, check_upstream};
use super::config::{MaintenanceFile, UpstreamConfig, WorkerKind, WorkerSections};
use super::metrics::{
    ALL_REASONS, MaintenanceLabels, PoolUpstreamLabels, UpstreamInfoLabels, UpstreamLabels,
    UpstreamReasonLabels, WorkerMetrics, set_opt,
};
use super::pool::{FileCache, Pool, read_files};
use super::sockdiag;
use super::{DEFAULT_TIMEOUT, MAX_DISCOVERED_UPSTREAMS, UpstreamSource};
use crate::base::clock::unix_seconds;
use crate::base::collector::ScrapeCollector;
use futures::future::{BoxFuture, join_all};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Scrape-time collectors for the configured pools, upstreams and maintenance flags;
/// `discovered` adds the upstreams the logs have named.
pub fn collectors(
    sections: WorkerSections<'_>,
    metrics: &Arc<WorkerMetrics>,
    discovered: Option<UpstreamSource>,
) -> Vec<Arc<dyn ScrapeCollector>> {
    metrics.clear();
    let mut out: Vec<Arc<dyn ScrapeCollector>> = Vec::new();
    if !sections.pools.is_empty() {
        let pools: Vec<Pool> = sections.pools.iter().map(Pool::new).collect();
        for pool in &pools {
            if let Some(upstream) = pool.upstream_label() {
                metrics
                    .info
                    .get_or_create(&PoolUpstreamLabels {
                        pool: pool.labels.pool.clone(),
                        kind: pool.labels.kind.clone(),
                        upstream,
                    })
                    .set(1);
            }
        }
        out.push(Arc::new(WorkersCollector {
            pools,
            metrics: metrics.clone(),
        }));
    }
    for u in sections.upstreams {
        metrics
            .upstream_info
            .get_or_create(&UpstreamInfoLabels {
                upstream: u.label().to_string(),
                address: u.address.clone(),
                group: u.group.clone().unwrap_or_default(),
            })
            .set(1);
    }
    if !sections.upstreams.is_empty() || discovered.is_some() {
        out.push(Arc::new(UpstreamsCollector {
            upstreams: sections.upstreams.to_vec(),
            discovered,
            metrics: metrics.clone(),
        }));
    }
    if !sections.maintenance_files.is_empty() {
        for flag in sections.maintenance_files {
            metrics
                .maintenance_info
                .get_or_create(&MaintenanceLabels {
                    path: flag.path.display().to_string(),
                    vhost: flag.vhost.clone().unwrap_or_default(),
                    target: flag.target.clone().unwrap_or_default(),
                })
                .set(1);
            metrics
                .maintenance_max_duration
                .get_or_create(&flag.labels())
                .set(flag.max_duration.as_secs_f64());
        }
        out.push(Arc::new(MaintenanceCollector {
            flags: sections.maintenance_files.to_vec(),
            metrics: metrics.clone(),
        }));
    }
    out
}

struct WorkersCollector {
    pools: Vec<Pool>,
    metrics: Arc<WorkerMetrics>,
}

impl ScrapeCollector for WorkersCollector {
    fn name(&self) -> &str {
        "workers"
    }

    fn collect(&self) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            let wants_kernel = self.pools.iter().any(|p| p.listen.is_some());
            let patterns: Vec<String> = self.pools.iter().flat_map(Pool::config_patterns).collect();
            // Kernel dump and config files off the async threads, with a bound. The backlog
            // is read before the status requests go out: our own connection sitting in the
            // accept queue must not be counted as a waiting request.
            let blocking = tokio::task::spawn_blocking(move || {
                let kernel = wants_kernel.then(sockdiag::listeners);
                (kernel, read_files(patterns.into_iter()))
            });
            let statuses = join_all(self.pools.iter().map(|p| async move {
                let started = Instant::now();
                // The fetch bounds itself; this outer bound is a safety net.
                let result =
                    tokio::time::timeout(p.timeout + Duration::from_millis(100), p.status())
                        .await
                        .unwrap_or_else(|_| {
                            Err(Down::new(
                                DownReason::Timeout,
                                "status scrape overran its timeout",
                            ))
                        });
                (result, started.elapsed())
            }));
            let blocking = tokio::time::timeout(Duration::from_secs(3), blocking).await;
            let statuses = statuses.await;
            let (kernel, files) = match blocking {
                Ok(Ok(x)) => x,
                _ => (
                    Some(Err(std::io::Error::other("kernel/config read overran 3s"))),
                    FileCache::new(),
                ),
            };
            let (listeners, kernel_error) = match kernel {
                Some(Ok(l)) => (l, None),
                Some(Err(e)) => (Vec::new(), Some(e)),
                None => (Vec::new(), None),
            };
            for (pool, (result, took)) in self.pools.iter().zip(statuses) {
                let found = pool
                    .listen
                    .as_ref()
                    .and_then(|want| sockdiag::find(&listeners, want));
                let result = match (pool.config.kind, result) {
                    (WorkerKind::Socket, Ok(_))
                        if pool.listen.is_some() && found.is_none() && kernel_error.is_none() =>
                    {
                        Err(pool.not_listening())
                    }
                    (_, r) => r,
                };
                if let Err(d) = &result {
                    tracing::debug!(pool = %pool.labels.pool, kind = %pool.labels.kind, "worker status: {d}");
                }
                pool.write(&self.metrics, &result, took, found, &files);
            }
            match kernel_error {
                Some(e) => Err(anyhow::anyhow!("sock_diag: {e}")),
                None => Ok(()),
            }
        })
    }
}

struct UpstreamsCollector {
    upstreams: Vec<UpstreamConfig>,
    discovered: Option<UpstreamSource>,
    metrics: Arc<WorkerMetrics>,
}

impl UpstreamsCollector {
    /// The configured upstreams, then the connectable addresses the logs named that are
    /// not configured already (group names and HAProxy server names cannot be dialled).
    fn targets(&self) -> Vec<UpstreamConfig> {
        let mut all = self.upstreams.clone();
        let Some(discovered) = &self.discovered else {
            return all;
        };
        let known: std::collections::HashSet<String> = all
            .iter()
            .flat_map(|u| [u.address.clone(), u.label().to_string()])
            .collect();
        let found = discovered()
            .into_iter()
            .filter(|a| matches!(Address::parse(a), Ok(Address::Tcp(_) | Address::Unix(_))))
            .filter(|a| !known.contains(a))
            .take(MAX_DISCOVERED_UPSTREAMS);
        all.extend(found.map(|address| UpstreamConfig {
            address,
            name: None,
            timeout: None,
            group: None,
        }));
        all
    }
}

impl ScrapeCollector for UpstreamsCollector {
    fn name(&self) -> &str {
        "upstreams"
    }

    fn collect(&self) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            let upstreams = self.targets();
            let checks = upstreams
                .iter()
                .map(|u| check_upstream(&u.address, u.timeout.unwrap_or(DEFAULT_TIMEOUT)));
            let m = &self.metrics;
            for (u, result) in upstreams.iter().zip(join_all(checks).await) {
                let label = u.label().to_string();
                m.upstream_up
                    .get_or_create(&UpstreamLabels {
                        upstream: label.clone(),
                    })
                    .set(i64::from(result.is_ok()));
                let reason = result.as_ref().err().map(|d| d.reason);
                for r in ALL_REASONS {
                    let labels = UpstreamReasonLabels {
                        upstream: label.clone(),
                        reason: r.as_str().into(),
                    };
                    set_opt(&m.upstream_down, &labels, (reason == Some(r)).then_some(1));
                }
            }
            Ok(())
        })
    }
}

struct MaintenanceCollector {
    flags: Vec<MaintenanceFile>,
    metrics: Arc<WorkerMetrics>,
}

impl ScrapeCollector for MaintenanceCollector {
    fn name(&self) -> &str {
        "maintenance"
    }

    fn collect(&self) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            let mut failed = Vec::new();
            for flag in &self.flags {
                let since = match tokio::fs::symlink_metadata(&flag.path).await {
                    Ok(meta) => Some(meta.modified().map(unix_seconds).unwrap_or(0.0)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(e) => {
                        failed.push(format!("{}: {e}", flag.path.display()));
                        None
                    }
                };
                let labels = flag.labels();
                let m = &self.metrics;
                m.maintenance
                    .get_or_create(&labels)
                    .set(i64::from(since.is_some()));
                match since {
                    Some(t) => {
                        m.maintenance_since.get_or_create(&labels).set(t);
                    }
                    None => {
                        m.maintenance_since.remove(&labels);
                    }
                }
            }
            if failed.is_empty() {
                Ok(())
            } else {
                Err(anyhow::anyhow!("cannot stat {}", failed.join(", ")))
            }
        })
    }
}
