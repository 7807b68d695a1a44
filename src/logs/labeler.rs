//! The [`Sink`] of one log: turns parser output into label sets of the log families.
//! Handles are cached per interned label values, so a line costs hash lookups only.
//!
//! Everything here is bounded, whatever the log says: label values by count and length
//! ([`Interner`]), series by count per family ([`Limits::series`]), and a value not seen for
//! [`Limits::ttl`] gives its slot and its series back, so values that arrive later are not
//! hidden behind `__overflow__` for ever.

use super::cause::{AppCause, Cause, Event};
use super::interner::{FxMap, Interned, Interner, OVERFLOWED};
use super::metrics::{
    AppErrorLabels, ErrorLabels, EventLabels, LogLabel, LogMetrics, OverflowLabels, ReasonLabels,
    ResponseLabels, TryLabels, VhostLabels, unnamed_vhost,
};
use super::sink::{Access, Sink, Verdict, status_code, upstream_items};
use crate::base::clock::unix_now;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use std::sync::Arc;
use std::time::Instant;

/// Per-log counts kept locally and added to the families once per batch.
#[derive(Default)]
struct Batch {
    lines: u64,
    classified: u64,
    unrecognised: u64,
    bytes: u64,
}

/// The bounds of one log's label values and series (`log_settings`).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Distinct values per label.
    pub values: usize,
    /// Bytes per label value (longer ones are cut and marked).
    pub value_bytes: usize,
    /// Series per family with label values from the log.
    pub series: usize,
    /// Seconds a value may go unseen before its slot and series are freed.
    pub ttl: u32,
}

/// `u` of a series without an upstream label.
const NO_UPSTREAM: u32 = u32::MAX - 1;

/// A label-value series a labeler created, dropped with its log or its values.
enum Series {
    Error(ErrorLabels),
    Response(ResponseLabels),
    Time(VhostLabels),
    Try(TryLabels),
    App(AppErrorLabels),
    Request(VhostLabels),
}

impl Series {
    /// Index into `Labeler::series_count`.
    fn family(&self) -> usize {
        match self {
            Series::Error(_) => 0,
            Series::Response(_) => 1,
            Series::Time(_) => 2,
            Series::Try(_) => 3,
            Series::App(_) => 4,
            Series::Request(_) => 5,
        }
    }
}

/// A series with the interned ids of its vhost and upstream.
struct Created {
    v: u32,
    u: u32,
    series: Series,
}

/// The [`Sink`] of one log.
pub struct Labeler {
    log: String,
    m: Arc<LogMetrics>,
    limits: Limits,
    vhosts: Interner,
    upstreams: Interner,
    errors: FxMap<(u8, u32, u32), Counter>,
    /// The same counters keyed by the raw bytes, for values under the caps.
    raw_errors: FxMap<Box<[u8]>, (Counter, u32, u32)>,
    scratch: Vec<u8>,
    /// A response's counter and its vhost's request counter: one lookup a line for both.
    responses: FxMap<(u32, u16), (Counter, Counter)>,
    requests: FxMap<u32, Counter>,
    times: FxMap<u32, Histogram>,
    tries: FxMap<(u32, u32, u16), Counter>,
    events: FxMap<u8, Counter>,
    /// App errors by (cause, vhost), for vhosts the log names.
    apps: FxMap<(u8, u32), Counter>,
    /// App errors of requests whose vhost the log does not name (`-`): born with the log,
    /// never expired.
    unnamed_apps: FxMap<u8, Counter>,
    /// The app causes the log's format reports: a vhost's first app error creates all of
    /// them, at zero, so `increase()` sees the first of each.
    app_causes: &'static [AppCause],
    batch: Batch,
    emitted: bool,
    /// Line-level problems already logged (each kind is logged once per log).
    warned: Vec<&'static str>,
    /// Every series of the label-value families this log created (bounded by the caps).
    created: Vec<Created>,
    /// Live series per family (see [`Series::family`]), overflow series not counted.
    series_count: [usize; 6],
    started: Instant,
    last_sweep: u32,
}

