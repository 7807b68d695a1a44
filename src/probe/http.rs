//! One HTTP probe: resolve, connect, TLS, request, response, body, each phase timed and
//! bounded by one deadline, redirects and body size capped. Never panics on what a server
//! sends; every failure becomes a [`Reason`].

use super::app_cause::{self, AppCause};
use super::config::{HeaderMatch, HttpSettings, ProbeEndpointConfig, http_method};
use super::fingerprint::{self, Fingerprint};
use super::tls;
use crate::base::http1::{self, Stream};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{self, HeaderMap, HeaderValue};
use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::time::timeout_at;
use url::Url;

/// Why a probe failed. Label strings are the `reason` vocabulary of docs/metrics.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    Dns,
    ConnectRefused,
    ConnectTimeout,
    ConnectError,
    Tls,
    Timeout,
    Reset,
    PrematureClose,
    InvalidResponse,
    TooManyRedirects,
    HttpStatus,
    BodyMismatch,
    SslRequired,
    SslForbidden,
    HeaderMismatch,
    /// `/probe` only: a body longer than the module's `body_size_limit`, as blackbox fails it.
    BodyTooLarge,
    /// `/probe` only: a redirect hop or a resolved address outside the allow-list.
    NotAllowed,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Dns => "dns",
            Reason::ConnectRefused => "connect_refused",
            Reason::ConnectTimeout => "connect_timeout",
            Reason::ConnectError => "connect_error",
            Reason::Tls => "tls",
            Reason::Timeout => "timeout",
            Reason::Reset => "reset",
            Reason::PrematureClose => "premature_close",
            Reason::InvalidResponse => "invalid_response",
            Reason::TooManyRedirects => "too_many_redirects",
            Reason::HttpStatus => "http_status",
            Reason::BodyMismatch => "body_mismatch",
            Reason::SslRequired => "ssl_required",
            Reason::SslForbidden => "ssl_forbidden",
            Reason::HeaderMismatch => "header_mismatch",
            Reason::BodyTooLarge => "body_too_large",
            Reason::NotAllowed => "not_allowed",
        }
    }
}

/// What to probe: the URL as users reach it, optionally sent to another address.
#[derive(Clone, Debug)]
pub struct Target {
    pub url: Url,
    /// Connect here instead of the URL's host (keeping Host and SNI): the origin bypass.
    pub connect_to: Option<(String, u16)>,
    /// Host header and SNI override (`hostname=` on `/probe`).
    pub host_override: Option<String>,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Phases {
    pub resolve: Duration,
    pub connect: Duration,
    pub tls: Duration,
    pub processing: Duration,
    pub transfer: Duration,
}

impl Phases {
    pub fn named(&self) -> [(&'static str, Duration); 5] {
        [
            ("resolve", self.resolve),
            ("connect", self.connect),
            ("tls", self.tls),
            ("processing", self.processing),
            ("transfer", self.transfer),
        ]
    }
}

/// Everything one probe learned.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Final status code; 0 when no response arrived.
    pub status: u16,
    pub phases: Phases,
    pub duration: Duration,
    pub reason: Option<Reason>,
    /// Who generated the failure (unknown when nothing answered).
    pub fingerprint: Fingerprint,
    /// What the failing response's page says went wrong in the app.
    pub app_cause: Option<AppCause>,
    pub content_length: Option<u64>,
    pub body_length: usize,
    pub redirects: usize,
    pub tls: bool,
    pub http_version: f64,
    pub ip: Option<IpAddr>,
    pub failed_due_to_regex: bool,
    /// Earliest `notAfter` (Unix seconds) of the certificates the server presented.
    pub cert_expiry: Option<i64>,
    /// Negotiated TLS version, e.g. `TLS 1.3`.
    pub tls_version: Option<&'static str>,
    /// Headers of the last response.
    pub headers: HeaderMap,
}

impl Outcome {
    pub fn success(&self) -> bool {
        self.reason.is_none()
    }

