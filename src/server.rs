//! HTTP surface: `/metrics`, `/probe`, `/-/healthy`, `/-/ready`, `/-/reload`, and `/`.

use crate::base::exposition::Format;
use crate::runtime::Runtime;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Clone)]
struct AppState {
    runtime: Arc<Runtime>,
    telemetry_path: String,
}

pub fn router(runtime: Arc<Runtime>, telemetry_path: &str) -> Router {
    let state = AppState {
        runtime,
        telemetry_path: telemetry_path.to_string(),
    };
    Router::new()
        .route("/", get(landing))
        .route(telemetry_path, get(metrics))
        .route("/probe", get(probe))
        .route("/-/healthy", get(|| async { "Healthy.\n" }))
        .route("/-/ready", get(|| async { "Ready.\n" }))
        .route("/-/reload", post(reload).put(reload))
        .with_state(state)
}

async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let runtime = &state.runtime;
    crate::base::collector::execute(&runtime.collectors(), &runtime.registry.collectors).await;
    let format = Format::from_accept(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let body = runtime.registry.encode(format);
    ([(header::CONTENT_TYPE, format.content_type())], body).into_response()
}

async fn probe(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let scrape_timeout = headers
        .get("X-Prometheus-Scrape-Timeout-Seconds")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<f64>().ok());
    let format = Format::from_accept(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let config = state.runtime.config();
    let answer = crate::probe::blackbox::handle(
        &config.modules,
        &config.probe_endpoint,
        &params,
        scrape_timeout,
        format,
    )
    .await;
    match answer {
        Ok(body) => ([(header::CONTENT_TYPE, format.content_type())], body).into_response(),
        Err((status, message)) => (status, format!("{message}\n")).into_response(),
    }
}

async fn reload(State(state): State<AppState>) -> Response {
    let runtime = state.runtime.clone();
    match tokio::task::spawn_blocking(move || runtime.reload()).await {
        Ok(Ok(())) => (StatusCode::OK, "Reloaded.\n").into_response(),
        Ok(Err(e)) => {
            tracing::error!("reload refused: {e:#}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("failed to reload config: {e:#}\n"),
            )
                .into_response()
        }
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reload task failed: {e}\n"),
        )
            .into_response(),
    }
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn landing(State(state): State<AppState>) -> Html<String> {
    let config = state.runtime.config();
    let mut rows = String::new();
    for p in &config.probes {
        rows.push_str(&format!(
            "<tr><td>probe</td><td>{}</td><td>{}{}</td></tr>\n",
            escape_html(&p.name),
            escape_html(&p.url),
            p.origin
                .as_deref()
                .map(|o| format!(" (origin {})", escape_html(o)))
                .unwrap_or_default()
        ));
    }
    for l in &config.logs {
        rows.push_str(&format!(
            "<tr><td>log</td><td>{}</td><td>{}</td></tr>\n",
            escape_html(&format!("{:?}", l.format)),
            escape_html(&l.path)
        ));
    }
    for w in &config.workers {
        rows.push_str(&format!(
            "<tr><td>workers</td><td>{}</td><td>{}</td></tr>\n",
            escape_html(&format!("{:?}", w.kind)),
            escape_html(&w.address)
        ));
    }
    for u in &config.upstreams {
        rows.push_str(&format!(
            "<tr><td>upstream</td><td></td><td>{}</td></tr>\n",
            escape_html(&u.address)
        ));
    }
    for m in &config.maintenance_files {
        rows.push_str(&format!(
            "<tr><td>maintenance flag</td><td>{}</td><td>{}</td></tr>\n",
            escape_html(
                m.vhost
                    .as_deref()
                    .or(m.target.as_deref())
                    .unwrap_or_default()
            ),
            escape_html(&m.path.display().to_string())
        ));
    }
    let modules: Vec<String> = config.modules.keys().map(|m| escape_html(m)).collect();
    let metrics_path = escape_html(&state.telemetry_path);
    Html(format!(
        "<!doctype html><html><head><title>gateway-exporter</title></head><body>\n\
         <h1>gateway-exporter {version}</h1>\n\
         <p>Tells which layer and which cause produced a 502, 503 or 504.</p>\n\
         <ul><li><a href=\"{metrics_path}\">Metrics</a></li>\
         <li><a href=\"/-/healthy\">Health</a></li><li><a href=\"/-/ready\">Readiness</a></li></ul>\n\
         <h2>Watching</h2><table border=\"1\"><tr><th>source</th><th>name / kind</th><th>what</th></tr>\n{rows}</table>\n\
         <h2>/probe modules</h2><p>{modules}</p>\n\
         <form action=\"/probe\"><input name=\"target\" placeholder=\"http://127.0.0.1/\"> \
         <input name=\"module\" value=\"http_2xx\"> <input type=\"submit\" value=\"Probe\"></form>\n\
         </body></html>\n",
        version = env!("CARGO_PKG_VERSION"),
        modules = modules.join(", "),
    ))
}