impl Labeler {
    pub fn new(log: &str, limits: Limits, m: Arc<LogMetrics>) -> Labeler {
        Labeler {
            log: log.to_string(),
            m,
            limits,
            vhosts: Interner::new(limits.values, limits.value_bytes),
            upstreams: Interner::new(limits.values, limits.value_bytes),
            errors: FxMap::default(),
            raw_errors: FxMap::default(),
            scratch: Vec::new(),
            responses: FxMap::default(),
            requests: FxMap::default(),
            times: FxMap::default(),
            tries: FxMap::default(),
            events: FxMap::default(),
            apps: FxMap::default(),
            unnamed_apps: FxMap::default(),
            app_causes: &[],
            batch: Batch::default(),
            emitted: false,
            warned: Vec::new(),
            created: Vec::new(),
            series_count: [0; 6],
            started: Instant::now(),
            last_sweep: 0,
        }
    }

    /// The app causes the log's format reports (see [`Labeler::app_causes`]).
    pub fn with_app_causes(self, app_causes: &'static [AppCause]) -> Labeler {
        Labeler { app_causes, ..self }
    }

    pub fn log(&self) -> &str {
        &self.log
    }

    pub fn upstreams(&self) -> impl Iterator<Item = String> + '_ {
        self.upstreams
            .values()
            .filter(|n| *n != "-")
            .map(str::to_string)
    }

    fn label(&self) -> LogLabel {
        LogLabel {
            log: self.log.clone(),
        }
    }

    pub fn begin_line(&mut self) {
        self.begin_late_output();
        self.batch.lines += 1;
    }

    /// Output about lines already read (an entry counted after its last line): it makes
    /// a line classified, not a line read. Ended by `end_line`.
    pub fn begin_late_output(&mut self) {
        self.emitted = false;
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

    pub fn checkpoint_failed(&self) {
        self.m
            .checkpoint_failures
            .get_or_create(&self.label())
            .inc();
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
        for c in &self.created {
            self.remove(&c.series);
        }
        self.m.forget(&self.log);
    }

    fn remove(&self, series: &Series) {
        match series {
            Series::Error(l) => self.m.errors.remove(l),
            Series::Response(l) => self.m.responses.remove(l),
            Series::Time(l) => self.m.response_time.remove(l),
            Series::Try(l) => self.m.tries.remove(l),
            Series::App(l) => self.m.app_errors.remove(l),
            Series::Request(l) => self.m.requests.remove(l),
        };
    }

    /// Add the batched counts to the families; now and then, free the values not seen
    /// for the ttl.
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
        let now = u32::try_from(self.started.elapsed().as_secs()).unwrap_or(u32::MAX);
        self.sweep(now);
    }

    /// Advance the clock to `now` (seconds since start) and free the values unseen for the
    /// ttl, with their cached handles and their series. Checked at most every ttl/10 (60 s
    /// at most), so a busy log pays for it rarely.
    fn sweep(&mut self, now: u32) {
        self.vhosts.tick(now);
        self.upstreams.tick(now);
        let every = (self.limits.ttl / 10).clamp(1, 60);
        if now.saturating_sub(self.last_sweep) < every {
            return;
        }
        self.last_sweep = now;
        let vhosts = self.vhosts.expire(self.limits.ttl);
        let upstreams = self.upstreams.expire(self.limits.ttl);
        if vhosts.is_empty() && upstreams.is_empty() {
            return;
        }
        let gone = |v: u32, u: u32| vhosts.contains(&v) || upstreams.contains(&u);
        self.errors.retain(|k, _| !gone(k.1, k.2));
        self.raw_errors.retain(|_, c| !gone(c.1, c.2));
        self.responses.retain(|k, _| !gone(k.0, NO_UPSTREAM));
        self.requests.retain(|v, _| !gone(*v, NO_UPSTREAM));
        self.times.retain(|v, _| !gone(*v, NO_UPSTREAM));
        self.tries.retain(|k, _| !gone(k.0, k.1));
        self.apps.retain(|k, _| !gone(k.1, NO_UPSTREAM));
        let (expired, kept): (Vec<Created>, Vec<Created>) = std::mem::take(&mut self.created)
            .into_iter()
            .partition(|c| gone(c.v, c.u));
        for c in &expired {
            self.remove(&c.series);
            if !all_overflow(c.v, c.u) {
                self.series_count[c.series.family()] -= 1;
            }
        }
        self.created = kept;
    }

    fn vhost(&mut self, v: &[u8]) -> u32 {
        let r = self.vhosts.get(v);
        self.resolve(r, "vhost")
    }

    fn upstream(&mut self, v: &[u8]) -> u32 {
        let r = self.upstreams.get(v);
        self.resolve(r, "upstream")
    }

    fn resolve(&mut self, r: Interned, label: &'static str) -> u32 {
        match r {
            Interned::Id(id) => id,
            Interned::New(id, valid) => {
                if !valid {
                    self.line_problem("invalid_utf8");
                }
                id
            }
            Interned::Overflow => {
                self.overflow(label);
                OVERFLOWED
            }
        }
    }

    fn overflow(&self, label: &'static str) {
        self.m
            .overflow
            .get_or_create(&OverflowLabels {
                log: self.log.clone(),
                label: label.into(),
            })
            .inc();
    }

    /// The ids a new series of `family` may have: its own while the family is under its
    /// series cap, else the overflow values (counted as `label="series"`).
    fn admit(&mut self, family: usize, v: u32, u: u32) -> (u32, u32) {
        if all_overflow(v, u) {
            return (v, u);
        }
        if self.series_count[family] < self.limits.series {
            self.series_count[family] += 1;
            return (v, u);
        }
        self.overflow("series");
        let u = if u == NO_UPSTREAM { u } else { OVERFLOWED };
        (OVERFLOWED, u)
    }

    fn remember(&mut self, v: u32, u: u32, series: Series) {
        self.created.push(Created { v, u, series });
    }
}

