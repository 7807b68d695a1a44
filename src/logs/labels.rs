//! The log metric families, and the [`Labeler`]: the [`Sink`] that turns parser output
//! into label sets. Label values from outside (vhosts, upstreams) are interned per log
//! under a cap; handles are cached so a line costs hash lookups, never an allocation.

use super::cause::{Cause, Event};
use super::sink::{Access, Sink, Verdict, upstream_items};
use crate::metrics::FGauge;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The value a label takes once its cap is reached.
pub const OVERFLOW: &str = "__overflow__";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub log: String,
    pub vhost: String,
    pub upstream: String,
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

type HistogramFamily = Family<VhostLabels, Histogram, fn() -> Histogram>;

fn response_time_histogram() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
    ])
}

/// The log families (docs/metrics.md, "Logs"), registered once.
#[derive(Clone)]
pub struct LogMetrics {
    errors: Family<ErrorLabels, Counter>,
    responses: Family<ResponseLabels, Counter>,
    response_time: HistogramFamily,
    tries: Family<TryLabels, Counter>,
    timeout: Family<LogLabel, FGauge>,
    events: Family<EventLabels, Counter>,
    lines_read: Family<LogLabel, Counter>,
    lines_classified: Family<LogLabel, Counter>,
    lines_unrecognised: Family<LogLabel, Counter>,
    bytes: Family<LogLabel, Counter>,
    rotations: Family<LogLabel, Counter>,
    files_followed: Family<LogLabel, Gauge>,
    read_errors: Family<ReasonLabels, Counter>,
    last_read: Family<LogLabel, FGauge>,
    overflow: Family<OverflowLabels, Counter>,
}

impl LogMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = LogMetrics {
            errors: Family::default(),
            responses: Family::default(),
            response_time: Family::new_with_constructor(
                response_time_histogram as fn() -> Histogram,
            ),
            tries: Family::default(),
            timeout: Family::default(),
            events: Family::default(),
            lines_read: Family::default(),
            lines_classified: Family::default(),
            lines_unrecognised: Family::default(),
            bytes: Family::default(),
            rotations: Family::default(),
            files_followed: Family::default(),
            read_errors: Family::default(),
            last_read: Family::default(),
            overflow: Family::default(),
        };
        let r = registry;
        r.register(
            "upstream_errors",
            "Failed upstream tries (nginx) or requests (Apache, HAProxy) seen in logs, by cause",
            m.errors.clone(),
        );
        r.register(
            "http_responses",
            "Access-log responses by status code",
            m.responses.clone(),
        );
        r.register_with_unit(
            "upstream_response_time",
            "Upstream response time of each access-log request, summed over tries",
            Unit::Seconds,
            m.response_time.clone(),
        );
        r.register(
            "upstream_tries",
            "Each upstream try of an access-log request, by upstream address and status",
            m.tries.clone(),
        );
        r.register_with_unit(
            "upstream_timeout",
            "The proxy timeout configured for the log (proxy_read_timeout key)",
            Unit::Seconds,
            m.timeout.clone(),
        );
        r.register(
            "server_events",
            "Server lifecycle events seen in logs: reloads, restarts, pool limit warnings",
            m.events.clone(),
        );
        r.register(
            "log_lines_read",
            "Lines read from the log",
            m.lines_read.clone(),
        );
        r.register(
            "log_lines_classified",
            "Lines that produced a metric",
            m.lines_classified.clone(),
        );
        r.register(
            "log_lines_unrecognised",
            "Lines no parser rule understood",
            m.lines_unrecognised.clone(),
        );
        r.register("log_bytes_read", "Bytes read from the log", m.bytes.clone());
        r.register(
            "log_rotations",
            "Rotations and truncations seen",
            m.rotations.clone(),
        );
        r.register(
            "log_files_followed",
            "Files of the log open now",
            m.files_followed.clone(),
        );
        r.register(
            "log_read_errors",
            "Problems reading the log, by reason",
            m.read_errors.clone(),
        );
        r.register_with_unit(
            "log_last_read_timestamp",
            "When the log last grew",
            Unit::Seconds,
            m.last_read.clone(),
        );
        r.register(
            "log_cardinality_overflow",
            "Label values folded into __overflow__ because the cap was reached",
            m.overflow.clone(),
        );
        m
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

    /// A log left the config: it follows no file any more.
    pub fn forget(&self, log: &str) {
        self.files_followed
            .get_or_create(&LogLabel { log: log.into() })
            .set(0);
    }
}

