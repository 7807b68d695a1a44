//! The [`Sink`] of one log: turns parser output into label sets of the log families.
//! Handles are cached per interned label values, so a line costs hash lookups only.

use super::cause::{Cause, Event};
use super::interner::{FxMap, Interned, Interner, OVERFLOWED};
use super::metrics::{
    ErrorLabels, EventLabels, LogLabel, LogMetrics, OverflowLabels, ReasonLabels, ResponseLabels,
    TryLabels, VhostLabels,
};
use super::sink::{Access, Sink, Verdict, status_code, upstream_items};
use crate::base::clock::unix_now;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use std::sync::Arc;

/// Per-log counts kept locally and added to the families once per batch.
#[derive(Default)]
struct Batch {
    lines: u64,
    classified: u64,
    unrecognised: u64,
    bytes: u64,
}

/// A label-value series a labeler created, dropped with its log.
enum Series {
    Error(ErrorLabels),
    Response(ResponseLabels),
    Time(VhostLabels),
    Try(TryLabels),
}

/// The [`Sink`] of one log.
pub struct Labeler {
    log: String,
    m: Arc<LogMetrics>,
    vhosts: Interner,
    upstreams: Interner,
    errors: FxMap<(u8, u32, u32), Counter>,
    /// The same counters keyed by the raw bytes, for values under the cap.
    raw_errors: FxMap<Box<[u8]>, Counter>,
    scratch: Vec<u8>,
    responses: FxMap<(u32, u16), Counter>,
    times: FxMap<u32, Histogram>,
    tries: FxMap<(u32, u32, u16), Counter>,
    events: FxMap<u8, Counter>,
    batch: Batch,
    emitted: bool,
    /// Line-level problems already logged (each kind is logged once per log).
    warned: Vec<&'static str>,
    /// Every series of the label-value families this log created (bounded by the caps).
    created: Vec<Series>,
}

impl Labeler {
    pub fn new(log: &str, cap: usize, m: Arc<LogMetrics>) -> Labeler {
        Labeler {
            log: log.to_string(),
            m,
            vhosts: Interner::new(cap),
            upstreams: Interner::new(cap),
            errors: FxMap::default(),
            raw_errors: FxMap::default(),
            scratch: Vec::new(),
            responses: FxMap::default(),
            times: FxMap::default(),
            tries: FxMap::default(),
            events: FxMap::default(),
            batch: Batch::default(),
            emitted: false,
            warned: Vec::new(),
            created: Vec::new(),
        }
    }

    pub fn log(&self) -> &str {
        &self.log
    }