    fn new() -> Self {
        Outcome {
            status: 0,
            phases: Phases::default(),
            duration: Duration::ZERO,
            reason: None,
            fingerprint: Fingerprint::UNKNOWN,
            app_cause: None,
            content_length: None,
            body_length: 0,
            redirects: 0,
            tls: false,
            http_version: 0.0,
            ip: None,
            failed_due_to_regex: false,
            cert_expiry: None,
            tls_version: None,
            headers: HeaderMap::new(),
        }
    }
}

/// The response of one hop, body truncated at the limit.
struct Hop {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
    content_length: Option<u64>,
    body_length: usize,
    version: f64,
    /// The body did not arrive in full before the deadline or the connection broke.
    body_error: Option<Reason>,
}

tokio::task_local! {
    static TRACE: RefCell<Trace>;
}

/// What the probes run under [`traced`] wrote down (`/probe?debug=true`, `diagnose`).
#[derive(Clone, Debug, Default)]
pub struct Trace {
    /// The probe's own log: phases, headers, redirects, the verdict.
    pub log: Vec<String>,
    /// The last response: status, headers and the start of its body (fingerprint evidence).
    pub response: Option<(u16, HeaderMap, Vec<u8>)>,
    pub outcome: Option<Outcome>,
}

/// Bytes of the last response's body a [`Trace`] keeps.
const TRACED_BODY: usize = 4096;

/// Run `f` with every probe inside it writing its [`Trace`]; untraced probes note nothing.
pub async fn traced<F: Future>(f: F) -> (F::Output, Trace) {
    TRACE
        .scope(RefCell::new(Trace::default()), async {
            let output = f.await;
            (output, TRACE.with(|t| t.take()))
        })
        .await
}

fn note(line: impl FnOnce() -> String) {
    let _ = TRACE.try_with(|t| t.borrow_mut().log.push(line()));
}

/// Probe `target` with `settings`, all within `timeout`, going wherever redirects lead:
/// the scheduled probes are written by the operator and trusted.
pub async fn probe(target: &Target, settings: &HttpSettings, timeout: Duration) -> Outcome {
    probe_within(target, settings, timeout, None).await
}

/// As [`probe`], but when `allowed` is given every hop's host and the address each hop
/// connects to must pass it (`/probe`: the target comes from whoever can reach us).
pub async fn probe_within(
    target: &Target,
    settings: &HttpSettings,
    timeout: Duration,
    allowed: Option<&ProbeEndpointConfig>,
) -> Outcome {
    note(|| {
        let via = target.connect_to.as_ref();
        let via = via
            .map(|(h, p)| format!(" via {h}:{p}"))
            .unwrap_or_default();
        format!(
            "Beginning probe of {}{via}, timeout {timeout:?}",
            target.url
        )
    });
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut out = Outcome::new();
    let mut url = target.url.clone();
    let mut method = http_method(&settings.method).unwrap_or(hyper::Method::GET);
    let mut body = settings.body.clone().unwrap_or_default();
    let mut connect_to = target.connect_to.clone();
    // `hostname=` goes with the first request and with relative redirects (Go's rule).
    let mut relative = true;
    let result = loop {
        let override_for = |applies: bool| target.host_override.as_deref().filter(|_| applies);
        let hop_request = HopRequest {
            url: &url,
            method: &method,
            body: &body,
            connect_to: connect_to.as_ref(),
            allowed,
            credentials: same_site(&target.url, &url),
            host_override: override_for(relative),
            // blackbox sends it as SNI only to the first address.
            sni_override: override_for(same_address(&target.url, &url)),
        };
        let hop = match request(hop_request, settings, deadline, &mut out).await {
            Ok(hop) => hop,
            Err(reason) => break Err(reason),
        };
        if !matches!(hop.status, 301 | 302 | 303 | 307 | 308) {
            break Ok(hop);
        }
        // A 3xx without Location (or with an empty one: nginx's bare `return 302`) is a
        // final answer; one that is not a URL fails, as in Go.
        let location = match hop.headers.get(header::LOCATION).map(|l| l.to_str()) {
            None => break Ok(hop),
            Some(Ok(l)) if l.trim().is_empty() => break Ok(hop),
            Some(Ok(l)) => l,
            Some(Err(_)) => break Err(Reason::InvalidResponse),
        };
        let Ok(next) = url.join(location) else {
            break Err(Reason::InvalidResponse);
        };
        relative = Url::parse(location).is_err();
        note(|| format!("Redirect {} to {next}", hop.status));
        // Counted even when not followed: blackbox's probe_http_redirects is 1 then.
        out.redirects += 1;
        if !settings.follow_redirects {
            break Ok(hop);
        }
        if out.redirects > settings.max_redirects {
            out.status = hop.status;
            out.headers = hop.headers;
            break Err(Reason::TooManyRedirects);
        }
        // Go's rules, which blackbox follows: 301/302/303 turn a method other than
        // GET/HEAD into a GET without body; 307/308 repeat the request as it was.
        if matches!(hop.status, 301..=303)
            && method != hyper::Method::GET
            && method != hyper::Method::HEAD
        {
            method = hyper::Method::GET;
            body.clear();
        }
        // The origin bypass only applies while we stay on the probed host.
        if next.host_str() != target.url.host_str() {
            connect_to = None;
        }
        url = next;
    };
    match result {
        Ok(hop) => judge(hop, settings, &mut out),
        Err(reason) => out.reason = Some(reason),
    }
    out.duration = started.elapsed();
    note(|| match out.reason {
        None => format!(
            "Probe succeeded: status {} in {:?}",
            out.status, out.duration
        ),
        Some(reason) => format!(
            "Probe failed: reason {}, status {}, generated by layer {} vendor {}, in {:?}",
            reason.as_str(),
            out.status,
            out.fingerprint.layer.as_str(),
            out.fingerprint.vendor.as_str(),
            out.duration
        ),
    });
    let _ = TRACE.try_with(|t| t.borrow_mut().outcome = Some(out.clone()));
    out
}

/// Whether two URLs lead to the same host and port.
fn same_address(first: &Url, next: &Url) -> bool {
    first.host_str() == next.host_str()
        && first.port_or_known_default() == next.port_or_known_default()
}

/// Whether credentials (`Authorization`, `Cookie`) may go to `next`: the first URL's host or
/// one of its subdomains, as Go's client decides on redirects.
fn same_site(first: &Url, next: &Url) -> bool {
    match (first.host_str(), next.host_str()) {
        (Some(first), Some(next)) => {
            let (first, next) = (first.to_ascii_lowercase(), next.to_ascii_lowercase());
            next == first
                || next
                    .strip_suffix(first.as_str())
                    .is_some_and(|sub| sub.ends_with('.'))
        }
        _ => false,
    }
}

/// Judge the final response and fingerprint failures.
fn judge(hop: Hop, settings: &HttpSettings, out: &mut Outcome) {
    let _ = TRACE.try_with(|t| {
        let body = hop.body[..hop.body.len().min(TRACED_BODY)].to_vec();
        t.borrow_mut().response = Some((hop.status, hop.headers.clone(), body));
    });
    out.status = hop.status;
    out.content_length = hop.content_length;
    out.body_length = hop.body_length;
    out.http_version = hop.version;
    (out.reason, out.failed_due_to_regex) = verdict(
        settings,
        hop.status,
        out.tls,
        || headers_pass(&hop.headers, settings),
        || body_failure(&hop, settings),
    );
    if out.reason.is_some() {
        out.fingerprint = fingerprint::classify(hop.status, &hop.headers, &hop.body);
        out.app_cause = app_cause::name(&hop.body, &mut out.fingerprint);
    }
    out.headers = hop.headers;
}

/// The verdict on a final response in blackbox's order: status, headers, body, TLS; each
/// check runs only when the ones before passed. `body_failure` says why the body fails,
/// with blackbox's `probe_failed_due_to_regex`. Returns the reason (none: success) and
/// that flag.
pub(super) fn verdict(
    settings: &HttpSettings,
    status: u16,
    tls: bool,
    headers_pass: impl FnOnce() -> bool,
    body_failure: impl FnOnce() -> Option<(Reason, bool)>,
) -> (Option<Reason>, bool) {
    if !settings.status_is_valid(status) {
        return (Some(Reason::HttpStatus), false);
    }
    if !headers_pass() {
        // blackbox's probe_failed_due_to_regex covers its header regexps too.
        return (Some(Reason::HeaderMismatch), true);
    }
    if let Some(failure) = body_failure() {
        return (Some(failure.0), failure.1);
    }
    let reason = if settings.fail_if_ssl && tls {
        Some(Reason::SslForbidden)
    } else if settings.fail_if_not_ssl && !tls {
        Some(Reason::SslRequired)
    } else {
        None
    };
    (reason, false)
}

/// A body that did not arrive in full, or one the body checks refuse. blackbox counts a
/// body it could not read for its regexps as a regexp failure.
fn body_failure(hop: &Hop, settings: &HttpSettings) -> Option<(Reason, bool)> {
    if let Some(reason) = hop.body_error {
        return Some((reason, settings.checks_body()));
    }
    (settings.checks_body() && !body_passes(&hop.body, settings))
        .then_some((Reason::BodyMismatch, true))
}

/// blackbox's header checks: a missing header fails unless `allow_missing`; otherwise
/// `fail_if_header_matches` fails on any value matching, `fail_if_header_not_matches` when
/// none does.
pub(super) fn headers_pass(headers: &HeaderMap, settings: &HttpSettings) -> bool {
    let check = |rules: &[HeaderMatch], must_match: bool| {
        rules.iter().all(|rule| {
            let mut values = headers
                .get_all(rule.header.as_str())
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .peekable();
            if values.peek().is_none() {
                return rule.allow_missing;
            }
            let any_matches = values.any(|v| rule.regexp.is_match(&v));
            any_matches == must_match
        })
    };
    check(&settings.fail_if_header_matches, false)
        && check(&settings.fail_if_header_not_matches, true)
}

fn body_passes(body: &[u8], settings: &HttpSettings) -> bool {
    let text = String::from_utf8_lossy(body);
    if let Some(want) = &settings.body_contains
        && !text.contains(want.as_str())
    {
        return false;
    }
    !settings
        .fail_if_body_matches_regexp
        .iter()
        .any(|re| re.is_match(&text))
        && settings
            .fail_if_body_not_matches_regexp
            .iter()
            .all(|re| re.is_match(&text))
}

/// One request of the redirect chain: where it goes and what it sends.
struct HopRequest<'a> {
    url: &'a Url,
    method: &'a hyper::Method,
    body: &'a str,
    /// The origin bypass: connect here instead of the URL's host.
    connect_to: Option<&'a (String, u16)>,
    /// `/probe`'s allow-list, checked on this hop's host and the address it connects to.
    allowed: Option<&'a ProbeEndpointConfig>,
    /// Whether the module's `Authorization` and `Cookie` headers go along.
    credentials: bool,
    /// `hostname=` as this hop's Host header, and as its SNI.
    host_override: Option<&'a str>,
    sni_override: Option<&'a str>,
}

