//! One HTTP probe: resolve, connect, TLS, request, response, body, each phase timed and
//! bounded by one deadline, redirects and body size capped. Never panics on what a server
//! sends; every failure becomes a [`Reason`].

use super::config::{HttpSettings, http_method};
use super::fingerprint::{self, Fingerprint};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper_util::rt::TokioIo;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
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

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

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
        let hop = match request(
            &url,
            &method,
            &body,
            connect_to.as_ref(),
            target,
            settings,
            deadline,
            &mut out,
        )
        .await
        {
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

#[allow(clippy::too_many_arguments)]
async fn request(
    url: &Url,
    method: &hyper::Method,
    body: &str,
    connect_to: Option<&(String, u16)>,
    target: &Target,
    settings: &HttpSettings,
    deadline: tokio::time::Instant,
    out: &mut Outcome,
) -> Result<Hop, Reason> {
    let https = match url.scheme() {
        "https" => true,
        "http" => false,
        _ => return Err(Reason::ConnectError),
    };
    let url_host = url
        .host_str()
        .ok_or(Reason::Dns)?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let url_port = url
        .port_or_known_default()
        .unwrap_or(if https { 443 } else { 80 });
    let (conn_host, conn_port) = connect_to
        .cloned()
        .unwrap_or_else(|| (url_host.clone(), url_port));

    // Resolve (skipped for literal addresses, as blackbox does).
    let ip = match conn_host.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) => {
            let t = Instant::now();
            let found = timeout_at(
                deadline,
                tokio::net::lookup_host((conn_host.as_str(), conn_port)),
            )
            .await;
            out.phases.resolve += t.elapsed();
            let addrs: Vec<SocketAddr> = match found {
                Ok(Ok(addrs)) => addrs.collect(),
                _ => return Err(Reason::Dns),
            };
            let v4 = addrs
                .iter()
                .find(|a| a.is_ipv4())
                .or(addrs.first())
                .ok_or(Reason::Dns)?;
            v4.ip()
        }
    };
    out.ip = Some(ip);

    let t = Instant::now();
    let tcp = match timeout_at(deadline, TcpStream::connect(SocketAddr::new(ip, conn_port))).await {
        Err(_) => {
            out.phases.connect += t.elapsed();
            return Err(Reason::ConnectTimeout);
        }
        Ok(Err(e)) => {
            out.phases.connect += t.elapsed();
            return Err(match e.kind() {
                std::io::ErrorKind::ConnectionRefused => Reason::ConnectRefused,
                std::io::ErrorKind::TimedOut => Reason::ConnectTimeout,
                _ => Reason::ConnectError,
            });
        }
        Ok(Ok(s)) => s,
    };
    out.phases.connect += t.elapsed();
    let _ = tcp.set_nodelay(true);

    let host_name = target
        .host_override
        .clone()
        .unwrap_or_else(|| url_host.clone());
    let stream: Box<dyn Stream> = if https {
        out.tls = true;
        let sni = settings
            .tls_config
            .server_name
            .clone()
            .unwrap_or_else(|| host_name.clone());
        let server_name = rustls::pki_types::ServerName::try_from(sni).map_err(|_| Reason::Tls)?;
        let connector =
            tokio_rustls::TlsConnector::from(tls_client(settings.tls_config.insecure_skip_verify));
        let t = Instant::now();
        let tls = timeout_at(deadline, connector.connect(server_name, tcp)).await;
        out.phases.tls += t.elapsed();
        match tls {
            Err(_) => return Err(Reason::Timeout),
            Ok(Err(_)) => return Err(Reason::Tls),
            Ok(Ok(s)) => {
                let session = s.get_ref().1;
                out.cert_expiry = session
                    .peer_certificates()
                    .and_then(|certs| certs.iter().filter_map(|c| super::x509::not_after(c)).min());
                out.tls_version = session.protocol_version().map(|v| match v {
                    rustls::ProtocolVersion::TLSv1_3 => "TLS 1.3",
                    rustls::ProtocolVersion::TLSv1_2 => "TLS 1.2",
                    _ => "unknown",
                });
                Box::new(s)
            }
        }
    } else {
        Box::new(tcp)
    };

    let t = Instant::now();
    let (mut sender, conn) = match timeout_at(
        deadline,
        hyper::client::conn::http1::handshake(TokioIo::new(stream)),
    )
    .await
    {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => return Err(hyper_reason(&e)),
        Err(_) => return Err(Reason::Timeout),
    };
    let driver = AbortOnDrop(tokio::spawn(async move {
        let _ = conn.await;
    }));

    let default_port = if https { 443 } else { 80 };
    let host_header = match (target.host_override.as_ref(), url.port()) {
        (Some(h), _) => h.clone(),
        (None, Some(p)) if p != default_port => {
            format!("{}:{p}", url.host_str().unwrap_or_default())
        }
        _ => url.host_str().unwrap_or_default().to_string(),
    };
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let mut builder = hyper::Request::builder().method(method.clone()).uri(path);
    let mut has_user_agent = false;
    for (name, value) in &settings.headers {
        if name.eq_ignore_ascii_case("host") {
            continue; // Host comes from the URL or hostname=, never twice
        }
        has_user_agent |= name.eq_ignore_ascii_case("user-agent");
        builder = builder.header(name.as_str(), value.as_str());
    }
    if !has_user_agent {
        builder = builder.header(
            header::USER_AGENT,
            concat!("gateway-exporter/", env!("CARGO_PKG_VERSION")),
        );
    }
    let request = builder
        .header(
            header::HOST,
            HeaderValue::from_str(&host_header).map_err(|_| Reason::ConnectError)?,
        )
        .header(header::CONNECTION, "close")
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|_| Reason::ConnectError)?;
    let response = match timeout_at(deadline, sender.send_request(request)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            out.phases.processing += t.elapsed();
            return Err(hyper_reason(&e));
        }
        Err(_) => {
            out.phases.processing += t.elapsed();
            return Err(Reason::Timeout);
        }
    };
    out.phases.processing += t.elapsed();

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
    let t = Instant::now();
    // Read up to the limit and no further: an endless or trickling body costs at most the
    // limit in memory and the deadline in time.
    while body_length < settings.body_size_limit {
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
                    let room = settings.body_size_limit.saturating_sub(kept.len());
                    kept.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
        }
    }
    out.phases.transfer += t.elapsed();
    drop(driver);
    Ok(Hop {
        status,
        headers,
        body: kept,
        content_length,
        body_length,
        version,
        body_error,
    })
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
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

/// TLS client settings, built once: system roots, or no verification when asked.
fn tls_client(insecure: bool) -> Arc<rustls::ClientConfig> {
    static VERIFYING: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    static INSECURE: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    let provider = || Arc::new(rustls::crypto::ring::default_provider());
    if insecure {
        return INSECURE
            .get_or_init(|| {
                let config = rustls::ClientConfig::builder_with_provider(provider())
                    .with_safe_default_protocol_versions()
                    .expect("ring supports the default protocol versions")
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider())))
                    .with_no_client_auth();
                Arc::new(config)
            })
            .clone();
    }
    VERIFYING
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                tracing::warn!(
                    "no system CA certificates found: HTTPS probes will fail verification"
                );
            }
            let config = rustls::ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

/// `tls_config.insecure_skip_verify: true`: accept any certificate, still check signatures.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
