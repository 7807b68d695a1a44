//! HTTP surface: `/metrics`, `/probe`, `/-/healthy`, `/-/ready`, `/-/reload`, `/`, and the
//! diagnosis pages (`/diagnose`, `/runbooks/...`: [`crate::diagnose::pages`]).

use crate::base::exposition::Format;
use crate::diagnose::pages::{Pages, debug_text};
use crate::runtime::Runtime;
use crate::web::WebState;
use crate::web::checks;
use crate::web::limits::{RateLimit, RequestLimit, SingleFlight};
use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// A reload re-reads files and restarts sources: one per second is plenty, and a page
/// that fires them in a loop must not keep the exporter reloading.
const RELOAD_PERIOD: Duration = Duration::from_secs(1);

#[derive(Clone)]
struct AppState {
    runtime: Arc<Runtime>,
    diagnose: Arc<Pages>,
    web: Arc<WebState>,
    telemetry_path: String,
    max_requests: usize,
    metrics_limit: RequestLimit,
    probe_limit: RequestLimit,
    collection: Arc<SingleFlight>,
    reloads: Arc<RateLimit>,
}

/// The routes behind the web config's authentication and headers. `max_requests` bounds
/// `/metrics` and `/probe` each (0: no bound). A bad telemetry path is an error.
pub fn router(
    runtime: Arc<Runtime>,
    web: Arc<WebState>,
    telemetry_path: &str,
    max_requests: usize,
) -> Result<Router, String> {
    checks::telemetry_path(telemetry_path)?;
    let diagnose = Pages::new(runtime.clone());
    let state = AppState {
        runtime,
        diagnose: diagnose.clone(),
        web: web.clone(),
        telemetry_path: telemetry_path.to_string(),
        max_requests,
        metrics_limit: RequestLimit::new(max_requests),
        probe_limit: RequestLimit::new(max_requests),
        collection: Arc::new(SingleFlight::default()),
        reloads: Arc::new(RateLimit::new(RELOAD_PERIOD)),
    };
    Ok(Router::new()
        .route("/", get(landing))
        .route(telemetry_path, get(metrics))
        .route("/probe", get(probe))
        .route("/-/healthy", get(|| async { "Healthy.\n" }))
        .route("/-/ready", get(|| async { "Ready.\n" }))
        .route("/-/reload", post(reload))
        .merge(crate::diagnose::pages::router(diagnose))
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(web, guard)))
}

/// Every route: basic auth when the web config has users, then its response headers.
async fn guard(State(web): State<Arc<WebState>>, request: Request, next: Next) -> Response {
    let active = web.active();
    let mut response = match &active.auth {
        Some(auth)
            if !auth
                .allows(request.headers().get(header::AUTHORIZATION))
                .await =>
        {
            (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Basic")],
                "Unauthorized\n",
            )
                .into_response()
        }
        _ => next.run(request).await,
    };
    for (name, value) in &active.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

fn too_busy(state: &AppState, route: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "too many {route} requests at once (--web.max-requests {}); retry later\n",
            state.max_requests
        ),
    )
        .into_response()
}

async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(_admitted) = state.metrics_limit.try_admit() else {
        return too_busy(&state, "metrics");
    };
    // Overlapping scrapes share one collection: N scrapes are not N status requests.
    let runtime = state.runtime.clone();
    state
        .collection
        .run(async move {
            crate::base::collector::execute(&runtime.collectors(), &runtime.registry.collectors)
                .await
        })
        .await;
    let format = Format::from_accept(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let body = state.runtime.registry.encode(format);
    ([(header::CONTENT_TYPE, format.content_type())], body).into_response()
}

async fn probe(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let scrape_timeout = match checks::scrape_timeout(&headers) {
        Ok(timeout) => timeout,
        Err(message) => return (StatusCode::BAD_REQUEST, format!("{message}\n")).into_response(),
    };
    let Some(_admitted) = state.probe_limit.try_admit() else {
        return too_busy(&state, "probe");
    };
    let format = Format::from_accept(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let config = state.runtime.config();
    let (answer, trace) = crate::probe::http::traced(crate::probe::blackbox::handle(
        &config.modules,
        &config.probe_endpoint,
        &params,
        scrape_timeout,
        format,
    ))
    .await;
    let target = params.get("target").map_or("", String::as_str);
    state.diagnose.record(target, &trace);
    match answer {
        // blackbox_exporter's `debug=true`: the probe's own log, then the metrics, as text.
        Ok(body) if params.get("debug").is_some_and(|d| d == "true") => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            debug_text(&trace, &body),
        )
            .into_response(),
        Ok(body) => ([(header::CONTENT_TYPE, format.content_type())], body).into_response(),
        Err((status, message)) => (status, format!("{message}\n")).into_response(),
    }
}

/// Re-read the web config and the config; either refused leaves both as they were.
pub async fn reload_all(runtime: Arc<Runtime>, web: Arc<WebState>) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || runtime.reload_with(|| web.reload())).await?
}

async fn reload(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(why) = checks::cross_site(&headers) {
        return (
            StatusCode::FORBIDDEN,
            format!("cross-site reload refused: {why}\n"),
        )
            .into_response();
    }
    if let Err(wait) = state.reloads.admit() {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "1")],
            format!("at most one reload per second; retry in {wait:.1?}\n"),
        )
            .into_response();
    }
    match reload_all(state.runtime.clone(), state.web.clone()).await {
        Ok(()) => (StatusCode::OK, "Reloaded.\n").into_response(),
        Err(e) => {
            tracing::error!("reload refused: {e:#}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("failed to reload config: {e:#}\n"),
            )
                .into_response()
        }
    }
}

pub fn escape_html(text: &str) -> String {
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
         <li><a href=\"/-/healthy\">Health</a></li><li><a href=\"/-/ready\">Readiness</a></li>\
         <li><a href=\"/diagnose\">Diagnosis</a></li><li><a href=\"/runbooks\">Runbooks</a></li></ul>\n\
         <h2>Watching</h2><table border=\"1\"><tr><th>source</th><th>name / kind</th><th>what</th></tr>\n{rows}</table>\n\
         <h2>/probe modules</h2><p>{modules}</p>\n\
         <form action=\"/probe\"><input name=\"target\" placeholder=\"http://127.0.0.1/\"> \
         <input name=\"module\" value=\"http_2xx\"> <input type=\"submit\" value=\"Probe\"></form>\n\
         {recent}</body></html>\n",
        version = env!("CARGO_PKG_VERSION"),
        modules = modules.join(", "),
        recent = state.diagnose.recent_html(),
    ))
}
