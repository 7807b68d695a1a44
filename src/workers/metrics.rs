//! The worker families (docs/metrics.md, "Workers"), registered once, and the helpers that
//! write a series only while its value is known.

use super::address::DownReason;
use crate::base::metrics::FGauge;
use crate::families;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Unit;
use std::sync::atomic::Ordering;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    pub pool: String,
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolStateLabels {
    pub pool: String,
    pub kind: String,
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolReasonLabels {
    pub pool: String,
    pub kind: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolSourceLabels {
    pub pool: String,
    pub kind: String,
    pub source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabels {
    pub upstream: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamReasonLabels {
    pub upstream: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PathLabels {
    pub path: String,
}

pub const ALL_REASONS: [DownReason; 9] = [
    DownReason::ConnectRefused,
    DownReason::SocketMissing,
    DownReason::SocketPermission,
    DownReason::BacklogFull,
    DownReason::ConnectTimeout,
    DownReason::Timeout,
    DownReason::AccessDenied,
    DownReason::HttpStatus,
    DownReason::InvalidResponse,
];

/// Where a pool's limit came from: the `source` label of `gateway_workers_limit_info`.
pub const LIMIT_SOURCES: [&str; 3] = ["status", "config_file", "exporter_config"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MaintenanceLabels {
    pub path: String,
    pub vhost: String,
    pub target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolUpstreamLabels {
    pub pool: String,
    pub kind: String,
    pub upstream: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamInfoLabels {
    pub upstream: String,
    pub address: String,
    pub group: String,
}

families! {
    /// The worker families, registered once.
    pub struct WorkerMetrics {
        info: Family<PoolUpstreamLabels, Gauge> = ("worker_info", None,
            "Constant 1 per pool with a listen socket: the socket as the web server's logs name the upstream"),
        up: Family<PoolLabels, Gauge> = ("worker_up", None,
            "1 when the worker pool's status scrape worked"),
        down: Family<PoolReasonLabels, Gauge> = ("worker_down_info", None,
            "1 while the worker pool's status scrape fails, with the reason"),
        workers: Family<PoolStateLabels, Gauge> = ("workers", None,
            "Workers of the pool by state (active, idle)"),
        inferred: Family<PoolLabels, Gauge> = ("workers_inferred", None,
            "1 when the worker counts are inferred (the status request timed out with requests queued: every worker busy), 0 when read from the status page"),
        limit: Family<PoolLabels, Gauge> = ("workers_limit", None,
            "The most workers (or connections) the pool can have"),
        limit_info: Family<PoolSourceLabels, Gauge> = ("workers_limit_info", None,
            "Where the pool's limit came from (status, config_file, exporter_config)"),
        queue: Family<PoolLabels, Gauge> = ("worker_queue", None,
            "Requests waiting to be accepted by the pool"),
        queue_limit: Family<PoolLabels, Gauge> = ("worker_queue_limit", None,
            "The pool's listen backlog limit"),
        limit_reached: Family<PoolLabels, Counter> = ("worker_limit_reached", None,
            "Times the pool hit its limit, as the server counts them"),
        slow_requests: Family<PoolLabels, Counter> = ("worker_slow_requests", None,
            "Slow requests, as the server counts them"),
        status_duration: Family<PoolLabels, FGauge> = ("worker_status_duration", Some(Unit::Seconds),
            "How long the pool's status scrape took (a stall is saturation)"),
        upstream_up: Family<UpstreamLabels, Gauge> = ("upstream_up", None,
            "1 when a connect to the upstream succeeded"),
        upstream_info: Family<UpstreamInfoLabels, Gauge> = ("upstream_info", None,
            "Constant 1 per configured upstream: its address and the group it belongs to"),
        upstream_down: Family<UpstreamReasonLabels, Gauge> = ("upstream_down_info", None,
            "1 while the upstream refuses connections, with the reason"),
        maintenance: Family<PathLabels, Gauge> = ("maintenance_mode", None,
            "1 while the maintenance flag file exists"),
        maintenance_info: Family<MaintenanceLabels, Gauge> = ("maintenance_info", None,
            "Constant 1 per maintenance flag file, with the vhost and probe target it belongs to"),
        maintenance_since: Family<PathLabels, FGauge> = ("maintenance_mode_since_timestamp", Some(Unit::Seconds),
            "When the maintenance flag file appeared (its modification time), while it exists"),
        maintenance_max_duration: Family<PathLabels, FGauge> = ("maintenance_max_duration", Some(Unit::Seconds),
            "How long the flag may stay on before it is a problem of its own (max_duration)"),
    }
}

impl WorkerMetrics {
    /// Forget every series: a new config starts from what its collectors find.
    pub fn clear(&self) {
        self.info.clear();
        self.up.clear();
        self.down.clear();
        self.workers.clear();
        self.inferred.clear();
        self.limit.clear();
        self.limit_info.clear();
        self.queue.clear();
        self.queue_limit.clear();
        self.limit_reached.clear();
        self.slow_requests.clear();
        self.status_duration.clear();
        self.upstream_up.clear();
        self.upstream_info.clear();
        self.upstream_down.clear();
        self.maintenance.clear();
        self.maintenance_info.clear();
        self.maintenance_since.clear();
        self.maintenance_max_duration.clear();
    }
}

/// Set a gauge to `value`, or drop its series while the value is unknown. A figure past
/// `i64::MAX` (a status page's counter near `u64::MAX`) saturates: a gauge is never negative.
pub fn set_opt<L: Clone + std::hash::Hash + Eq>(
    family: &Family<L, Gauge>,
    labels: &L,
    value: Option<u64>,
) {
    match value {
        Some(v) => {
            // A status page may claim anything: saturate, never wrap to a negative gauge.
            family
                .get_or_create(labels)
                .set(i64::try_from(v).unwrap_or(i64::MAX));
        }
        None => {
            family.remove(labels);
        }
    }
}

/// Mirror a counter the server keeps (it resets when the server restarts, like ours would).
pub fn mirror(family: &Family<PoolLabels, Counter>, labels: &PoolLabels, value: Option<u64>) {
    match value {
        Some(v) => family
            .get_or_create(labels)
            .inner()
            .store(v, Ordering::Relaxed),
        None => {
            family.remove(labels);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_figures_saturate_instead_of_turning_negative() {
        let family = Family::<PoolLabels, Gauge>::default();
        let labels = PoolLabels {
            pool: "www".into(),
            kind: "php_fpm".into(),
        };
        for (value, want) in [(u64::MAX, i64::MAX), (1 << 63, i64::MAX), (7, 7)] {
            set_opt(&family, &labels, Some(value));
            assert_eq!(family.get_or_create(&labels).get(), want, "{value}");
        }
        set_opt(&family, &labels, None);
        assert!(family.get(&labels).is_none());
    }
}