/// A series whose label values are all `__overflow__`: always allowed, never counted.
fn all_overflow(v: u32, u: u32) -> bool {
    v == OVERFLOWED && (u == OVERFLOWED || u == NO_UPSTREAM)
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
        if let Some((c, v, u)) = self.raw_errors.get(self.scratch.as_slice()) {
            c.inc();
            let (v, u) = (*v, *u);
            self.vhosts.touch(v);
            self.upstreams.touch(u);
            return;
        }
        let (v, u) = (self.vhost(vhost), self.upstream(upstream));
        // Raw keys only for values kept whole: a flood of long values sharing a prefix must
        // not grow this cache.
        let cacheable = v != OVERFLOWED
            && u != OVERFLOWED
            && self.vhosts.fits(vhost)
            && self.upstreams.fits(upstream);
        let c = match self.errors.get(&(cause as u8, v, u)) {
            Some(c) => c.clone(),
            None => {
                let (v2, u2) = self.admit(0, v, u);
                let key = (cause as u8, v2, u2);
                match self.errors.get(&key) {
                    Some(c) => c.clone(),
                    None => {
                        let labels = ErrorLabels {
                            log: self.log.clone(),
                            vhost: self.vhosts.name(v2).into(),
                            upstream: self.upstreams.name(u2).into(),
                            cause: cause.as_str().into(),
                        };
                        let c = self.m.errors.get_or_create(&labels).clone();
                        self.remember(v2, u2, Series::Error(labels));
                        self.errors.insert(key, c.clone());
                        c
                    }
                }
            }
        };
        c.inc();
        if cacheable && self.errors.contains_key(&(cause as u8, v, u)) {
            self.raw_errors
                .insert(self.scratch.as_slice().into(), (c, v, u));
        }
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

    fn app_error(&mut self, cause: AppCause, vhost: &[u8]) {
        self.emitted = true;
        if vhost == b"-" {
            let (log, m) = (&self.log, &self.m);
            self.unnamed_apps
                .entry(cause as u8)
                .or_insert_with(|| {
                    m.app_errors
                        .get_or_create(&unnamed_vhost(log, cause))
                        .clone()
                })
                .inc();
            return;
        }
        let v = self.vhost(vhost);
        match self.apps.get(&(cause as u8, v)) {
            Some(c) => c.inc(),
            None => self.new_app(v, cause).inc(),
        };
    }

    fn access(&mut self, a: &Access<'_>) {
        self.emitted = true;
        let v = self.vhost(a.vhost);
        // Hot path: one lookup and an increment; the slow paths create (or fold) the series.
        match self.responses.get(&(v, a.status)) {
            Some((response, request)) => {
                response.inc();
                request.inc();
            }
            None => {
                let (response, request) = self.new_response(v, a.status);
                response.inc();
                request.inc();
            }
        };
        if let Some(t) = a.upstream_time {
            match self.times.get(&v) {
                Some(h) => h.observe(t),
                None => self.new_time(v).observe(t),
            }
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
            match self.tries.get(&(v, u, status)) {
                Some(c) => c.inc(),
                None => self.new_attempt(v, u, status).inc(),
            };
        }
    }
}

