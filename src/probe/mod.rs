//! Status-code probes that say which layer produced a 5xx.
//!
//! `http` makes one request with phase timings, `fingerprint` (pure) names the layer and
//! vendor behind an error response, `blackbox` serves `/probe`, and `schedule` runs the
//! configured `probes:` on their own intervals into [`ProbeMetrics`].

pub mod app_cause;
pub mod blackbox;
pub mod config;
pub mod detect;
pub mod fingerprint;
pub mod http;
pub mod metrics;
pub mod schedule;
mod tls;
pub mod x509;

pub use metrics::ProbeMetrics;

/// `public`: the URL as users reach it; `origin`: the same request sent to the origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PathKind {
    Public,
    Origin,
}

impl PathKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PathKind::Public => "public",
            PathKind::Origin => "origin",
        }
    }
}
