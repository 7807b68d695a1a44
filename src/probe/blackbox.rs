//! The blackbox_exporter-compatible `/probe` endpoint: same parameters (`target`,
//! `module`, `hostname`), same metric names, a fresh registry per request, plus the
//! failure reason and the layer/vendor of the error that blackbox cannot give.

use super::config::HttpSettings;
use super::config::{ProbeEndpointConfig, ProbeModule};
use super::http::{Outcome, Reason, Target, headers_pass, probe_within, verdict};
use crate::base::exposition::{Format, encode_registry};
use crate::base::metrics::FGauge;
use axum::http::StatusCode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// Blackbox subtracts this from Prometheus' scrape timeout so the answer arrives in time.
const SCRAPE_TIMEOUT_OFFSET: f64 = 0.5;
const DEFAULT_MODULE: &str = "http_2xx";
const BLACKBOX_IP_PROTOCOL: &str = "ip6";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabel {
    phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    reason: String,
    layer: String,
    vendor: String,
}

/// Parse and authorise a `/probe` request, run it, and encode the result.
pub async fn handle(
    modules: &BTreeMap<String, ProbeModule>,
    endpoint: &ProbeEndpointConfig,
    params: &HashMap<String, String>,
    scrape_timeout: Option<f64>,
    format: Format,
) -> Result<String, (StatusCode, String)> {
    let bad = |m: String| (StatusCode::BAD_REQUEST, m);
    let module_name = params
        .get("module")
        .map(String::as_str)
        .unwrap_or(DEFAULT_MODULE);
    let module = modules
        .get(module_name)
        .ok_or_else(|| bad(format!("Unknown module {module_name:?}")))?;
    let raw_target = params
        .get("target")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| bad("Target parameter is missing".into()))?;
    // Blackbox accepts a bare host for the http prober and assumes http://.
    let with_scheme = if raw_target.contains("://") {
        raw_target.clone()
    } else {
        format!("http://{raw_target}")
    };
    let url = url::Url::parse(&with_scheme)
        .map_err(|e| bad(format!("Invalid target {raw_target:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(format!(
            "Invalid target {raw_target:?}: only http and https are probed"
        )));
    }
    let host = url
        .host_str()
        .ok_or_else(|| bad(format!("Invalid target {raw_target:?}: no host")))?;
    if !endpoint.allows(host) {
        return Err((
            StatusCode::FORBIDDEN,
            format!(
                "Target host {host:?} is not allowed: add it (or a pattern such as \"*.example.com\", or \"*\" for any host; \
                 link-local and cloud-metadata addresses only by their exact address) to probe_endpoint.allowed_targets in the config"
            ),
        ));
    }
    let host_override = params.get("hostname").filter(|h| !h.is_empty()).cloned();
    if let Some(h) = &host_override
        && (hyper::header::HeaderValue::from_str(h).is_err() || h.contains(['/', ' ']))
    {
        return Err(bad(format!("Invalid hostname {h:?}")));
    }
    let timeout = effective_timeout(module.timeout, scrape_timeout);
    let target = Target {
        url,
        connect_to: None,
        host_override,
    };
    let mut http = module.http.clone();
    // blackbox prefers IPv6 unless the module says otherwise (the scheduled probes, IPv4).
    http.preferred_ip_protocol
        .get_or_insert_with(|| BLACKBOX_IP_PROTOCOL.into());
    let outcome = probe_within(&target, &http, timeout, Some(endpoint)).await;
    Ok(encode_outcome(&as_blackbox_judges(outcome, &http), format))
}