    pub fn upstreams(&self) -> impl Iterator<Item = String> + '_ {
        self.upstreams
            .names
            .iter()
            .filter(|n| n.as_str() != "-" && !n.is_empty())
            .cloned()
    }

    fn label(&self) -> LogLabel {
        LogLabel {
            log: self.log.clone(),
        }
    }

    pub fn begin_line(&mut self) {
        self.emitted = false;
        self.batch.lines += 1;
    }

    pub fn end_line(&mut self, verdict: Verdict) {
        if self.emitted {
            self.batch.classified += 1;
        }
        if verdict == Verdict::Unrecognised {
            self.batch.unrecognised += 1;
        }
    }

    pub fn bytes(&mut self, n: u64) {
        self.batch.bytes += n;
    }

    pub fn rotation(&mut self) {
        self.m.rotations.get_or_create(&self.label()).inc();
    }

    pub fn read_error(&mut self, reason: &str) {
        self.m
            .read_errors
            .get_or_create(&ReasonLabels {
                log: self.log.clone(),
                reason: reason.into(),
            })
            .inc();
    }

    /// A bad line (`line_too_long`, `invalid_utf8`): counted each time, logged the first time.
    pub fn line_problem(&mut self, reason: &'static str) {
        self.read_error(reason);
        if !self.warned.contains(&reason) {
            self.warned.push(reason);
            tracing::warn!(
                log = self.log,
                reason,
                "bad line in log (counted in gateway_log_read_errors_total, logged once)"
            );
        }
    }

    /// The log left the config: drop every series it created.
    pub fn forget(&self) {
        for series in &self.created {
            match series {
                Series::Error(l) => self.m.errors.remove(l),
                Series::Response(l) => self.m.responses.remove(l),
                Series::Time(l) => self.m.response_time.remove(l),
                Series::Try(l) => self.m.tries.remove(l),
            };
        }
        self.m.forget(&self.log);
    }

    /// Add the batched counts to the families.
    pub fn flush(&mut self, files_followed: usize) {
        let l = self.label();
        let b = std::mem::take(&mut self.batch);
        self.m.lines_read.get_or_create(&l).inc_by(b.lines);
        self.m
            .lines_classified
            .get_or_create(&l)
            .inc_by(b.classified);
        self.m
            .lines_unrecognised
            .get_or_create(&l)
            .inc_by(b.unrecognised);
        self.m.bytes.get_or_create(&l).inc_by(b.bytes);
        self.m
            .files_followed
            .get_or_create(&l)
            .set(files_followed as i64);
        if b.bytes > 0 {
            self.m.last_read.get_or_create(&l).set(unix_now());
        }
    }

    fn vhost(&mut self, v: &[u8]) -> u32 {
        let r = self.vhosts.get(v);
        self.resolve(r, "vhost")
    }

    fn upstream(&mut self, v: &[u8]) -> u32 {
        let r = self.upstreams.get(v);
        self.resolve(r, "upstream")
    }

    fn resolve(&mut self, r: Interned, label: &str) -> u32 {
        match r {
            Interned::Id(id) => id,
            Interned::New(id, valid) => {
                if !valid {
                    self.line_problem("invalid_utf8");
                }
                id
            }
            Interned::Overflow => {
                self.m
                    .overflow
                    .get_or_create(&OverflowLabels {
                        log: self.log.clone(),
                        label: label.into(),
                    })
                    .inc();
                OVERFLOWED
            }
        }
    }
}

fn status_text(status: u16) -> String {
    format!("{status:03}")
}

impl Sink for Labeler {
    fn error(&mut self, cause: Cause, vhost: &[u8], upstream: &[u8]) {
        self.emitted = true;
        // Fast path: one lookup on the raw (cause, vhost, upstream) bytes.
        self.scratch.clear();
        self.scratch.push(cause as u8);
        self.scratch
            .extend_from_slice(&(vhost.len() as u32).to_le_bytes());
        self.scratch.extend_from_slice(vhost);
        self.scratch.extend_from_slice(upstream);
        if let Some(c) = self.raw_errors.get(self.scratch.as_slice()) {
            c.inc();
            return;
        }
        let (v, u) = (self.vhost(vhost), self.upstream(upstream));
        let key = (cause as u8, v, u);
        if let Some(c) = self.errors.get(&key) {
            c.inc();
            if v != OVERFLOWED && u != OVERFLOWED {
                self.raw_errors
                    .insert(self.scratch.as_slice().into(), c.clone());
            }
            return;
        }
        let labels = ErrorLabels {
            log: self.log.clone(),
            vhost: self.vhosts.name(v).into(),
            upstream: self.upstreams.name(u).into(),
            cause: cause.as_str().into(),
        };
        let c = self.m.errors.get_or_create(&labels).clone();
        self.created.push(Series::Error(labels));
        c.inc();
        if v != OVERFLOWED && u != OVERFLOWED {
            // Both values are interned (capped), so this map is bounded too.
            self.raw_errors
                .insert(self.scratch.as_slice().into(), c.clone());
        }
        self.errors.insert(key, c);
    }

    fn event(&mut self, event: Event) {
        self.emitted = true;
        let log = &self.log;
        let m = &self.m;
        self.events
            .entry(event as u8)
            .or_insert_with(|| {
                m.events
                    .get_or_create(&EventLabels {
                        log: log.clone(),
                        event: event.as_str().into(),
                    })
                    .clone()
            })
            .inc();
    }

