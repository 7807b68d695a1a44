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
pub mod db_detect;
mod detect;
mod fastcgi;
mod fetch;
mod masters;
pub mod metrics;
mod pool;
mod sockdiag;
mod status;

pub use address::{Down, DownReason, check_upstream};
pub use collectors::collectors;
pub use config::{MaintenanceFile, UpstreamConfig, WorkerConfig, WorkerKind, WorkerSections};
pub use detect::{detect, detect_databases};
pub use metrics::WorkerMetrics;

/// The pure parsers of this source for the fuzz targets (`fuzz/`) and the property tests:
/// not an API, kept out of the docs.
#[doc(hidden)]
pub mod fuzzing {
    pub use super::confs::{
        fpm_listen_address, parse_apache_limit, parse_fpm_pools, parse_nginx_limit,
    };
    pub use super::fastcgi::{CgiResponse, FastcgiError, parse_cgi};
    pub use super::sockdiag::{ListenAddr, Listener, parse_inet_msg, parse_unix_msg};
    pub use super::status::{PoolStatus, parse_apache, parse_fpm, parse_nginx, parse_uwsgi};

    /// The FastCGI record reader over `reply` held in memory (what the server sent back),
    /// collecting at most `cap` bytes.
    pub fn read_fastcgi_reply(reply: &[u8], cap: usize) -> Result<CgiResponse, FastcgiError> {
        use std::future::Future;
        use std::task::{Context, Poll, Waker};
        let mut stream = tokio::io::join(reply, tokio::io::sink());
        let exchange = super::fastcgi::exchange(&mut stream, "/status", "json", cap);
        // A slice and a sink are always ready: one poll runs the exchange to its end.
        match std::pin::pin!(exchange).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(result) => result,
            Poll::Pending => unreachable!("in-memory streams never wait"),
        }
    }
}

use std::sync::Arc;
use std::time::Duration;

/// How long a status scrape or connect may take unless the entry says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// Upstream addresses found elsewhere (the logs), read at each scrape.
pub type UpstreamSource = Arc<dyn Fn() -> std::collections::BTreeSet<String> + Send + Sync>;

/// Checking every address a flood of log lines names would be a scan: cap it.
pub const MAX_DISCOVERED_UPSTREAMS: usize = 64;
