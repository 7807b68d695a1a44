//! Scrape-time collectors, the node_exporter way: each runs on every `/metrics` request,
//! bounded by its own timeout, and the registry records its duration and success.

use futures::future::BoxFuture;

/// A source that refreshes its metric families when Prometheus scrapes us.
pub trait ScrapeCollector: Send + Sync {
    /// The `collector` label value in `gateway_scrape_collector_*`.
    fn name(&self) -> &str;
    /// Refresh the families this collector owns. An `Err` marks the scrape unsuccessful;
    /// it must never panic and must finish within its own configured bound.
    fn collect(&self) -> BoxFuture<'_, anyhow::Result<()>>;
}
