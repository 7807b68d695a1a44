//! One HTTP probe: resolve, connect, TLS, request, response, body, each phase timed and
//! bounded by one deadline, redirects and body size capped. Never panics on what a server
//! sends; every failure becomes a [`Reason`].

use super::config::{HttpSettings, http_method};
use super::fingerprint::{self, Fingerprint};
use super::tls;
use crate::base::http1::{self, Stream};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{self, HeaderMap, HeaderValue};
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
            content_length: None,
            body_length: 0,
            redirects: 0,
            tls: false,
            http_version: 0.0,
            ip: None,
            failed_due_to_regex: false,
            cert_expiry: None,
            tls_version: None,
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

/// Probe `target` with `settings`, all within `timeout`.
pub async fn probe(target: &Target, settings: &HttpSettings, timeout: Duration) -> Outcome {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut out = Outcome::new();
    let mut url = target.url.clone();
    let mut method = http_method(&settings.method).unwrap_or(hyper::Method::GET);
    let mut body = settings.body.clone().unwrap_or_default();
    let mut connect_to = target.connect_to.clone();
    let result = loop {
        let hop_request = HopRequest {
            url: &url,
            method: &method,
            body: &body,
            connect_to: connect_to.as_ref(),
        };
        let hop = match request(hop_request, target, settings, deadline, &mut out).await {
            Ok(hop) => hop,
            Err(reason) => break Err(reason),
        };
        let location = hop
            .headers
            .get(header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| url.join(l).ok());
        match (settings.follow_redirects, hop.status, location) {
            (true, 301 | 302 | 303 | 307 | 308, Some(next)) => {
                out.redirects += 1;
                if out.redirects > settings.max_redirects {
                    out.status = hop.status;
                    break Err(Reason::TooManyRedirects);
                }
                if hop.status == 303
                    || (matches!(hop.status, 301 | 302) && method == hyper::Method::POST)
                {
                    method = hyper::Method::GET;
                    body.clear();
                }
                // The origin bypass only applies while we stay on the probed host.
                if next.host_str() != target.url.host_str() {
                    connect_to = None;
                }
                url = next;
            }
            _ => break Ok(hop),
        }
    };
    match result {
        Ok(hop) => judge(hop, settings, &mut out),
        Err(reason) => out.reason = Some(reason),
    }
    out.duration = started.elapsed();
    out
}

/// Decide success from the final response, in blackbox's order, and fingerprint failures.
fn judge(hop: Hop, settings: &HttpSettings, out: &mut Outcome) {
    out.status = hop.status;
    out.content_length = hop.content_length;
    out.body_length = hop.body_length;
    out.http_version = hop.version;
    out.reason = if !settings.status_is_valid(hop.status) {
        Some(Reason::HttpStatus)
    } else if settings.fail_if_ssl && out.tls {
        Some(Reason::SslForbidden)
    } else if settings.fail_if_not_ssl && !out.tls {
        Some(Reason::SslRequired)
    } else if let Some(reason) = hop.body_error {
        Some(reason)
    } else if !body_passes(&hop.body, settings) {
        out.failed_due_to_regex = true;
        Some(Reason::BodyMismatch)
    } else {
        None
    };
    if out.reason.is_some() {
        out.fingerprint = fingerprint::classify(hop.status, &hop.headers, &hop.body);
    }
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
}

/// One hop, phase by phase: resolve, connect, TLS, request, body.
async fn request(
    hop: HopRequest<'_>,
    target: &Target,
    settings: &HttpSettings,
    deadline: tokio::time::Instant,
    out: &mut Outcome,
) -> Result<Hop, Reason> {
    out.tls = false; // judged on the final hop, as blackbox does
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
    let ip = resolve(&conn_host, conn_port, deadline, out).await?;
    let tcp = connect(SocketAddr::new(ip, conn_port), deadline, out).await?;
    let stream: Box<dyn Stream> = if https {
        let host_name = target.host_override.as_deref().unwrap_or(&url_host);
        let sni = settings
            .tls_config
            .server_name
            .as_deref()
            .unwrap_or(host_name);
        Box::new(tls::handshake(tcp, sni, &settings.tls_config, deadline, out).await?)
    } else {
        Box::new(tcp)
    };
    let request = build_request(&hop, target, settings)?;
    let t = Instant::now();
    let sent = timeout_at(deadline, http1::send(stream, request)).await;
    out.phases.processing += t.elapsed();
    let exchange = match sent {
        Ok(Ok(exchange)) => exchange,
        Ok(Err(e)) => return Err(hyper_reason(&e)),
        Err(_) => return Err(Reason::Timeout),
    };
    let t = Instant::now();
    let hop = read_response(exchange, settings.body_size_limit, deadline).await;
    out.phases.transfer += t.elapsed();
    Ok(hop)
}

/// The address to connect to; literal addresses skip the lookup, as blackbox does.
async fn resolve(
    host: &str,
    port: u16,
    deadline: tokio::time::Instant,
    out: &mut Outcome,
) -> Result<IpAddr, Reason> {
    let ip = match host.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) => {
            let t = Instant::now();
            let found = timeout_at(deadline, tokio::net::lookup_host((host, port))).await;
            out.phases.resolve += t.elapsed();
            let addrs: Vec<SocketAddr> = match found {
                Ok(Ok(addrs)) => addrs.collect(),
                _ => return Err(Reason::Dns),
            };
            addrs
                .iter()
                .find(|a| a.is_ipv4())
                .or(addrs.first())
                .ok_or(Reason::Dns)?
                .ip()
        }
    };
    out.ip = Some(ip);
    Ok(ip)
}

async fn connect(
    addr: SocketAddr,
    deadline: tokio::time::Instant,
    out: &mut Outcome,
) -> Result<TcpStream, Reason> {
    let t = Instant::now();
    let result = timeout_at(deadline, TcpStream::connect(addr)).await;
    out.phases.connect += t.elapsed();
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
    target: &Target,
    settings: &HttpSettings,
) -> Result<hyper::Request<Full<Bytes>>, Reason> {
    let host_header = target
        .host_override
        .clone()
        .unwrap_or_else(|| http1::authority(hop.url));
    let mut builder = hyper::Request::builder()
        .method(hop.method.clone())
        .uri(http1::path_and_query(hop.url));
    let mut has_user_agent = false;
    for (name, value) in &settings.headers {
        if name.eq_ignore_ascii_case("host") {
            continue; // Host comes from the URL or hostname=, never twice
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

/// The response head and up to `limit` bytes of body, no further: an endless or trickling
/// body costs at most the limit in memory and the deadline in time.
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
    while body_length < limit {
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
