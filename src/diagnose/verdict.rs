//! The verdict: from what the walk found (the probe and its fingerprint, the origin, the
//! logs, connect tests, pools, flags) to one cause, the upstream or pool, the evidence, the
//! fix steps and the runbook. Pure: the walk gathers, this decides.

use super::host::{HostState, PoolState};
use super::logscan::{ErrorGroup, LogSummary};
use super::runbooks;
use crate::logs::cause::Cause as LogCause;
use crate::probe::fingerprint::Layer;
use crate::probe::http::{Outcome, Reason, Trace};
use serde::Serialize;

/// What a verdict blames. One label string each (`as_str`), one runbook each.
///
/// A new kind of cause (issue 18's app causes: database, memory, ...) is one variant here,
/// its label, its runbook and where [`judge_probe`] finds its evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// Nothing wrong.
    None,
    /// No response at all: DNS, connect, TLS, timeout, reset (the probe's reason).
    Unreachable(Reason),
    /// A response, but not one the probe accepts, and not a 5xx (404, body mismatch).
    ProbeFailed(Reason),
    /// The CDN generated the error while the origin answers.
    Cdn,
    /// A maintenance flag is on.
    Maintenance,
    /// The web server's log says why its upstream failed.
    Upstream(LogCause),
    /// Every worker of the pool behind the upstream is busy.
    PoolSaturated,
    /// The pool's status cannot be read: it is down.
    PoolDown,
    /// A configured upstream refuses the exporter's connect test.
    UpstreamDown,
    /// The app itself answered with the 5xx.
    App,
    /// A 5xx nothing else explains.
    Unexplained,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::None => "none",
            Cause::Unreachable(r) | Cause::ProbeFailed(r) => r.as_str(),
            Cause::Cdn => "cdn",
            Cause::Maintenance => "maintenance",
            Cause::Upstream(c) => c.as_str(),
            Cause::PoolSaturated => "pool_saturated",
            Cause::PoolDown => "pool_down",
            Cause::UpstreamDown => "upstream_down",
            Cause::App => "app_error",
            Cause::Unexplained => "unexplained",
        }
    }

    /// The alert (and runbook) for this cause.
    pub fn runbook(self) -> Option<&'static str> {
        Some(match self {
            Cause::None => return None,
            Cause::Unreachable(
                Reason::Dns
                | Reason::ConnectRefused
                | Reason::ConnectTimeout
                | Reason::ConnectError
                | Reason::Tls,
            ) => "GatewayProbeConnectFailed",
            Cause::Unreachable(_) | Cause::ProbeFailed(_) => "GatewayProbeFailing",
            Cause::Cdn => "GatewayProbeCdnFailing",
            Cause::Maintenance => "GatewayMaintenanceMode",
            Cause::Upstream(c) => upstream_runbook(c),
            Cause::PoolSaturated => "GatewayWorkerPoolSaturated",
            Cause::PoolDown => "GatewayWorkerPoolDown",
            Cause::UpstreamDown => "GatewayUpstreamDown",
            Cause::App | Cause::Unexplained => "GatewayProbe5xx",
        })
    }

    /// The cause in words.
    pub fn explain(self) -> &'static str {
        match self {
            Cause::None => "the site answers as expected",
            Cause::Unreachable(Reason::Dns) => "the site's name does not resolve",
            Cause::Unreachable(Reason::ConnectRefused) => "nothing listens at the site's address",
            Cause::Unreachable(Reason::ConnectTimeout) => {
                "the site does not accept connections in time"
            }
            Cause::Unreachable(Reason::Tls) => "the TLS handshake with the site failed",
            Cause::Unreachable(Reason::Timeout) => "no complete answer within the probe's timeout",
            Cause::Unreachable(_) => "the connection broke before a complete answer",
            Cause::ProbeFailed(_) => "the answer is not the one the probe expects",
            Cause::Cdn => "the CDN generated the error while the origin answers",
            Cause::Maintenance => "a maintenance flag is on",
            Cause::Upstream(c) => upstream_words(c),
            Cause::PoolSaturated => {
                "every worker of the pool is busy: requests queue, then time out"
            }
            Cause::PoolDown => "the worker pool does not answer its status page: it is down",
            Cause::UpstreamDown => "the upstream refuses the exporter's connect test",
            Cause::App => "the app answered with the error itself (the proxy only passed it on)",
            Cause::Unexplained => "no log line, pool or check explains it",
        }
    }
}