/// FxHash: the label caches are keyed by small integers and short byte strings.
#[derive(Default)]
struct Fx(u64);

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.write_u64(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        let mut v = [0u8; 8];
        v[..rest.len()].copy_from_slice(rest);
        self.write_u64(u64::from_le_bytes(v) ^ rest.len() as u64);
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }
    fn write_u16(&mut self, v: u16) {
        self.write_u64(u64::from(v));
    }
    fn write_u8(&mut self, v: u8) {
        self.write_u64(u64::from(v));
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<Fx>>;

/// Distinct values of one label, capped.
struct Interner {
    ids: FxMap<Box<[u8]>, u32>,
    names: Vec<String>,
    cap: usize,
}

/// The id of [`OVERFLOW`].
const OVERFLOWED: u32 = u32::MAX;

enum Interned {
    Id(u32),
    New(u32, bool),
    Overflow,
}

impl Interner {
    fn new(cap: usize) -> Interner {
        Interner {
            ids: FxMap::default(),
            names: Vec::new(),
            cap,
        }
    }

    fn get(&mut self, value: &[u8]) -> Interned {
        if let Some(&id) = self.ids.get(value) {
            return Interned::Id(id);
        }
        if self.names.len() >= self.cap {
            return Interned::Overflow;
        }
        let id = self.names.len() as u32;
        let valid = std::str::from_utf8(value).is_ok();
        self.names.push(String::from_utf8_lossy(value).into_owned());
        self.ids.insert(value.into(), id);
        Interned::New(id, valid)
    }

    fn name(&self, id: u32) -> &str {
        if id == OVERFLOWED {
            OVERFLOW
        } else {
            &self.names[id as usize]
        }
    }
}

/// Per-log counts kept locally and added to the families once per batch.
#[derive(Default)]
struct Batch {
    lines: u64,
    classified: u64,
    unrecognised: u64,
    bytes: u64,
}

/// The [`Sink`] of one log.
pub struct Labeler {
    log: String,
    m: LogMetrics,
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
}

impl Labeler {
    pub fn new(log: &str, cap: usize, m: LogMetrics) -> Labeler {
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
        let _ = self.m.rotations.get_or_create(&l);
        self.m
            .files_followed
            .get_or_create(&l)
            .set(files_followed as i64);
        if b.bytes > 0 {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            self.m.last_read.get_or_create(&l).set(now);
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
        let (log, m, vhosts) = (&self.log, &self.m, &self.vhosts);
        let vhost = || vhosts.name(v).to_string();
        self.responses
            .entry((v, a.status))
            .or_insert_with(|| {
                m.responses
                    .get_or_create(&ResponseLabels {
                        log: log.clone(),
                        vhost: vhost(),
                        status: status_text(a.status),
                    })
                    .clone()
            })
            .inc();
        if let Some(t) = a.upstream_time {
            self.times
                .entry(v)
                .or_insert_with(|| {
                    m.response_time
                        .get_or_create(&VhostLabels {
                            log: log.clone(),
                            vhost: vhost(),
                        })
                        .clone()
                })
                .observe(t);
        }
        if a.upstream_addr.is_empty() || a.upstream_addr == b"-" {
            return;
        }
        for (addr, status) in upstream_items(a.upstream_addr).zip(upstream_items(a.upstream_status))
        {
            let Some(status) = three_digits(status) else {
                continue;
            };
            let u = self.upstream(addr);
            let (log, m, vhosts, upstreams) = (&self.log, &self.m, &self.vhosts, &self.upstreams);
            self.tries
                .entry((v, u, status))
                .or_insert_with(|| {
                    let labels = TryLabels {
                        log: log.clone(),
                        vhost: vhosts.name(v).into(),
                        upstream: upstreams.name(u).into(),
                        status: status_text(status),
                    };
                    m.tries.get_or_create(&labels).clone()
                })
                .inc();
        }
    }
}

fn three_digits(v: &[u8]) -> Option<u16> {
    match v {
        [a, b, c] if [a, b, c].iter().all(|d| d.is_ascii_digit()) => {
            Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Format, encode_registry};

    #[test]
    fn cap_folds_new_values_into_overflow() {
        let mut r = Registry::with_prefix("gateway");
        let m = LogMetrics::register(&mut r);
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
        let m = LogMetrics::register(&mut r);
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
