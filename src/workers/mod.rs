//! Worker saturation and upstream reachability: one model for every kind of worker pool
//! (PHP-FPM, Apache, nginx, uWSGI, any listen socket), so one alert rule covers them all.
//!
//! Everything here is read when Prometheus scrapes us (scrape-time collectors): each pool's
//! status page, the kernel's listen backlogs, the servers' config files for the limits the
//! status pages lack, connects to the upstreams, and the maintenance flag files.

mod address;
mod collectors;
pub mod config;
mod confs;
mod detect;
mod fastcgi;
mod fetch;
pub mod metrics;
mod pool;
mod sockdiag;
mod status;

pub use address::{Down, DownReason, check_upstream};
pub use collectors::collectors;
pub use config::{MaintenanceFile, UpstreamConfig, WorkerConfig, WorkerKind, WorkerSections};
pub use detect::detect;
pub use metrics::WorkerMetrics;

use std::sync::Arc;
use std::time::Duration;

/// How long a status scrape or connect may take unless the entry says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// Upstream addresses found elsewhere (the logs), read at each scrape.
pub type UpstreamSource = Arc<dyn Fn() -> std::collections::BTreeSet<String> + Send + Sync>;

/// Checking every address a flood of log lines names would be a scan: cap it.
pub const MAX_DISCOVERED_UPSTREAMS: usize = 64;