fn upstream_runbook(cause: LogCause) -> &'static str {
    match cause {
        LogCause::ConnectRefused => "GatewayUpstreamConnectionRefused",
        LogCause::ConnectTimeout => "GatewayUpstreamConnectTimeout",
        LogCause::SocketMissing => "GatewayUpstreamSocketMissing",
        LogCause::SocketPermission => "GatewayUpstreamSocketPermission",
        LogCause::BacklogFull => "GatewayUpstreamBacklogFull",
        LogCause::Timeout => "GatewayUpstreamTimeout",
        LogCause::Reset | LogCause::PrematureClose => "GatewayUpstreamConnectionReset",
        LogCause::NoLiveUpstreams => "GatewayNoLiveUpstreams",
        LogCause::HeaderTooBig => "GatewayUpstreamHeaderTooBig",
        LogCause::InvalidResponse => "GatewayUpstreamInvalidResponse",
        LogCause::SslHandshake => "GatewayUpstreamTLSError",
        LogCause::Dns => "GatewayUpstreamDNSError",
        LogCause::RateLimited => "GatewayRateLimiting",
        // Envoy's UO: too many pending requests or connections, the queue's cousin.
        LogCause::QueueTimeout | LogCause::CircuitOpen => "GatewayUpstreamQueueTimeout",
    }
}

fn upstream_words(cause: LogCause) -> &'static str {
    match cause {
        LogCause::ConnectRefused => {
            "the upstream refuses connections: nothing listens at its address"
        }
        LogCause::ConnectTimeout => "the upstream does not accept connections in time",
        LogCause::SocketMissing => "the upstream's unix socket does not exist",
        LogCause::SocketPermission => "the web server may not open the upstream's socket",
        LogCause::BacklogFull => "the upstream's listen queue is full",
        LogCause::Timeout => "the upstream accepted the request but did not answer in time",
        LogCause::Reset => "the upstream reset the connection",
        LogCause::PrematureClose => "the upstream closed the connection before a full answer",
        LogCause::NoLiveUpstreams => "every server of the upstream group is marked down",
        LogCause::HeaderTooBig => "the upstream's response headers exceed the proxy's buffer",
        LogCause::InvalidResponse => "the upstream sent an invalid response",
        LogCause::SslHandshake => "TLS between the proxy and the upstream failed",
        LogCause::Dns => "the upstream's name does not resolve",
        LogCause::RateLimited => "the web server's rate limit refused the requests",
        LogCause::QueueTimeout => "requests waited too long in the proxy's queue",
        LogCause::CircuitOpen => {
            "the proxy's circuit breaker for the upstream is open: too many pending requests or connections"
        }
    }
}

/// One step of the walk, as the guides list them.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    pub step: &'static str,
    pub ok: bool,
    pub detail: String,
}

/// The verdict on one probe or one failing source.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// `probe <name>`, `pool <name>`, `upstream <addr>`, `log <name>`, `maintenance <path>`.
    pub subject: String,
    pub url: Option<String>,
    pub healthy: bool,
    /// The status code the client gets; 0 when no response arrived.
    pub status: u16,
    /// The layer and vendor that generated the error (fingerprint).
    pub layer: &'static str,
    pub vendor: &'static str,
    /// What the fingerprint read: headers and the tell-tale part of the body.
    pub fingerprint: Vec<String>,
    #[serde(serialize_with = "cause_label")]
    pub cause: Cause,
    pub upstream: Option<String>,
    pub pool: Option<String>,
    /// The verdict in one sentence.
    pub summary: String,
    /// Real log lines and check results.
    pub evidence: Vec<String>,
    /// Reloads, restarts, worker exits seen shortly before.
    pub changes_before: Vec<String>,
    /// The runbook's Mitigation steps.
    pub fix: Vec<String>,
    pub runbook: Option<&'static str>,
    pub walk: Vec<Step>,
}