    fn access(&mut self, a: &Access<'_>) {
        self.emitted = true;
        let v = self.vhost(a.vhost);
        let (log, m, vhosts, created) = (&self.log, &self.m, &self.vhosts, &mut self.created);
        let vhost = || vhosts.name(v).to_string();
        self.responses
            .entry((v, a.status))
            .or_insert_with(|| {
                let labels = ResponseLabels {
                    log: log.clone(),
                    vhost: vhost(),
                    status: status_text(a.status),
                };
                let c = m.responses.get_or_create(&labels).clone();
                created.push(Series::Response(labels));
                c
            })
            .inc();
        if let Some(t) = a.upstream_time {
            self.times
                .entry(v)
                .or_insert_with(|| {
                    let labels = VhostLabels {
                        log: log.clone(),
                        vhost: vhost(),
                    };
                    let h = m.response_time.get_or_create(&labels).clone();
                    created.push(Series::Time(labels));
                    h
                })
                .observe(t);
        }
        if a.upstream_addr.is_empty() || a.upstream_addr == b"-" {
            return;
        }
        for (addr, status) in upstream_items(a.upstream_addr).zip(upstream_items(a.upstream_status))
        {
            let Some(status) = status_code(status) else {
                continue;
            };
            let u = self.upstream(addr);
            let (log, m, vhosts, upstreams, created) = (
                &self.log,
                &self.m,
                &self.vhosts,
                &self.upstreams,
                &mut self.created,
            );
            self.tries
                .entry((v, u, status))
                .or_insert_with(|| {
                    let labels = TryLabels {
                        log: log.clone(),
                        vhost: vhosts.name(v).into(),
                        upstream: upstreams.name(u).into(),
                        status: status_text(status),
                    };
                    let c = m.tries.get_or_create(&labels).clone();
                    created.push(Series::Try(labels));
                    c
                })
                .inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::exposition::{Format, encode_registry};
    use crate::logs::OVERFLOW;
    use prometheus_client::registry::Registry;

    #[test]
    fn cap_folds_new_values_into_overflow() {
        let mut r = Registry::with_prefix("gateway");
        let m = Arc::new(LogMetrics::register(&mut r));
        let mut l = Labeler::new("t", 2, m);
        for v in ["a", "b", "c", "d", "a"] {
            l.error(Cause::Reset, v.as_bytes(), b"u");
        }
        l.error(Cause::Reset, b"\xff\xfe", b"u");
        let text = encode_registry(&r, Format::Text004);
        let count = |vhost: &str| -> f64 {
            let needle = format!("vhost=\"{vhost}\"");
            text.lines()
                .filter(|l| l.starts_with("gateway_upstream_errors_total{") && l.contains(&needle))
                .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
                .sum()
        };
        assert_eq!(count("a"), 2.0);
        assert_eq!(count("b"), 1.0);
        assert_eq!(count(OVERFLOW), 3.0);
        assert!(
            text.contains("gateway_log_cardinality_overflow_total{log=\"t\",label=\"vhost\"} 3"),
            "{text}"
        );
    }

    #[test]
    fn tries_are_zipped_per_upstream() {
        let mut r = Registry::with_prefix("gateway");
        let m = Arc::new(LogMetrics::register(&mut r));
        let mut l = Labeler::new("t", 10, m);
        l.access(&Access {
            vhost: b"v",
            status: 200,
            upstream_addr: b"10.0.0.5:80, 10.0.0.6:80 : 10.0.0.7:80",
            upstream_status: b"502, 200 : -",
            upstream_time: Some(0.3),
        });
        let text = encode_registry(&r, Format::Text004);
        assert!(text.contains("gateway_upstream_tries_total{log=\"t\",vhost=\"v\",upstream=\"10.0.0.5:80\",status=\"502\"} 1"), "{text}");
        assert!(text.contains("gateway_upstream_tries_total{log=\"t\",vhost=\"v\",upstream=\"10.0.0.6:80\",status=\"200\"} 1"), "{text}");
        assert!(!text.contains("10.0.0.7"), "{text}");
        assert!(
            text.contains("gateway_http_responses_total{log=\"t\",vhost=\"v\",status=\"200\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "gateway_upstream_response_time_seconds_bucket{le=\"0.5\",log=\"t\",vhost=\"v\"} 1"
            ) || text.contains(
                "gateway_upstream_response_time_seconds_bucket{log=\"t\",vhost=\"v\",le=\"0.5\"} 1"
            ),
            "{text}"
        );
    }
}
