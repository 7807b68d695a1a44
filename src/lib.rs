//! gateway-exporter: tells which layer and which cause produced a 502, 503 or 504.
//!
//! Three kinds of sources (probes, logs, workers) write into metric families that are
//! registered once at start-up ([`metrics::Metrics`]) and served by [`server`].

pub mod collector;
pub mod config;
pub mod duration;
pub mod logging;
pub mod logs;
pub mod metrics;
pub mod probe;
pub mod process;
pub mod runtime;
pub mod server;
pub mod workers;
