//! The blackbox_exporter-compatible `/probe` endpoint.

use crate::config::Config;
use crate::metrics::Format;
use axum::http::StatusCode;
use std::collections::HashMap;

pub async fn handle(
    _config: &Config,
    _params: &HashMap<String, String>,
    _scrape_timeout: Option<f64>,
    _format: Format,
) -> Result<String, (StatusCode, String)> {
    Err((StatusCode::NOT_IMPLEMENTED, "not yet".into()))
}
