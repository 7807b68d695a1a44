//! Log-derived upstream error counters (issue 3). Skeleton: the interface the core uses.

use crate::config::Config;
use crate::metrics::Metrics;
use prometheus_client::registry::Registry;
use serde::Deserialize;
use std::sync::Arc;

/// One entry of `logs:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub path: String,
    pub format: String,
}

/// The `log_settings:` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {}

/// The log families, registered once.
pub struct LogMetrics {}

impl LogMetrics {
    pub fn register(_registry: &mut Registry) -> Self {
        LogMetrics {}
    }
}

/// Adds the standard log paths that exist on this host to the embedded default.
pub fn autodetect(_config: &mut Config) {}

/// Checks of the `logs:` section as a whole.
pub fn validate(_config: &Config) -> anyhow::Result<()> {
    Ok(())
}

/// Tailing state that survives config reloads (offsets of every followed file).
#[derive(Default)]
pub struct LogRuntime {}

impl LogRuntime {
    pub fn new(_config: &Config) -> Self {
        LogRuntime {}
    }

    /// Start one tailing task per configured log; the tasks are aborted on reload.
    pub fn start(&self, _config: &Config, _metrics: &Arc<Metrics>) -> Vec<tokio::task::JoinHandle<()>> {
        Vec::new()
    }
}

/// `--one-shot`: read every configured log from its start to EOF into `metrics`.
pub fn one_shot(_config: &Config, _metrics: &Metrics) -> anyhow::Result<()> {
    Ok(())
}
