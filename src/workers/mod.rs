//! Worker saturation and upstream reachability (issue 4). Skeleton: the interface the core uses.

use crate::collector::ScrapeCollector;
use crate::config::Config;
use crate::metrics::Metrics;
use prometheus_client::registry::Registry;
use serde::Deserialize;
use std::sync::Arc;

/// One entry of `workers:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    pub kind: String,
    pub address: String,
}

/// One entry of `upstreams:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    pub address: String,
}

/// The worker families, registered once.
pub struct WorkerMetrics {}

impl WorkerMetrics {
    pub fn register(_registry: &mut Registry) -> Self {
        WorkerMetrics {}
    }
}

/// Adds the PHP-FPM pools and status pages found on this host to the embedded default.
pub fn autodetect(_config: &mut Config) {}

/// Checks of the `workers:`, `upstreams:` and `maintenance_files:` sections.
pub fn validate(_config: &Config) -> anyhow::Result<()> {
    Ok(())
}

/// Scrape-time collectors for the configured pools, upstreams and maintenance flags.
pub fn collectors(_config: &Config, _metrics: &Arc<Metrics>) -> Vec<Arc<dyn ScrapeCollector>> {
    Vec::new()
}
