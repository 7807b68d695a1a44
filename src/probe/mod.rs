//! Status-code probes that say which layer produced a 5xx.
//!
//! `http` makes one request with phase timings, `fingerprint` (pure) names the layer and
//! vendor behind an error response, `blackbox` serves `/probe`, and `schedule` runs the
//! configured `probes:` on their own intervals into [`ProbeMetrics`].

pub mod blackbox;
pub mod config;
pub mod schedule;

use prometheus_client::registry::Registry;

/// Families of the scheduled probes.
pub struct ProbeMetrics {}

impl ProbeMetrics {
    pub fn register(_registry: &mut Registry) -> Self {
        ProbeMetrics {}
    }
}
