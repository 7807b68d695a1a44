//! The aggregate of every family: the exporter's own, each source's, registered once into
//! one registry at start-up. Used only by the runtime, the server and `main`; each source is
//! handed its own families and nothing else.

use crate::base::collector::CollectorMetrics;
use crate::base::exposition::{Format, encode_registry};
use crate::base::metrics::FGauge;
use crate::families;
use crate::logs::LogMetrics;
use crate::probe::ProbeMetrics;
use crate::workers::WorkerMetrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Unit;
use std::sync::Arc;

/// Every family the exporter writes, each source's behind its own struct.
pub struct Registry {
    registry: prometheus_client::registry::Registry,
    pub exporter: ExporterMetrics,
    pub collectors: CollectorMetrics,
    pub probes: Arc<ProbeMetrics>,
    pub logs: Arc<LogMetrics>,
    pub workers: Arc<WorkerMetrics>,
}

impl Registry {
    pub fn new() -> Self {
        let mut registry = prometheus_client::registry::Registry::default();
        crate::process::register(&mut registry); // process_*, unprefixed as in Go exporters
        let gateway = registry.sub_registry_with_prefix("gateway");
        let exporter = ExporterMetrics::register(gateway);
        exporter
            .build_info
            .get_or_create(&BuildLabels::current())
            .set(1);
        gateway.register(
            "lock_recoveries",
            "Locks recovered after a task panicked while holding them (the panic is logged once)",
            crate::base::lock::RECOVERIES.clone(),
        );
        let collectors = CollectorMetrics::register(gateway);
        let probes = Arc::new(ProbeMetrics::register(gateway));
        let logs = Arc::new(LogMetrics::register(gateway));
        let workers = Arc::new(WorkerMetrics::register(gateway));
        Registry {
            exporter,
            collectors,
            probes,
            logs,
            workers,
            registry,
        }
    }

    pub fn encode(&self, format: Format) -> String {
        encode_registry(&self.registry, format)
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: String,
    pub revision: String,
    pub rustversion: String,
}

impl BuildLabels {
    /// What this binary was built from (set at build time; `unknown` when not told).
    fn current() -> BuildLabels {
        BuildLabels {
            version: env!("CARGO_PKG_VERSION").into(),
            revision: option_env!("GATEWAY_EXPORTER_REVISION")
                .unwrap_or("unknown")
                .into(),
            rustversion: option_env!("GATEWAY_EXPORTER_RUSTC")
                .unwrap_or("unknown")
                .into(),
        }
    }
}

families! {
    /// The exporter's own health, the node_exporter way.
    pub struct ExporterMetrics {
        build_info: Family<BuildLabels, Gauge> = ("build_info", None,
            "A metric with a constant '1' value labelled by version and revision of gateway-exporter"),
        reload_successful: Gauge = ("config_last_reload_successful", None,
            "Whether the last configuration reload attempt was successful"),
        reload_success_timestamp: FGauge = ("config_last_reload_success_timestamp", Some(Unit::Seconds),
            "Timestamp of the last successful configuration load"),
        reloads: Counter = ("config_reloads", None, "Configuration reload attempts"),
        reload_failures: Counter = ("config_reload_failures", None,
            "Configuration reload attempts refused because the new config was invalid"),
    }
}
