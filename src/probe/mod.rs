//! Status-code probes that say which layer produced a 5xx.
//!
//! `http` makes one request with phase timings, `fingerprint` (pure) names the layer and
//! vendor behind an error response, `blackbox` serves `/probe`, and `schedule` runs the
//! configured `probes:` on their own intervals into [`ProbeMetrics`].

pub mod blackbox;
pub mod config;
pub mod fingerprint;
pub mod http;
pub mod schedule;
pub mod x509;

use crate::metrics::FGauge;
use http::Outcome;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// `public`: the URL as users reach it; `origin`: the same request sent to the origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PathKind {
    Public,
    Origin,
}

impl PathKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PathKind::Public => "public",
            PathKind::Origin => "origin",
        }
    }
}

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

/// Label sets created per target, so a removed target's series can all be dropped.
#[derive(Default)]
struct Seen {
    codes: HashSet<CodeLabels>,
    failures: HashSet<FailureLabels>,
    failure_info: HashMap<String, FailureInfoLabels>,
}

/// Families of the scheduled probes.
pub struct ProbeMetrics {
    pub info: Family<InfoLabels, Gauge>,
    pub timeout: Family<TargetLabels, FGauge>,
    pub cert_expiry: Family<ProbeLabels, FGauge>,
    pub success: Family<ProbeLabels, Gauge>,
    pub status_code: Family<ProbeLabels, Gauge>,
    pub duration: Family<ProbeLabels, FGauge>,
    pub phase_duration: Family<PhaseLabels, FGauge>,
    pub probes: Family<ProbeLabels, Counter>,
    pub responses: Family<CodeLabels, Counter>,
    pub failures: Family<FailureLabels, Counter>,
    pub failure_info: Family<FailureInfoLabels, Gauge>,
    seen: Mutex<HashMap<String, Seen>>,
}

impl ProbeMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = ProbeMetrics {
            info: Family::default(),
            timeout: Family::default(),
            cert_expiry: Family::default(),
            success: Family::default(),
            status_code: Family::default(),
            duration: Family::default(),
            phase_duration: Family::default(),
            probes: Family::default(),
            responses: Family::default(),
            failures: Family::default(),
            failure_info: Family::default(),
            seen: Mutex::new(HashMap::new()),
        };
        registry.register(
            "probe_info",
            "Constant 1 per configured probe, with its URL and origin",
            m.info.clone(),
        );
        registry.register_with_unit(
            "probe_timeout",
            "The probe's configured timeout, so alerts can say how close to it a probe came",
            Unit::Seconds,
            m.timeout.clone(),
        );
        registry.register_with_unit(
            "probe_cert_expiry_timestamp",
            "Earliest notAfter of the TLS certificates the target presented on its last probe",
            Unit::Seconds,
            m.cert_expiry.clone(),
        );
        registry.register(
            "probe_success",
            "Whether the last probe of the target passed",
            m.success.clone(),
        );
        registry.register(
            "probe_http_status_code",
            "Status code of the last probe's final response, 0 when none arrived",
            m.status_code.clone(),
        );
        registry.register_with_unit(
            "probe_duration",
            "Total duration of the last probe",
            Unit::Seconds,
            m.duration.clone(),
        );
        registry.register_with_unit(
            "probe_http_duration",
            "Duration of each phase of the last probe: resolve, connect, tls, processing, transfer",
            Unit::Seconds,
            m.phase_duration.clone(),
        );
        registry.register("probes", "Probes run", m.probes.clone());
        registry.register(
            "probe_responses",
            "Probe responses by status code (0: no response), for rates over windows",
            m.responses.clone(),
        );
        registry.register(
            "probe_failures",
            "Failed probes by reason and by the layer and vendor that generated the error",
            m.failures.clone(),
        );
        registry.register(
            "probe_failure_info",
            "Present with value 1 while the last probe failed: why, and who generated the error",
            m.failure_info.clone(),
        );
        m
    }

    /// Record one probe of `target` over `path`.
    pub fn record(&self, target: &str, path: PathKind, outcome: &Outcome) {
        let labels = ProbeLabels {
            target: target.into(),
            path: path.as_str().into(),
        };
        self.probes.get_or_create(&labels).inc();
        self.success
            .get_or_create(&labels)
            .set(i64::from(outcome.success()));
        self.status_code
            .get_or_create(&labels)
            .set(i64::from(outcome.status));
        self.duration
            .get_or_create(&labels)
            .set(outcome.duration.as_secs_f64());
        match outcome.cert_expiry {
            Some(expiry) => {
                self.cert_expiry.get_or_create(&labels).set(expiry as f64);
            }
            None => {
                self.cert_expiry.remove(&labels);
            }
        }
        for (phase, took) in outcome.phases.named() {
            let phase_labels = PhaseLabels {
                target: target.into(),
                path: labels.path.clone(),
                phase: phase.into(),
            };
            self.phase_duration
                .get_or_create(&phase_labels)
                .set(took.as_secs_f64());
        }
        let code = CodeLabels {
            target: target.into(),
            path: labels.path.clone(),
            code: outcome.status.to_string(),
        };
        self.responses.get_or_create(&code).inc();

        let mut seen = self.seen.lock().expect("probe metrics lock");
        let seen = seen.entry(target.to_string()).or_default();
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
            self.failure_info.remove(&prev);
        }
        if let Some(info) = current {
            let failure = FailureLabels {
                target: info.target.clone(),
                path: info.path.clone(),
                reason: info.reason.clone(),
                layer: info.layer.clone(),
                vendor: info.vendor.clone(),
            };
            self.failures.get_or_create(&failure).inc();
            seen.failures.insert(failure);
            self.failure_info.get_or_create(&info).set(1);
            seen.failure_info.insert(labels.path.clone(), info);
        }
    }

    /// Drop every series of a target that is no longer configured.
    pub fn forget(&self, target: &str, info: &InfoLabels) {
        self.info.remove(info);
        self.timeout.remove(&TargetLabels {
            target: target.into(),
        });
        for path in [PathKind::Public, PathKind::Origin] {
            let labels = ProbeLabels {
                target: target.into(),
                path: path.as_str().into(),
            };
            for family in [&self.success, &self.status_code] {
                family.remove(&labels);
            }
            self.duration.remove(&labels);
            self.cert_expiry.remove(&labels);
            self.probes.remove(&labels);
            for (phase, _) in http::Phases::default().named() {
                self.phase_duration.remove(&PhaseLabels {
                    target: target.into(),
                    path: labels.path.clone(),
                    phase: phase.into(),
                });
            }
        }
        if let Some(seen) = self.seen.lock().expect("probe metrics lock").remove(target) {
            seen.codes.iter().for_each(|c| {
                self.responses.remove(c);
            });
            seen.failures.iter().for_each(|f| {
                self.failures.remove(f);
            });
            seen.failure_info.values().for_each(|f| {
                self.failure_info.remove(f);
            });
        }
    }
}
