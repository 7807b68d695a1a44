//! Scrape-time collectors, the node_exporter way: each runs on every `/metrics` request,
//! bounded by its own timeout; [`execute`] runs them side by side and records each one's
//! duration and success, as node_exporter keeps `execute()` beside its `Collector`.

use crate::base::metrics::FGauge;
use crate::families;
use futures::future::BoxFuture;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Unit;
use std::sync::Arc;
use std::time::Instant;

/// A source that refreshes its metric families when Prometheus scrapes us.
pub trait ScrapeCollector: Send + Sync {
    /// The `collector` label value in `gateway_scrape_collector_*`.
    fn name(&self) -> &str;
    /// Refresh the families this collector owns. An `Err` marks the scrape unsuccessful;
    /// it must never panic and must finish within its own configured bound.
    fn collect(&self) -> BoxFuture<'_, anyhow::Result<()>>;
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CollectorLabels {
    pub collector: String,
}

families! {
    /// How each collector did during the last scrape.
    pub struct CollectorMetrics {
        duration: Family<CollectorLabels, FGauge> = ("scrape_collector_duration", Some(Unit::Seconds),
            "Duration of a collector's refresh during the last scrape"),
        success: Family<CollectorLabels, Gauge> = ("scrape_collector_success", None,
            "Whether a collector's refresh succeeded during the last scrape (1) or failed (0)"),
    }
}

/// Run every collector concurrently; record each one's duration and success.
pub async fn execute(collectors: &[Arc<dyn ScrapeCollector>], metrics: &CollectorMetrics) {
    let runs = collectors.iter().map(|c| async move {
        let started = Instant::now();
        let result = c.collect().await;
        (c.name(), started.elapsed(), result)
    });
    for (name, took, result) in futures::future::join_all(runs).await {
        let labels = CollectorLabels {
            collector: name.to_string(),
        };
        metrics
            .duration
            .get_or_create(&labels)
            .set(took.as_secs_f64());
        metrics
            .success
            .get_or_create(&labels)
            .set(i64::from(result.is_ok()));
        if let Err(e) = result {
            tracing::warn!(collector = %name, "collector failed: {e:#}");
        }
    }
}