fn cause_label<S: serde::Serializer>(cause: &Cause, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(cause.as_str())
}

impl Finding {
    fn new(subject: String, cause: Cause) -> Finding {
        Finding {
            subject,
            url: None,
            healthy: cause == Cause::None,
            status: 0,
            layer: Layer::Unknown.as_str(),
            vendor: "unknown",
            fingerprint: Vec::new(),
            cause,
            upstream: None,
            pool: None,
            summary: String::new(),
            evidence: Vec::new(),
            changes_before: Vec::new(),
            fix: Vec::new(),
            runbook: None,
            walk: Vec::new(),
        }
    }

    /// Set the cause, and with it the runbook and its fix steps.
    fn blame(&mut self, cause: Cause) {
        self.cause = cause;
        self.healthy = cause == Cause::None;
        self.runbook = cause.runbook();
        self.fix = self.runbook.map(runbooks::mitigation).unwrap_or_default();
    }

    fn step(&mut self, step: &'static str, ok: bool, detail: String) {
        self.walk.push(Step { step, ok, detail });
    }
}

/// The result of a connect test of an upstream the logs named.
#[derive(Clone, Debug, Serialize)]
pub struct ConnectCheck {
    pub upstream: String,
    /// None when the connect worked, else `reason: detail`.
    pub failure: Option<String>,
}

/// What the walk learned about one probe target.
pub struct Probed<'a> {
    pub name: &'a str,
    pub url: &'a str,
    /// The site as the logs name it.
    pub vhost: &'a str,
    pub public: &'a Trace,
    /// The same request sent to the origin, when one is configured.
    pub origin: Option<(&'a str, &'a Trace)>,
}

/// Everything the walk read besides the probes.
pub struct Context<'a> {
    pub logs: &'a LogSummary,
    pub checks: &'a [ConnectCheck],
    pub host: &'a HostState,
}

fn outcome(trace: &Trace) -> Option<&Outcome> {
    trace.outcome.as_ref()
}

