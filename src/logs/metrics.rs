//! The log families (docs/metrics.md, "Logs"), registered once; series are created by
//! each log's [`super::labeler::Labeler`] and dropped with it.

use super::cause::{AppCause, Event};
use crate::base::metrics::FGauge;
use crate::families;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Unit;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub log: String,
    pub vhost: String,
    pub upstream: String,
    pub cause: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AppErrorLabels {
    pub log: String,
    pub vhost: String,
    pub cause: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResponseLabels {
    pub log: String,
    pub vhost: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VhostLabels {
    pub log: String,
    pub vhost: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TryLabels {
    pub log: String,
    pub vhost: String,
    pub upstream: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LogLabel {
    pub log: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    pub log: String,
    pub event: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub log: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OverflowLabels {
    pub log: String,
    pub label: String,
}

/// The `reason` values of `gateway_log_read_errors_total`.
pub const READ_ERROR_REASONS: [&str; 5] = [
    "permission",
    "not_a_file",
    "io",
    "line_too_long",
    "invalid_utf8",
];

/// The `label` values of `gateway_log_cardinality_overflow_total`: the labels whose values
/// come from outside and are capped, and `series` (the per-family series cap).
pub const CAPPED_LABELS: [&str; 3] = ["vhost", "upstream", "series"];

/// The buckets of `gateway_upstream_response_time_seconds`.
#[derive(Clone)]
pub struct ResponseTimeBuckets;

impl MetricConstructor<Histogram> for ResponseTimeBuckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new([
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
        ])
    }
}

families! {
    /// The log families, registered once.
    pub struct LogMetrics {
        errors: Family<ErrorLabels, Counter> = ("upstream_errors", None,
            "Failed upstream tries (nginx) or requests (Apache, HAProxy) seen in logs, by cause"),
        app_errors: Family<AppErrorLabels, Counter> = ("app_errors", None,
            "Requests the app failed, by the cause it gave: PHP fatal errors, crashed workers, hosting limits"),
        responses: Family<ResponseLabels, Counter> = ("http_responses", None,
            "Access-log responses by status code"),
        requests: Family<VhostLabels, Counter> = ("http_requests", None,
            "Access-log requests, whatever their status: the sum of gateway_http_responses_total per vhost, one series to read"),
        response_time: Family<VhostLabels, Histogram, ResponseTimeBuckets>
            [Family::new_with_constructor(ResponseTimeBuckets)] = ("upstream_response_time", Some(Unit::Seconds),
            "Upstream response time of each access-log request, summed over tries"),
        tries: Family<TryLabels, Counter> = ("upstream_tries", None,
            "Each upstream try of an access-log request, by upstream address and status"),
        timeout: Family<LogLabel, FGauge> = ("upstream_timeout", Some(Unit::Seconds),
            "The proxy timeout configured for the log (proxy_read_timeout key)"),
        events: Family<EventLabels, Counter> = ("server_events", None,
            "Server lifecycle events seen in logs: reloads, restarts, pool limit warnings"),
        lines_read: Family<LogLabel, Counter> = ("log_lines_read", None, "Lines read from the log"),
        lines_classified: Family<LogLabel, Counter> = ("log_lines_classified", None,
            "Lines that produced a metric"),
        lines_unrecognised: Family<LogLabel, Counter> = ("log_lines_unrecognised", None,
            "Lines no parser rule understood"),
        bytes: Family<LogLabel, Counter> = ("log_bytes_read", None, "Bytes read from the log"),
        rotations: Family<LogLabel, Counter> = ("log_rotations", None, "Rotations and truncations seen"),
        checkpoint_failures: Family<LogLabel, Counter> = ("log_checkpoint_failures", None,
            "Offsets that could not be saved to log_settings.state_dir (retried every second)"),
        files_followed: Family<LogLabel, Gauge> = ("log_files_followed", None, "Files of the log open now"),
        read_errors: Family<ReasonLabels, Counter> = ("log_read_errors", None,
            "Problems reading the log, by reason"),
        last_read: Family<LogLabel, FGauge> = ("log_last_read_timestamp", Some(Unit::Seconds),
            "When the log last grew"),
        overflow: Family<OverflowLabels, Counter> = ("log_cardinality_overflow", None,
            "Label values folded into __overflow__ because the cap was reached"),
    }
}

impl LogMetrics {
    /// The counters keyed by the log alone, born with it and dropped with it.
    fn per_log_counters(&self) -> [&Family<LogLabel, Counter>; 6] {
        [
            &self.lines_read,
            &self.lines_classified,
            &self.lines_unrecognised,
            &self.bytes,
            &self.rotations,
            &self.checkpoint_failures,
        ]
    }

    /// Set `gateway_upstream_timeout_seconds` for the logs that configure one, drop the rest.
    pub fn set_timeouts<'a>(&self, logs: impl Iterator<Item = (&'a str, Option<Duration>)>) {
        self.timeout.clear();
        for (log, timeout) in logs {
            if let Some(t) = timeout {
                self.timeout
                    .get_or_create(&LogLabel { log: log.into() })
                    .set(t.as_secs_f64());
            }
        }
    }

    /// Every series of `log` whose labels are known before its first line, at zero: so
    /// `increase()` sees the first reload, read error or overflow, not only the second.
    /// `app_causes`: the app errors of a log that names no vhost (`vhost="-"`).
    pub fn born(&self, log: &str, events: &[Event], app_causes: &[AppCause]) {
        let l = LogLabel { log: log.into() };
        for family in self.per_log_counters() {
            let _ = family.get_or_create(&l);
        }
        let _ = self.files_followed.get_or_create(&l);
        for event in events {
            let _ = self.events.get_or_create(&EventLabels {
                log: log.into(),
                event: event.as_str().into(),
            });
        }
        for cause in app_causes {
            let _ = self.app_errors.get_or_create(&unnamed_vhost(log, *cause));
        }
        for reason in READ_ERROR_REASONS {
            let _ = self.read_errors.get_or_create(&ReasonLabels {
                log: log.into(),
                reason: reason.into(),
            });
        }
        for label in CAPPED_LABELS {
            let _ = self.overflow.get_or_create(&OverflowLabels {
                log: log.into(),
                label: label.into(),
            });
        }
    }

    /// Drop the per-log series of `log` (its label-value series are dropped by its labeler).
    pub fn forget(&self, log: &str) {
        let l = LogLabel { log: log.into() };
        for family in self.per_log_counters() {
            family.remove(&l);
        }
        self.files_followed.remove(&l);
        self.last_read.remove(&l);
        self.timeout.remove(&l);
        for event in Event::ALL {
            self.events.remove(&EventLabels {
                log: log.into(),
                event: event.as_str().into(),
            });
        }
        for cause in AppCause::ALL {
            self.app_errors.remove(&unnamed_vhost(log, cause));
        }
        for reason in READ_ERROR_REASONS {
            self.read_errors.remove(&ReasonLabels {
                log: log.into(),
                reason: reason.into(),
            });
        }
        for label in CAPPED_LABELS {
            self.overflow.remove(&OverflowLabels {
                log: log.into(),
                label: label.into(),
            });
        }
    }
}

/// The app-error series of `log` for requests whose vhost the log does not name.
pub fn unnamed_vhost(log: &str, cause: AppCause) -> AppErrorLabels {
    AppErrorLabels {
        log: log.into(),
        vhost: "-".into(),
        cause: cause.as_str().into(),
    }
}