/// blackbox's verdict where it departs from ours. On a redirect it did not follow (with
/// `follow_redirects: false`, or past the limit of a loop) Go hands back that response with
/// its body already closed, so blackbox judges it without a body (a loop whose 3xx is a
/// valid code succeeds) and its body regexps always fail. A body longer than a module's own
/// `body_size_limit` fails, where we just stop reading. The scheduled probes keep our
/// verdict; `/probe` reports blackbox's so the same alerts fire.
fn as_blackbox_judges(mut o: Outcome, http: &HttpSettings) -> Outcome {
    let unfollowed =
        (!http.follow_redirects && o.redirects > 0) || o.reason == Some(Reason::TooManyRedirects);
    let over_limit = http
        .body_size_limit
        .is_some_and(|limit| o.body_length > limit);
    let body_failure = if unfollowed {
        http.checks_body().then_some((Reason::BodyMismatch, true))
    } else if over_limit {
        Some((Reason::BodyTooLarge, http.checks_body()))
    } else {
        return o;
    };
    let (reason, failed_due_to_regex) = verdict(
        http,
        o.status,
        o.tls,
        || headers_pass(&o.headers, http),
        || body_failure,
    );
    // A loop that fails keeps naming the loop rather than the 3xx it ended on.
    if reason.is_none() || o.reason != Some(Reason::TooManyRedirects) {
        o.reason = reason;
    }
    o.failed_due_to_regex = failed_due_to_regex;
    o
}

/// The module timeout, shortened to fit Prometheus' scrape timeout when it tells us one.
fn effective_timeout(module: Duration, scrape_timeout: Option<f64>) -> Duration {
    match scrape_timeout {
        Some(s) if s.is_finite() && s - SCRAPE_TIMEOUT_OFFSET > 0.0 => {
            module.min(Duration::from_secs_f64(s - SCRAPE_TIMEOUT_OFFSET))
        }
        _ => module,
    }
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: f64) {
    let g = FGauge::default();
    g.set(value);
    registry.register(name, help, g);
}