/// The headers and body parts that tell who generated a response.
pub fn fingerprint_evidence(trace: &Trace) -> Vec<String> {
    let Some((_, headers, body)) = &trace.response else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for name in [
        "server",
        "via",
        "x-powered-by",
        "cf-ray",
        "x-cache",
        "x-served-by",
        "x-amz-cf-id",
        "x-envoy-upstream-service-time",
        "x-azure-ref",
    ] {
        for value in headers.get_all(name) {
            out.push(format!(
                "{name}: {}",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
    }
    let body = String::from_utf8_lossy(body);
    let telling = body
        .lines()
        .map(str::trim)
        .filter(|l| {
            let lower = l.to_ascii_lowercase();
            lower.contains("<title>") || lower.contains("<center>") || lower.contains("<h1>")
        })
        .take(3);
    for line in telling {
        out.push(format!(
            "body: {}",
            line.chars().take(160).collect::<String>()
        ));
    }
    if out.is_empty() && !body.trim().is_empty() {
        let start: String = body.trim().chars().take(120).collect();
        out.push(format!("body: {start}"));
    }
    out
}

fn walk_of(trace: &Trace, f: &mut Finding) {
    let Some(o) = outcome(trace) else {
        f.step("probe", false, "the probe did not run (deadline)".into());
        return;
    };
    let no_answer = o.status == 0;
    match (o.ip, o.reason) {
        (None, Some(Reason::Dns)) => f.step("dns", false, "the name does not resolve".into()),
        (Some(ip), _) => f.step("dns", true, format!("{ip}")),
        _ => {}
    }
    if o.ip.is_some() {
        let failed = matches!(
            o.reason,
            Some(Reason::ConnectRefused | Reason::ConnectTimeout | Reason::ConnectError)
        );
        let detail = match o.reason {
            Some(r) if failed => r.as_str().to_string(),
            _ => format!("{:.1} ms", o.phases.connect.as_secs_f64() * 1000.0),
        };
        f.step("connect", !failed, detail);
    }
    if o.tls || o.reason == Some(Reason::Tls) {
        let expiry = o.cert_expiry.map(|t| {
            let days = (t - crate::base::clock::unix_now() as i64) / 86400;
            format!(", certificate expires in {days} days")
        });
        let detail = format!(
            "{}{}",
            o.tls_version.unwrap_or("handshake failed"),
            expiry.unwrap_or_default()
        );
        f.step("tls", o.reason != Some(Reason::Tls), detail);
    }
    if no_answer {
        if let Some(r) = o.reason.filter(|r| !matches!(r, Reason::Dns | Reason::Tls)) {
            f.step("response", false, r.as_str().into());
        }
    } else {
        f.step(
            "status",
            o.success(),
            format!(
                "{} in {:.0} ms",
                o.status,
                o.duration.as_secs_f64() * 1000.0
            ),
        );
    }
}

/// The verdict on one probe target.
pub fn judge_probe(p: &Probed<'_>, cx: &Context<'_>) -> Finding {
    let mut f = Finding::new(format!("probe {}", p.name), Cause::None);
    f.url = Some(p.url.to_string());
    walk_of(p.public, &mut f);
    let Some(public) = outcome(p.public) else {
        f.blame(Cause::Unreachable(Reason::Timeout));
        f.summary = "the walk's deadline passed before the probe finished".into();
        return f;
    };
    f.status = public.status;
    f.layer = public.fingerprint.layer.as_str();
    f.vendor = public.fingerprint.vendor.as_str();
    f.fingerprint = fingerprint_evidence(p.public);
    let Some(reason) = public.reason else {
        f.blame(Cause::None);
        f.summary = format!("{} answers {} as expected", p.url, public.status);
        return f;
    };
    if public.fingerprint.layer != Layer::Unknown {
        f.step(
            "fingerprint",
            false,
            format!("generated by {} ({} layer)", f.vendor, f.layer),
        );
    }
    // The error as the origin sees it, when a CDN answered and an origin is configured.
    let mut judged = public;
    if let Some((origin, trace)) = p.origin
        && let Some(o) = outcome(trace)
    {
        let detail = match o.reason {
            None => format!("{origin} answers {}", o.status),
            Some(r) => format!("{origin}: {} (status {})", r.as_str(), o.status),
        };
        f.step("origin", o.success(), detail);
        if public.fingerprint.layer == Layer::Cdn && o.success() {
            f.blame(Cause::Cdn);
            f.summary = format!(
                "{} {} generated by {}: {}",
                public.status,
                status_text(public.status),
                f.vendor,
                Cause::Cdn.explain()
            );
            return f;
        }
        if public.fingerprint.layer == Layer::Cdn {
            judged = o;
            f.evidence.push(format!(
                "the origin fails too: the CDN passes on its {}",
                o.status
            ));
        }
    }
    let cause = if judged.status == 0 {
        Cause::Unreachable(judged.reason.unwrap_or(reason))
    } else if judged.status < 500 && judged.reason.is_some() {
        Cause::ProbeFailed(judged.reason.unwrap_or(reason))
    } else if judged.status == 503 && maintenance_for(p, cx.host, &mut f) {
        Cause::Maintenance
    } else if judged.fingerprint.layer == Layer::Cdn {
        Cause::Cdn
    } else if judged.fingerprint.layer == Layer::App {
        if let Some(app) = judged.app_cause {
            f.evidence.push(format!(
                "the error page names the app cause: {}",
                app.as_str()
            ));
        }
        Cause::App
    } else {
        behind_the_proxy(p.vhost, cx, &mut f)
    };
    f.blame(cause);
    changes_before(cx.logs, &mut f);
    let by = if judged.fingerprint.vendor.as_str() == "unknown" {
        String::new()
    } else {
        format!(
            " generated by {} ({} layer)",
            judged.fingerprint.vendor.as_str(),
            judged.fingerprint.layer.as_str()
        )
    };
    let at = match (&f.upstream, &f.pool) {
        (_, Some(pool)) => format!(", pool {pool}"),
        (Some(u), None) => format!(", upstream {u}"),
        _ => String::new(),
    };
    let answer = if judged.status == 0 {
        "no response".to_string()
    } else {
        format!("{} {}", judged.status, status_text(judged.status))
    };
    f.summary = format!("{answer}{by}: {}{at}", cause.explain());
    f
}

fn status_text(status: u16) -> &'static str {
    hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

/// A maintenance flag on for this probe (its target or vhost, or a flag for every site).
fn maintenance_for(p: &Probed<'_>, host: &HostState, f: &mut Finding) -> bool {
    let on: Vec<_> = host
        .maintenance
        .iter()
        .filter(|m| {
            (m.target.is_empty() && m.vhost.is_empty()) || m.target == p.name || m.vhost == p.vhost
        })
        .collect();
    for m in &on {
        f.evidence
            .push(format!("maintenance flag {} exists", m.path));
        f.step("maintenance", false, format!("{} exists", m.path));
    }
    !on.is_empty()
}

/// A 5xx the proxy generated: the logs say why, connect tests and pools confirm.
fn behind_the_proxy(vhost: &str, cx: &Context<'_>, f: &mut Finding) -> Cause {
    let groups: Vec<&ErrorGroup> = {
        let of_vhost: Vec<&ErrorGroup> =
            cx.logs.errors.iter().filter(|g| g.vhost == vhost).collect();
        if of_vhost.is_empty() {
            cx.logs.errors.iter().collect()
        } else {
            of_vhost
        }
    };
    if let Some(top) = groups.first() {
        f.step(
            "logs",
            false,
            format!("{} × {} in log {}", top.count, top.cause.as_str(), top.log),
        );
        for g in groups.iter().take(3) {
            f.evidence.push(format!(
                "log {}: {} × {}, vhost {}, upstream {}",
                g.log,
                g.count,
                g.cause.as_str(),
                or_dash(&g.vhost),
                or_dash(&g.upstream)
            ));
            f.evidence.extend(g.lines.iter().map(|l| format!("  {l}")));
        }
        let upstream = named(&top.upstream);
        if let Some(u) = &upstream {
            check_evidence(u, cx, f);
        }
        f.upstream = upstream.clone();
        let pool = upstream.as_deref().and_then(|u| cx.host.pool_for(u));
        if let Some(pool) = pool {
            pool_evidence(pool, f);
            let waits = matches!(
                top.cause,
                LogCause::Timeout
                    | LogCause::BacklogFull
                    | LogCause::QueueTimeout
                    | LogCause::ConnectTimeout
            );
            if waits && pool.saturated() {
                return Cause::PoolSaturated;
            }
        }
        return Cause::Upstream(top.cause);
    }
    f.step("logs", true, "no upstream failure in the window".into());
    for a in cx.logs.access_5xx.iter().take(2) {
        f.evidence.push(format!(
            "log {}: {} × {}, vhost {}, upstream {}",
            a.log,
            a.count,
            a.status,
            or_dash(&a.vhost),
            or_dash(&a.upstream)
        ));
        f.evidence.extend(a.lines.iter().map(|l| format!("  {l}")));
    }
    if let Some(pool) = cx.host.pools.iter().find(|p| p.saturated()) {
        pool_evidence(pool, f);
        return Cause::PoolSaturated;
    }
    if let Some(pool) = cx.host.pools.iter().find(|p| !p.up) {
        pool_evidence(pool, f);
        return Cause::PoolDown;
    }
    if let Some(u) = cx.host.upstreams.iter().find(|u| !u.up) {
        f.upstream = Some(u.upstream.clone());
        let reason = u.reason.as_deref().unwrap_or("down");
        f.evidence
            .push(format!("connect test {}: {reason}", u.upstream));
        f.step("upstream", false, format!("{}: {reason}", u.upstream));
        return LogCause::ALL
            .into_iter()
            .find(|c| c.as_str() == reason)
            .map_or(Cause::UpstreamDown, Cause::Upstream);
    }
    Cause::Unexplained
}

/// An upstream the log names (`-` and empty name none: rate limits, nginx's own refusals).
fn named(upstream: &str) -> Option<String> {
    (!upstream.is_empty() && upstream != "-").then(|| upstream.to_string())
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

fn check_evidence(upstream: &str, cx: &Context<'_>, f: &mut Finding) {
    if let Some(c) = cx.checks.iter().find(|c| c.upstream == upstream) {
        let detail = match &c.failure {
            None => format!("{upstream} accepts connections now"),
            Some(why) => format!("{upstream}: {why}"),
        };
        f.step("upstream", c.failure.is_none(), detail.clone());
        f.evidence.push(format!("connect test {detail}"));
    }
}

fn pool_evidence(pool: &PoolState, f: &mut Finding) {
    f.pool = Some(pool.pool.clone());
    let ok = pool.up && !pool.saturated();
    f.step("pool", ok, pool.describe());
    f.evidence.push(pool.describe());
}

/// Reloads, restarts and worker exits in the window, latest last.
fn changes_before(logs: &LogSummary, f: &mut Finding) {
    for e in logs.events.iter().rev().take(5).rev() {
        f.changes_before
            .push(format!("{} in log {}: {}", e.event.as_str(), e.log, e.line));
    }
}

/// Verdicts on the sources that fail on their own: pools, upstreams, flags, and log
/// failures that no probe verdict already names.
pub fn judge_sources(cx: &Context<'_>, judged: &[Finding]) -> Vec<Finding> {
    let mut out = Vec::new();
    for pool in &cx.host.pools {
        let cause = if !pool.up {
            Cause::PoolDown
        } else if pool.saturated() {
            Cause::PoolSaturated
        } else {
            continue;
        };
        let mut f = Finding::new(format!("pool {}", pool.pool), cause);
        pool_evidence(pool, &mut f);
        f.upstream = pool.upstream.clone();
        f.blame(cause);
        f.summary = format!("{}: {}", pool.describe(), cause.explain());
        out.push(f);
    }
    for u in cx.host.upstreams.iter().filter(|u| !u.up) {
        let mut f = Finding::new(format!("upstream {}", u.upstream), Cause::UpstreamDown);
        f.upstream = Some(u.upstream.clone());
        let reason = u.reason.as_deref().unwrap_or("down");
        f.evidence
            .push(format!("connect test {}: {reason}", u.upstream));
        f.blame(Cause::UpstreamDown);
        f.summary = format!("{}: {reason}", u.upstream);
        out.push(f);
    }
    for m in &cx.host.maintenance {
        let mut f = Finding::new(format!("maintenance {}", m.path), Cause::Maintenance);
        f.evidence.push(format!("{} exists", m.path));
        f.blame(Cause::Maintenance);
        f.summary = format!("maintenance flag {} is on", m.path);
        out.push(f);
    }
    for g in &cx.logs.errors {
        let explained = judged.iter().any(|f| {
            f.cause == Cause::Upstream(g.cause) && f.upstream.as_deref() == Some(&g.upstream)
        });
        if explained || out.len() >= 16 {
            continue;
        }
        let cause = Cause::Upstream(g.cause);
        let mut f = Finding::new(format!("log {}", g.log), cause);
        f.upstream = named(&g.upstream);
        f.evidence.extend(g.lines.iter().cloned());
        if let Some(u) = named(&g.upstream) {
            check_evidence(&u, cx, &mut f);
        }
        f.blame(cause);
        f.summary = format!(
            "{} × {} for vhost {}, upstream {}: {}",
            g.count,
            g.cause.as_str(),
            or_dash(&g.vhost),
            or_dash(&g.upstream),
            cause.explain()
        );
        out.push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cause_has_a_runbook_that_is_embedded() {
        let mut causes = vec![
            Cause::Cdn,
            Cause::Maintenance,
            Cause::PoolSaturated,
            Cause::PoolDown,
            Cause::UpstreamDown,
            Cause::App,
            Cause::Unexplained,
            Cause::Unreachable(Reason::Dns),
            Cause::Unreachable(Reason::Timeout),
            Cause::ProbeFailed(Reason::BodyMismatch),
        ];
        causes.extend(LogCause::ALL.map(Cause::Upstream));
        for cause in causes {
            let runbook = cause.runbook().unwrap();
            assert!(
                runbooks::markdown(runbook).is_some(),
                "{} -> {runbook}: no such runbook",
                cause.as_str()
            );
        }
        assert_eq!(Cause::None.runbook(), None);
    }
}