impl Labeler {
    /// The counter of `cause` for vhost `v`, seen for the first time: the format's other
    /// causes for `v` are born beside it, at zero.
    fn new_app(&mut self, v: u32, cause: AppCause) -> Counter {
        for c in self.app_causes {
            if *c != cause && !self.apps.contains_key(&(*c as u8, v)) {
                self.app_counter(v, *c);
            }
        }
        self.app_counter(v, cause)
    }

    /// Create (or fold into `__overflow__`) the series of `cause` for vhost `v`.
    fn app_counter(&mut self, v: u32, cause: AppCause) -> Counter {
        let (v, _) = self.admit(4, v, NO_UPSTREAM);
        if let Some(c) = self.apps.get(&(cause as u8, v)) {
            return c.clone();
        }
        let labels = AppErrorLabels {
            log: self.log.clone(),
            vhost: self.vhosts.name(v).into(),
            cause: cause.as_str().into(),
        };
        let c = self.m.app_errors.get_or_create(&labels).clone();
        self.remember(v, NO_UPSTREAM, Series::App(labels));
        self.apps.insert((cause as u8, v), c.clone());
        c
    }

    /// The counter of `status` for vhost `v` and the request counter of the vhost it is
    /// counted under (`__overflow__` when folded), so the requests of a vhost are always the
    /// sum of its responses.
    fn new_response(&mut self, v: u32, status: u16) -> (Counter, Counter) {
        let (v, _) = self.admit(1, v, NO_UPSTREAM);
        if let Some(pair) = self.responses.get(&(v, status)) {
            return pair.clone();
        }
        let labels = ResponseLabels {
            log: self.log.clone(),
            vhost: self.vhosts.name(v).into(),
            status: status_text(status),
        };
        let c = self.m.responses.get_or_create(&labels).clone();
        self.remember(v, NO_UPSTREAM, Series::Response(labels));
        let pair = (c, self.request_counter(v));
        self.responses.insert((v, status), pair.clone());
        pair
    }

    /// The request counter of vhost `v` (one series a vhost: never more than the responses,
    /// so it is admitted whenever they are).
    fn request_counter(&mut self, v: u32) -> Counter {
        if let Some(c) = self.requests.get(&v) {
            return c.clone();
        }
        let (v, _) = self.admit(5, v, NO_UPSTREAM);
        if let Some(c) = self.requests.get(&v) {
            return c.clone();
        }
        let labels = VhostLabels {
            log: self.log.clone(),
            vhost: self.vhosts.name(v).into(),
        };
        let c = self.m.requests.get_or_create(&labels).clone();
        self.remember(v, NO_UPSTREAM, Series::Request(labels));
        self.requests.insert(v, c.clone());
        c
    }

    fn new_time(&mut self, v: u32) -> Histogram {
        let (v, _) = self.admit(2, v, NO_UPSTREAM);
        if let Some(h) = self.times.get(&v) {
            return h.clone();
        }
        let labels = VhostLabels {
            log: self.log.clone(),
            vhost: self.vhosts.name(v).into(),
        };
        let h = self.m.response_time.get_or_create(&labels).clone();
        self.remember(v, NO_UPSTREAM, Series::Time(labels));
        self.times.insert(v, h.clone());
        h
    }