fn encode_outcome(o: &Outcome, format: Format) -> String {
    let mut r = Registry::default();
    let phases = Family::<PhaseLabel, FGauge>::default();
    for (phase, took) in o.phases.named() {
        phases
            .get_or_create(&PhaseLabel {
                phase: phase.into(),
            })
            .set(took.as_secs_f64());
    }
    r.register_with_unit(
        "probe_http_duration",
        "Duration of http request by phase, summed over all redirects",
        Unit::Seconds,
        phases,
    );
    r.register_with_unit(
        "probe_dns_lookup_time",
        "Returns the time taken for probe dns lookup in seconds",
        Unit::Seconds,
        {
            let g = FGauge::default();
            g.set(o.phases.resolve.as_secs_f64());
            g
        },
    );
    gauge(
        &mut r,
        "probe_http_status_code",
        "Response HTTP status code",
        f64::from(o.status),
    );
    gauge(
        &mut r,
        "probe_http_content_length",
        "Length of http content response",
        o.content_length.map_or(-1.0, |l| l as f64),
    );
    gauge(
        &mut r,
        "probe_http_uncompressed_body_length",
        "Length of uncompressed response body",
        o.body_length as f64,
    );
    gauge(
        &mut r,
        "probe_http_redirects",
        "The number of redirects",
        o.redirects as f64,
    );
    gauge(
        &mut r,
        "probe_http_ssl",
        "Indicates if SSL was used for the final redirect",
        if o.tls { 1.0 } else { 0.0 },
    );
    gauge(
        &mut r,
        "probe_http_version",
        "Returns the version of HTTP of the probe response",
        o.http_version,
    );
    gauge(
        &mut r,
        "probe_failed_due_to_regex",
        "Indicates if probe failed due to regex",
        if o.failed_due_to_regex { 1.0 } else { 0.0 },
    );
    let ip_protocol = match o.ip {
        Some(std::net::IpAddr::V4(_)) => 4.0,
        Some(std::net::IpAddr::V6(_)) => 6.0,
        None => 0.0,
    };
    gauge(
        &mut r,
        "probe_ip_protocol",
        "Specifies whether probe ip protocol is IP4 or IP6",
        ip_protocol,
    );
    if let Some(expiry) = o.cert_expiry {
        gauge(
            &mut r,
            "probe_ssl_earliest_cert_expiry",
            "Returns last SSL chain expiry in unixtime",
            expiry as f64,
        );
    }
    if let Some(version) = o.tls_version {
        let info = Family::<VersionLabel, Gauge>::default();
        info.get_or_create(&VersionLabel {
            version: version.into(),
        })
        .set(1);
        r.register(
            "probe_tls_version_info",
            "Returns the TLS version used or NaN when unknown",
            info,
        );
    }
    if let Some(reason) = o.reason {
        let failure = Family::<FailureLabels, Gauge>::default();
        failure
            .get_or_create(&FailureLabels {
                reason: reason.as_str().into(),
                layer: o.fingerprint.layer.as_str().into(),
                vendor: o.fingerprint.vendor.as_str().into(),
            })
            .set(1);
        r.register(
            "probe_failure_info",
            "Why the probe failed, and which layer and vendor generated the error",
            failure,
        );
    }
    r.register_with_unit(
        "probe_duration",
        "Returns how long the probe took to complete in seconds",
        Unit::Seconds,
        {
            let g = FGauge::default();
            g.set(o.duration.as_secs_f64());
            g
        },
    );
    gauge(
        &mut r,
        "probe_success",
        "Displays whether or not the probe was a success",
        if o.success() { 1.0 } else { 0.0 },
    );
    if let Some(cause) = o.app_cause {
        let named = Family::<AppCauseLabel, Gauge>::default();
        named
            .get_or_create(&AppCauseLabel {
                cause: cause.as_str().into(),
            })
            .set(1);
        r.register(
            "probe_app_cause_info",
            "What the failing page says went wrong in the app",
            named,
        );
    }
    encode_registry(&r, format)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AppCauseLabel {
    cause: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modules() -> BTreeMap<String, ProbeModule> {
        serde_saphyr::from_str("http_2xx: {prober: http, timeout: 3s}\n").unwrap()
    }

    async fn call(params: &[(&str, &str)]) -> Result<String, (StatusCode, String)> {
        let params = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let endpoint = ProbeEndpointConfig {
            allowed_targets: vec!["127.0.0.1".into()],
        };
        handle(&modules(), &endpoint, &params, None, Format::Text004).await
    }

    #[tokio::test]
    async fn refuses_bad_requests_with_clear_messages() {
        type Row<'a> = (&'a [(&'a str, &'a str)], StatusCode, &'a str);
        let table: &[Row] = &[
            (&[], StatusCode::BAD_REQUEST, "Target parameter is missing"),
            (
                &[("target", "http://127.0.0.1/"), ("module", "nope")],
                StatusCode::BAD_REQUEST,
                "Unknown module",
            ),
            (
                &[("target", "http://[::1")],
                StatusCode::BAD_REQUEST,
                "Invalid target",
            ),
            (
                &[("target", "ftp://127.0.0.1/")],
                StatusCode::BAD_REQUEST,
                "only http and https",
            ),
            (
                &[("target", "http://169.254.169.254/latest/meta-data/")],
                StatusCode::FORBIDDEN,
                "not allowed",
            ),
            (
                &[("target", "http://127.0.0.1.evil.com/")],
                StatusCode::FORBIDDEN,
                "not allowed",
            ),
            (
                &[("target", "http://127.0.0.1/"), ("hostname", "a b")],
                StatusCode::BAD_REQUEST,
                "Invalid hostname",
            ),
        ];
        for (params, status, text) in table {
            let (got, message) = call(params).await.unwrap_err();
            assert_eq!(got, *status, "{params:?}");
            assert!(message.contains(text), "{params:?}: {message}");
        }
    }

    #[test]
    fn scrape_timeout_header_shortens_the_module_timeout() {
        let module = Duration::from_secs(5);
        assert_eq!(
            effective_timeout(module, Some(3.0)),
            Duration::from_millis(2500)
        );
        assert_eq!(effective_timeout(module, Some(10.0)), module);
        assert_eq!(effective_timeout(module, Some(0.2)), module);
        assert_eq!(effective_timeout(module, None), module);
        assert_eq!(effective_timeout(module, Some(f64::NAN)), module);
    }
}
