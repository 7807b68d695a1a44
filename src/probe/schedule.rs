//! Runs the configured `probes:` on their own intervals: the public URL and, when an
//! `origin` is set, the same request sent straight to the origin, side by side.

use super::config::{HttpSettings, ProbeConfig};
use super::http::{Target, probe};
use super::metrics::{InfoLabels, TargetLabels};
use super::{PathKind, ProbeMetrics};
use crate::base::net::parse_host_port;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Start one task per probe; the caller aborts them when the config changes.
pub fn start(probes: &[ProbeConfig], metrics: &Arc<ProbeMetrics>) -> Vec<JoinHandle<()>> {
    probes
        .iter()
        .enumerate()
        .map(|(i, probe_config)| {
            metrics.activate(&probe_config.name);
            let f = &metrics.families;
            f.info.get_or_create(&info_labels(probe_config)).set(1);
            f.timeout
                .get_or_create(&TargetLabels {
                    target: probe_config.name.clone(),
                })
                .set(probe_config.timeout.as_secs_f64());
            let probe_config = probe_config.clone();
            let metrics = metrics.clone();
            // Spread the first runs so many probes do not fire in the same instant.
            let offset = Duration::from_millis((i as u64 * 97) % 1000);
            tokio::spawn(async move { run(probe_config, metrics, offset).await })
        })
        .collect()
}

fn info_labels(p: &ProbeConfig) -> InfoLabels {
    InfoLabels {
        target: p.name.clone(),
        url: p.url.clone(),
        origin: p.origin.clone().unwrap_or_default(),
        vhost: p.vhost(),
    }
}

async fn run(config: ProbeConfig, metrics: Arc<ProbeMetrics>, offset: Duration) {
    let Ok(url) = url::Url::parse(&config.url) else {
        return;
    }; // validated at load
    let public = Target {
        url: url.clone(),
        connect_to: None,
        host_override: host_header(&config.http),
    };
    let origin = config.origin.as_deref().and_then(|o| {
        let default_port = url.port_or_known_default().unwrap_or(80);
        parse_host_port(o, default_port).ok().map(|addr| Target {
            url: url.clone(),
            connect_to: Some(addr),
            host_override: host_header(&config.http),
        })
    });
    tokio::time::sleep(offset).await;
    let mut ticker = tokio::time::interval(config.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let public_run = probe(&public, &config.http, config.timeout);
        let (public_outcome, origin_outcome) = match &origin {
            Some(o) => {
                let (p, o) = tokio::join!(public_run, probe(o, &config.http, config.timeout));
                (p, Some(o))
            }
            None => (public_run.await, None),
        };
        metrics.record(&config.name, PathKind::Public, &public_outcome);
        if let Some(o) = origin_outcome {
            metrics.record(&config.name, PathKind::Origin, &o);
        }
        tracing::debug!(target = %config.name, status = public_outcome.status, reason = ?public_outcome.reason, app_cause = ?public_outcome.app_cause, "probed");
    }
}

/// A configured `Host` header names the site (auto-detected sites are probed through
/// loopback this way): the prober sends it instead of the URL's host.
fn host_header(http: &HttpSettings) -> Option<String> {
    let mut headers = http.headers.iter();
    headers
        .find(|(name, _)| name.eq_ignore_ascii_case("host"))
        .map(|(_, value)| value.clone())
}

/// Drop the series of probes that a new config no longer has (or has changed).
pub fn forget_removed(old: &[ProbeConfig], new: &[ProbeConfig], metrics: &ProbeMetrics) {
    for p in old {
        let kept = new.iter().any(|n| info_labels(n) == info_labels(p));
        if !kept {
            metrics.forget(&p.name, &info_labels(p));
        }
    }
}