    /// The counter of one upstream try, for a (vhost, upstream, status) not seen yet.
    fn new_attempt(&mut self, v: u32, u: u32, status: u16) -> Counter {
        let (v, u) = self.admit(3, v, u);
        if let Some(c) = self.tries.get(&(v, u, status)) {
            return c.clone();
        }
        let labels = TryLabels {
            log: self.log.clone(),
            vhost: self.vhosts.name(v).into(),
            upstream: self.upstreams.name(u).into(),
            status: status_text(status),
        };
        let c = self.m.tries.get_or_create(&labels).clone();
        self.remember(v, u, Series::Try(labels));
        self.tries.insert((v, u, status), c.clone());
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::exposition::{Format, encode_registry};
    use crate::logs::OVERFLOW;
    use prometheus_client::registry::Registry;

    fn limits(values: usize) -> Limits {
        Limits {
            values,
            value_bytes: 128,
            series: 10_000,
            ttl: 3600,
        }
    }

    fn registry() -> (Registry, Arc<LogMetrics>) {
        let mut r = Registry::with_prefix("gateway");
        let m = Arc::new(LogMetrics::register(&mut r));
        (r, m)
    }

    /// A labeler whose families hold 3 series each at most.
    fn capped_at_three_series() -> (Registry, Labeler) {
        let (r, m) = registry();
        let limits = Limits {
            series: 3,
            ..limits(100)
        };
        (r, Labeler::new("t", limits, m))
    }

    fn sum(text: &str, family: &str, needle: &str) -> f64 {
        text.lines()
            .filter(|l| l.starts_with(&format!("{family}{{")) && l.contains(needle))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
            .sum()
    }

    #[test]
    fn hostile_host_headers_stay_bounded() {
        let (r, m) = registry();
        let mut l = Labeler::new("t", limits(1000), m);
        // 3,000 distinct 8 KB Host headers: once 8 MB of /metrics, now cut to 128 bytes each.
        for i in 0..3000 {
            let host = format!("{i:05}{}", "x".repeat(8 * 1024));
            l.access(&Access {
                vhost: host.as_bytes(),
                status: 200,
                ..Access::default()
            });
        }
        let text = encode_registry(&r, Format::Text004);
        // Two series per vhost (its responses and its requests), 1,000 cut values each.
        assert!(text.len() < 400 * 1024, "{} bytes", text.len());
        assert!(
            text.contains("xxx…\",status=\"200\"} 1"),
            "cut values are marked"
        );
        assert_eq!(
            sum(
                &text,
                "gateway_http_responses_total",
                "vhost=\"__overflow__\""
            ),
            2000.0
        );
        assert!(l.raw_errors.is_empty() && l.vhosts.values().count() == 1000);
    }

    #[test]
    fn series_per_family_are_capped() {
        let (r, mut l) = capped_at_three_series();
        for u in 0..10 {
            l.error(Cause::Reset, b"v", format!("10.0.0.{u}:80").as_bytes());
        }
        let text = encode_registry(&r, Format::Text004);
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with("gateway_upstream_errors_total{"))
                .count(),
            4,
            "3 series and the overflow one:\n{text}"
        );
        assert_eq!(
            sum(
                &text,
                "gateway_upstream_errors_total",
                "upstream=\"__overflow__\""
            ),
            7.0
        );
        assert_eq!(
            sum(
                &text,
                "gateway_log_cardinality_overflow_total",
                "label=\"series\""
            ),
            7.0
        );
    }

    /// `gateway_http_requests_total` of a vhost is the sum of its responses, also when the
    /// series cap folds some statuses into `__overflow__` (their requests are counted there).
    #[test]
    fn requests_are_the_sum_of_the_responses_of_their_vhost() {
        let (r, mut l) = capped_at_three_series();
        let statuses = [200, 200, 502, 404, 200, 503, 500, 200];
        for vhost in [&b"a"[..], b"b"] {
            for status in statuses {
                l.access(&Access {
                    vhost,
                    status,
                    ..Access::default()
                });
            }
        }
        let text = encode_registry(&r, Format::Text004);
        for vhost in ["a", "b", OVERFLOW] {
            let needle = format!("vhost=\"{vhost}\"");
            assert_eq!(
                sum(&text, "gateway_http_requests_total", &needle),
                sum(&text, "gateway_http_responses_total", &needle),
                "{vhost}:\n{text}"
            );
        }
        assert_eq!(sum(&text, "gateway_http_requests_total", ""), 16.0);
        assert_eq!(
            sum(&text, "gateway_http_requests_total", "vhost=\"a\""),
            6.0,
            "200 (4 times), 502 and 404 of a fit under the cap of 3 response series:\n{text}"
        );
    }

    #[test]
    fn values_unseen_for_the_ttl_give_their_slot_to_later_ones() {
        let (r, m) = registry();
        let mut l = Labeler::new(
            "t",
            Limits {
                ttl: 100,
                ..limits(2)
            },
            m,
        );
        let access = |l: &mut Labeler, vhost: &[u8]| {
            l.access(&Access {
                vhost,
                status: 502,
                upstream_addr: b"10.0.0.1:80",
                upstream_status: b"502",
                upstream_time: Some(0.1),
            })
        };
        access(&mut l, b"old-a");
        access(&mut l, b"old-b");
        l.error(Cause::Reset, b"old-a", b"10.0.0.1:80");
        access(&mut l, b"late"); // over the cap: folded
        l.sweep(50);
        access(&mut l, b"old-b"); // still in use
        l.error(Cause::Reset, b"old-b", b"10.0.0.1:80");
        l.sweep(120); // old-a unseen for 120 s: freed with its series
        access(&mut l, b"late");
        let text = encode_registry(&r, Format::Text004);
        assert!(!text.contains("old-a"), "{text}");
        assert_eq!(
            sum(&text, "gateway_http_responses_total", "vhost=\"old-b\""),
            2.0
        );
        assert_eq!(
            sum(&text, "gateway_http_responses_total", "vhost=\"late\""),
            1.0
        );
        assert_eq!(
            sum(&text, "gateway_upstream_errors_total", "vhost=\"old-b\""),
            1.0
        );
        assert_eq!(
            sum(
                &text,
                "gateway_http_responses_total",
                "vhost=\"__overflow__\""
            ),
            1.0
        );
    }

    #[test]
    fn cap_folds_new_values_into_overflow() {
        let (r, m) = registry();
        let mut l = Labeler::new("t", limits(2), m);
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
        let (r, m) = registry();
        let mut l = Labeler::new("t", limits(10), m);
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

    #[test]
    fn app_errors_are_born_per_vhost_and_leave_with_it() {
        const CAUSES: [AppCause; 2] = [AppCause::Database, AppCause::PhpFatal];
        let (r, m) = registry();
        m.born("t", &[], &CAUSES);
        let mut l = Labeler::new(
            "t",
            Limits {
                ttl: 100,
                ..limits(10)
            },
            m.clone(),
        )
        .with_app_causes(&CAUSES);
        l.app_error(AppCause::Database, b"shop");
        l.app_error(AppCause::Database, b"shop");
        l.app_error(AppCause::WorkerCrash, b"-");
        let text = encode_registry(&r, Format::Text004);
        let app = |vhost: &str, cause: &str| {
            let needle = format!(
                "gateway_app_errors_total{{log=\"t\",vhost=\"{vhost}\",cause=\"{cause}\"}} "
            );
            text.lines()
                .find_map(|line| line.strip_prefix(&needle)?.parse::<f64>().ok())
        };
        assert_eq!(app("shop", "database"), Some(2.0), "{text}");
        assert_eq!(
            app("shop", "php_fatal"),
            Some(0.0),
            "born beside it: {text}"
        );
        assert_eq!(app("-", "database"), Some(0.0), "born with the log: {text}");
        assert_eq!(app("-", "worker_crash"), Some(1.0), "{text}");
        l.sweep(200); // `shop` unseen for the ttl: its series go, the log's stay
        let text = encode_registry(&r, Format::Text004);
        assert!(!text.contains("vhost=\"shop\""), "{text}");
        assert!(text.contains("vhost=\"-\",cause=\"database\"} 0"), "{text}");
        l.forget();
        let text = encode_registry(&r, Format::Text004);
        assert!(!text.contains("gateway_app_errors_total{"), "{text}");
    }
}