/// One hop, phase by phase: resolve, connect, TLS, request, body.
async fn request(
    hop: HopRequest<'_>,
    settings: &HttpSettings,
    deadline: tokio::time::Instant,
    out: &mut Outcome,
) -> Result<Hop, Reason> {
    // TLS facts describe the final hop only, as blackbox's do.
    out.tls = false;
    out.cert_expiry = None;
    out.tls_version = None;
    let https = match hop.url.scheme() {
        "https" => true,
        "http" => false,
        _ => return Err(Reason::ConnectError),
    };
    let url_host = hop
        .url
        .host_str()
        .ok_or(Reason::Dns)?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let url_port = hop
        .url
        .port_or_known_default()
        .unwrap_or(if https { 443 } else { 80 });
    let (conn_host, conn_port) = hop
        .connect_to
        .cloned()
        .unwrap_or_else(|| (url_host.clone(), url_port));
    if let Some(allowed) = hop.allowed
        && !allowed.allows(&conn_host)
    {
        return Err(Reason::NotAllowed);
    }
    let ip = resolve(&conn_host, conn_port, settings, deadline, out).await?;
    // Checked on the address itself, so a name that resolves to a denied address (DNS
    // rebinding) goes nowhere; we connect to exactly the address checked.
    if let Some(allowed) = hop.allowed
        && !allowed.allows_address(&conn_host, ip)
    {
        return Err(Reason::NotAllowed);
    }
    let tcp = connect(SocketAddr::new(ip, conn_port), deadline, out).await?;
    let stream: Box<dyn Stream> = if https {
        let host_name = hop.sni_override.unwrap_or(&url_host);
        let sni = settings
            .tls_config
            .server_name
            .as_deref()
            .unwrap_or(host_name);
        let stream = tls::handshake(tcp, sni, &settings.tls_config, deadline, out).await;
        note(|| match (&stream, out.tls_version) {
            (Ok(_), version) => format!("TLS {} with {sni:?}", version.unwrap_or("?")),
            (Err(_), _) => format!("TLS handshake with {sni:?} failed"),
        });
        Box::new(stream?)
    } else {
        Box::new(tcp)
    };
    let request = build_request(&hop, settings)?;
    note(|| {
        let mut text = format!("Request: {} {}", request.method(), request.uri());
        for (name, value) in request.headers() {
            text.push_str(&format!(
                "\n  {name}: {}",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
        text
    });
    let t = Instant::now();
    let sent = timeout_at(deadline, http1::send(stream, request)).await;
    out.phases.processing += t.elapsed();
    let exchange = match sent {
        Ok(Ok(exchange)) => exchange,
        Ok(Err(e)) => return Err(hyper_reason(&e)),
        Err(_) => return Err(Reason::Timeout),
    };
    let t = Instant::now();
    let hop = read_response(exchange, settings.body_limit(), deadline).await;
    out.phases.transfer += t.elapsed();
    note(|| {
        let mut text = format!("Response: {} HTTP/{}", hop.status, hop.version);
        for (name, value) in &hop.headers {
            text.push_str(&format!(
                "\n  {name}: {}",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
        text.push_str(&format!("\n  ({} body bytes read", hop.body_length));
        if let Some(e) = hop.body_error {
            text.push_str(&format!(", then {}", e.as_str()));
        }
        text + ")"
    });
    Ok(hop)
}

/// The address to connect to; literal addresses skip the lookup, as blackbox does.
async fn resolve(
    host: &str,
    port: u16,
    settings: &HttpSettings,
    deadline: tokio::time::Instant,
    out: &mut Outcome,
) -> Result<IpAddr, Reason> {
    let ip = match host.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) => {
            let t = Instant::now();
            let found = timeout_at(deadline, tokio::net::lookup_host((host, port))).await;
            out.phases.resolve += t.elapsed();
            let addrs: Vec<IpAddr> = match found {
                Ok(Ok(addrs)) => addrs.map(|a| a.ip()).collect(),
                _ => {
                    note(|| format!("Resolving {host} failed"));
                    return Err(Reason::Dns);
                }
            };
            choose_address(&addrs, settings).ok_or(Reason::Dns)?
        }
    };
    out.ip = Some(ip);
    note(|| format!("Resolved {host} to {ip}"));
    Ok(ip)
}

/// blackbox's `preferred_ip_protocol` (`ip6` or `ip4`; unset: IPv4, as the scheduled probes
/// always did) and `ip_protocol_fallback` (default true): the first address of the
/// preferred family, else, when falling back, the first of the other.
fn choose_address(addrs: &[IpAddr], settings: &HttpSettings) -> Option<IpAddr> {
    let want_v6 = settings.preferred_ip_protocol.as_deref() == Some("ip6");
    let preferred = addrs.iter().find(|a| a.is_ipv6() == want_v6);
    match preferred {
        Some(ip) => Some(*ip),
        None if settings.ip_protocol_fallback.unwrap_or(true) => addrs.first().copied(),
        None => None,
    }
}

async fn connect(
    addr: SocketAddr,
    deadline: tokio::time::Instant,
    out: &mut Outcome,
) -> Result<TcpStream, Reason> {
    let t = Instant::now();
    let result = timeout_at(deadline, TcpStream::connect(addr)).await;
    out.phases.connect += t.elapsed();
    note(|| match &result {
        Ok(Ok(_)) => format!("Connected to {addr} in {:?}", t.elapsed()),
        Ok(Err(e)) => format!("Connect to {addr} failed: {e}"),
        Err(_) => format!("Connect to {addr} timed out"),
    });
    match result {
        Err(_) => Err(Reason::ConnectTimeout),
        Ok(Err(e)) => Err(match e.kind() {
            std::io::ErrorKind::ConnectionRefused => Reason::ConnectRefused,
            std::io::ErrorKind::TimedOut => Reason::ConnectTimeout,
            _ => Reason::ConnectError,
        }),
        Ok(Ok(tcp)) => {
            let _ = tcp.set_nodelay(true);
            Ok(tcp)
        }
    }
}

/// The request of one hop: the module's headers, our User-Agent unless one is set, the
/// Host of the URL (or `hostname=`), and `Connection: close`.
fn build_request(
    hop: &HopRequest<'_>,
    settings: &HttpSettings,
) -> Result<hyper::Request<Full<Bytes>>, Reason> {
    let host_header = hop
        .host_override
        .map_or_else(|| http1::authority(hop.url), str::to_string);
    let mut builder = hyper::Request::builder()
        .method(hop.method.clone())
        .uri(http1::path_and_query(hop.url));
    let mut has_user_agent = false;
    for (name, value) in &settings.headers {
        if name.eq_ignore_ascii_case("host") {
            continue; // Host comes from the URL or hostname=, never twice
        }
        if !hop.credentials && is_credential(name) {
            continue;
        }
        has_user_agent |= name.eq_ignore_ascii_case("user-agent");
        builder = builder.header(name.as_str(), value.as_str());
    }
    if !has_user_agent {
        builder = builder.header(header::USER_AGENT, http1::USER_AGENT);
    }
    builder
        .header(
            header::HOST,
            HeaderValue::from_str(&host_header).map_err(|_| Reason::ConnectError)?,
        )
        .header(header::CONNECTION, "close")
        .body(Full::new(Bytes::from(hop.body.to_string())))
        .map_err(|_| Reason::ConnectError)
}

/// Headers Go's client drops on a redirect to another site.
fn is_credential(name: &str) -> bool {
    ["authorization", "www-authenticate", "cookie", "cookie2"]
        .iter()
        .any(|c| name.eq_ignore_ascii_case(c))
}

/// The response head and up to `limit` bytes of body, no further: an endless or trickling
/// body costs at most the limit in memory and the deadline in time. Reading stops one frame
/// past the limit, so `body_length > limit` tells a body that did not fit.
async fn read_response(
    exchange: http1::Exchange,
    limit: usize,
    deadline: tokio::time::Instant,
) -> Hop {
    let response = exchange.response;
    let status = response.status().as_u16();
    let version = match response.version() {
        hyper::Version::HTTP_10 => 1.0,
        hyper::Version::HTTP_09 => 0.9,
        _ => 1.1,
    };
    let headers = response.headers().clone();
    let content_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let mut incoming = response.into_body();
    let mut kept = Vec::new();
    let mut body_length = 0usize;
    let mut body_error = None;
    while body_length <= limit {
        match timeout_at(deadline, incoming.frame()).await {
            Err(_) => {
                body_error = Some(Reason::Timeout);
                break;
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                body_error = Some(hyper_reason(&e));
                break;
            }
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    body_length += data.len();
                    let room = limit.saturating_sub(kept.len());
                    kept.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
        }
    }
    Hop {
        status,
        headers,
        body: kept,
        content_length,
        body_length,
        version,
        body_error,
    }
}

/// Map a hyper failure to a reason: a reset, a clean close before the response, or garbage.
fn hyper_reason(e: &hyper::Error) -> Reason {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe => {
                    Reason::Reset
                }
                std::io::ErrorKind::TimedOut => Reason::Timeout,
                std::io::ErrorKind::UnexpectedEof => Reason::PrematureClose,
                _ => Reason::ConnectError,
            };
        }
        source = s.source();
    }
    if e.is_incomplete_message() || e.is_closed() || e.is_canceled() {
        Reason::PrematureClose
    } else if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() {
        Reason::InvalidResponse
    } else if e.is_timeout() {
        Reason::Timeout
    } else {
        Reason::InvalidResponse
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_family_as_blackbox_chooses_it() {
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let settings = |family: Option<&str>, fallback: Option<bool>| HttpSettings {
            preferred_ip_protocol: family.map(str::to_string),
            ip_protocol_fallback: fallback,
            ..HttpSettings::default()
        };
        type Row<'a> = (&'a [IpAddr], Option<&'a str>, Option<bool>, Option<IpAddr>);
        let table: &[Row] = &[
            (&[v6, v4], None, None, Some(v4)),
            (&[v6, v4], Some("ip4"), None, Some(v4)),
            (&[v4, v6], Some("ip6"), None, Some(v6)),
            (&[v4], Some("ip6"), None, Some(v4)),
            (&[v4], Some("ip6"), Some(false), None),
            (&[v6], Some("ip4"), Some(false), None),
            (&[], None, None, None),
        ];
        for (addrs, family, fallback, want) in table {
            assert_eq!(
                choose_address(addrs, &settings(*family, *fallback)),
                *want,
                "{addrs:?} {family:?} {fallback:?}"
            );
        }
    }

    #[test]
    fn credentials_stay_on_the_site() {
        let url = |u: &str| Url::parse(u).unwrap();
        let first = url("https://Example.com/login");
        assert!(same_site(&first, &url("https://example.com/next")));
        assert!(same_site(&first, &url("http://api.example.com/")));
        assert!(!same_site(&first, &url("https://evilexample.com/")));
        assert!(!same_site(&first, &url("https://example.com.evil.net/")));
        assert!(!same_site(&first, &url("https://127.0.0.1/")));
    }
}
