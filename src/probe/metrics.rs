//! The families of the scheduled probes, and the bookkeeping that lets a removed target's
//! series all be dropped.

use super::PathKind;
use super::http::Outcome;
use crate::base::lock::lock;
use crate::base::metrics::FGauge;
use crate::families;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProbeLabels {
    pub target: String,
    pub path: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TargetLabels {
    pub target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InfoLabels {
    pub target: String,
    pub url: String,
    pub origin: String,
    pub vhost: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub target: String,
    pub path: String,
    pub phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabels {
    pub target: String,
    pub path: String,
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    pub target: String,
    pub path: String,
    pub reason: String,
    pub layer: String,
    pub vendor: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureInfoLabels {
    pub target: String,
    pub path: String,
    pub reason: String,
    pub layer: String,
    pub vendor: String,
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AppCauseLabels {
    pub target: String,
    pub path: String,
    pub cause: String,
}

/// Label sets created per target, so a removed target's series can all be dropped.
#[derive(Default)]
struct Seen {
    codes: HashSet<CodeLabels>,
    failures: HashSet<FailureLabels>,
    failure_info: HashMap<String, FailureInfoLabels>,
    /// The app cause each path's last probe named, by path.
    app_cause: HashMap<String, AppCauseLabels>,
}

families! {
    /// The families of the scheduled probes (docs/metrics.md, "Probes").
    pub struct ProbeFamilies {
        info: Family<InfoLabels, Gauge> = ("probe_info", None,
            "Constant 1 per configured probe, with its URL, origin and vhost"),
        timeout: Family<TargetLabels, FGauge> = ("probe_timeout", Some(Unit::Seconds),
            "The probe's configured timeout, so alerts can say how close to it a probe came"),
        cert_expiry: Family<ProbeLabels, FGauge> = ("probe_cert_expiry_timestamp", Some(Unit::Seconds),
            "Earliest notAfter of the TLS certificates the target presented on its last probe"),
        success: Family<ProbeLabels, Gauge> = ("probe_success", None,
            "Whether the last probe of the target passed"),
        status_code: Family<ProbeLabels, Gauge> = ("probe_http_status_code", None,
            "Status code of the last probe's final response, 0 when none arrived"),
        duration: Family<ProbeLabels, FGauge> = ("probe_duration", Some(Unit::Seconds),
            "Total duration of the last probe"),
        phase_duration: Family<PhaseLabels, FGauge> = ("probe_http_duration", Some(Unit::Seconds),
            "Duration of each phase of the last probe: resolve, connect, tls, processing, transfer"),
        probes: Family<ProbeLabels, Counter> = ("probes", None, "Probes run"),
        responses: Family<CodeLabels, Counter> = ("probe_responses", None,
            "Probe responses by status code (0: no response), for rates over windows"),
        failures: Family<FailureLabels, Counter> = ("probe_failures", None,
            "Failed probes by reason and by the layer and vendor that generated the error"),
        failure_info: Family<FailureInfoLabels, Gauge> = ("probe_failure_info", None,
            "Present with value 1 while the last probe failed: why, and who generated the error"),
        app_cause_info: Family<AppCauseLabels, Gauge> = ("probe_app_cause_info", None,
            "Present with value 1 while the last probe's failing page names an app cause (database, memory_exhausted, ...)"),
    }
}

/// The probe families, and which label sets each target created so they can be dropped.
pub struct ProbeMetrics {
    pub families: ProbeFamilies,
    seen: Mutex<HashMap<String, Seen>>,
}

impl ProbeMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        ProbeMetrics {
            families: ProbeFamilies::register(registry),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Record one probe of `target` over `path`.
    /// A target starts: its results are recorded until [`ProbeMetrics::forget`].
    pub fn activate(&self, target: &str) {
        lock(&self.seen, "probe series")
            .entry(target.to_string())
            .or_default();
    }

    /// Record one probe of `target` over `path`. A result that arrives after the target was
    /// forgotten (a probe still running while a reload removed it) is dropped: the lock
    /// orders it with `forget`, so a removed target never comes back.
    pub fn record(&self, target: &str, path: PathKind, outcome: &Outcome) {
        let mut seen = lock(&self.seen, "probe series");
        let Some(seen) = seen.get_mut(target) else {
            return;
        };
        let f = &self.families;
        let labels = ProbeLabels {
            target: target.into(),
            path: path.as_str().into(),
        };
        f.probes.get_or_create(&labels).inc();
        f.success
            .get_or_create(&labels)
            .set(i64::from(outcome.success()));
        f.status_code
            .get_or_create(&labels)
            .set(i64::from(outcome.status));
        f.duration
            .get_or_create(&labels)
            .set(outcome.duration.as_secs_f64());
        match outcome.cert_expiry {
            Some(expiry) => {
                f.cert_expiry.get_or_create(&labels).set(expiry as f64);
            }
            None => {
                f.cert_expiry.remove(&labels);
            }
        }
        for (phase, took) in outcome.phases.named() {
            let phase_labels = PhaseLabels {
                target: target.into(),
                path: labels.path.clone(),
                phase: phase.into(),
            };
            f.phase_duration
                .get_or_create(&phase_labels)
                .set(took.as_secs_f64());
        }
        let code = CodeLabels {
            target: target.into(),
            path: labels.path.clone(),
            code: outcome.status.to_string(),
        };
        f.responses.get_or_create(&code).inc();

        seen.codes.insert(code);
        let previous = seen.failure_info.remove(labels.path.as_str());
        let current = outcome.reason.map(|reason| FailureInfoLabels {
            target: target.into(),
            path: labels.path.clone(),
            reason: reason.as_str().into(),
            layer: outcome.fingerprint.layer.as_str().into(),
            vendor: outcome.fingerprint.vendor.as_str().into(),
            code: outcome.status.to_string(),
        });
        if let Some(prev) = previous
            && Some(&prev) != current.as_ref()
        {
            f.failure_info.remove(&prev);
        }
        let app_cause = outcome.app_cause.map(|cause| AppCauseLabels {
            target: target.into(),
            path: labels.path.clone(),
            cause: cause.as_str().into(),
        });
        if let Some(prev) = seen.app_cause.remove(labels.path.as_str())
            && Some(&prev) != app_cause.as_ref()
        {
            f.app_cause_info.remove(&prev);
        }
        if let Some(named) = app_cause {
            f.app_cause_info.get_or_create(&named).set(1);
            seen.app_cause.insert(labels.path.clone(), named);
        }
        if let Some(info) = current {
            let failure = FailureLabels {
                target: info.target.clone(),
                path: info.path.clone(),
                reason: info.reason.clone(),
                layer: info.layer.clone(),
                vendor: info.vendor.clone(),
            };
            f.failures.get_or_create(&failure).inc();
            seen.failures.insert(failure);
            f.failure_info.get_or_create(&info).set(1);
            seen.failure_info.insert(labels.path.clone(), info);
        }
    }

    /// Drop every series of a target that is no longer configured.
    pub fn forget(&self, target: &str, info: &InfoLabels) {
        // Held throughout, so a late `record` either ran before or finds no target.
        let mut seen = lock(&self.seen, "probe series");
        let f = &self.families;
        f.info.remove(info);
        f.timeout.remove(&TargetLabels {
            target: target.into(),
        });
        for path in [PathKind::Public, PathKind::Origin] {
            let labels = ProbeLabels {
                target: target.into(),
                path: path.as_str().into(),
            };
            for family in [&f.success, &f.status_code] {
                family.remove(&labels);
            }
            f.duration.remove(&labels);
            f.cert_expiry.remove(&labels);
            f.probes.remove(&labels);
            for (phase, _) in super::http::Phases::default().named() {
                f.phase_duration.remove(&PhaseLabels {
                    target: target.into(),
                    path: labels.path.clone(),
                    phase: phase.into(),
                });
            }
        }
        if let Some(seen) = seen.remove(target) {
            for code in &seen.codes {
                f.responses.remove(code);
            }
            for failure in &seen.failures {
                f.failures.remove(failure);
            }
            for info in seen.failure_info.values() {
                f.failure_info.remove(info);
            }
            for named in seen.app_cause.values() {
                f.app_cause_info.remove(named);
            }
        }
    }
}
