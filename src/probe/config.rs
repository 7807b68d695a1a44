//! Probe configuration: scheduled `probes:` entries and blackbox-style `modules:`.

use crate::config::Config;
use anyhow::{Result, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

fn default_interval() -> Duration {
    Duration::from_secs(15)
}
fn default_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_method() -> String {
    "GET".into()
}
fn default_body_limit() -> usize {
    64 * 1024
}
fn default_max_redirects() -> usize {
    10
}
fn default_true() -> bool {
    true
}

/// How one HTTP request is made and judged; shared by `probes:` entries and `modules:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Status codes that count as success; empty means any 2xx.
    #[serde(default)]
    pub valid_status_codes: Vec<u16>,
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request body, for POST probes.
    #[serde(default)]
    pub body: Option<String>,
    /// Text that must appear in the first `body_size_limit` bytes of the body.
    #[serde(default)]
    pub body_contains: Option<String>,
    /// Regexps in blackbox's spelling: fail when the body matches / does not match.
    /// Compiled once, when the config is read: a bad pattern is a config error.
    #[serde(default, deserialize_with = "regexes")]
    pub fail_if_body_matches_regexp: Vec<regex::Regex>,
    #[serde(default, deserialize_with = "regexes")]
    pub fail_if_body_not_matches_regexp: Vec<regex::Regex>,
    /// Bytes of body read at most; the rest is not downloaded.
    #[serde(default = "default_body_limit")]
    pub body_size_limit: usize,
    #[serde(default = "default_true")]
    pub follow_redirects: bool,
    #[serde(default = "default_max_redirects")]
    pub max_redirects: usize,
    #[serde(default)]
    pub fail_if_ssl: bool,
    #[serde(default)]
    pub fail_if_not_ssl: bool,
    #[serde(default)]
    pub tls_config: TlsConfig,
    /// Accepted for blackbox.yml compatibility: we always speak HTTP/1.1.
    #[serde(default)]
    pub valid_http_versions: Vec<String>,
    /// Accepted for blackbox.yml compatibility; IPv4 is tried first, then IPv6.
    #[serde(default)]
    pub preferred_ip_protocol: Option<String>,
    #[serde(default)]
    pub ip_protocol_fallback: Option<bool>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            valid_status_codes: Vec::new(),
            method: default_method(),
            headers: BTreeMap::new(),
            body: None,
            body_contains: None,
            fail_if_body_matches_regexp: Vec::new(),
            fail_if_body_not_matches_regexp: Vec::new(),
            body_size_limit: default_body_limit(),
            follow_redirects: true,
            max_redirects: default_max_redirects(),
            fail_if_ssl: false,
            fail_if_not_ssl: false,
            tls_config: TlsConfig::default(),
            valid_http_versions: Vec::new(),
            preferred_ip_protocol: None,
            ip_protocol_fallback: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// SNI override; `hostname=` on `/probe` and `origin` probes set it too.
    #[serde(default)]
    pub server_name: Option<String>,
}

impl HttpSettings {
    pub fn validate(&self) -> Result<()> {
        if http_method(&self.method).is_none() {
            bail!("invalid HTTP method {:?}", self.method);
        }
        for code in &self.valid_status_codes {
            if !(100..=599).contains(code) {
                bail!("valid_status_codes: {code} is not an HTTP status code");
            }
        }
        for (name, value) in &self.headers {
            hyper::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| anyhow::anyhow!("invalid header name {name:?}"))?;
            hyper::header::HeaderValue::from_str(value)
                .map_err(|_| anyhow::anyhow!("invalid value for header {name:?}"))?;
        }
        if self.body_size_limit == 0 {
            bail!("body_size_limit must be positive");
        }
        Ok(())
    }

    /// Whether `code` counts as success.
    pub fn status_is_valid(&self, code: u16) -> bool {
        if self.valid_status_codes.is_empty() {
            (200..300).contains(&code)
        } else {
            self.valid_status_codes.contains(&code)
        }
    }
}

fn regexes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<regex::Regex>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|re| {
            regex::Regex::new(re)
                .map_err(|e| serde::de::Error::custom(format!("invalid regexp {re:?}: {e}")))
        })
        .collect()
}

pub fn http_method(text: &str) -> Option<hyper::Method> {
    hyper::Method::from_bytes(text.as_bytes()).ok()
}

/// One scheduled probe (`probes:` entry).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// The `target` label.
    pub name: String,
    pub url: String,
    #[serde(
        default = "default_interval",
        deserialize_with = "crate::duration::deserialize"
    )]
    pub interval: Duration,
    #[serde(
        default = "default_timeout",
        deserialize_with = "crate::duration::deserialize"
    )]
    pub timeout: Duration,
    /// `host:port` to connect to instead of the URL's host, keeping its Host and SNI:
    /// both paths are probed, so a CDN failure and an origin failure tell apart.
    #[serde(default)]
    pub origin: Option<String>,
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<String>,
    /// Empty: any 2xx.
    #[serde(default)]
    pub valid_status_codes: Vec<u16>,
    /// Text the body must contain (the first `body_size_limit` bytes of it).
    #[serde(default)]
    pub body_contains: Option<String>,
    #[serde(default = "default_body_limit")]
    pub body_size_limit: usize,
    #[serde(default = "default_true")]
    pub follow_redirects: bool,
    #[serde(default = "default_max_redirects")]
    pub max_redirects: usize,
    #[serde(default)]
    pub tls_config: TlsConfig,
}

impl ProbeConfig {
    pub fn validate(&self) -> Result<()> {
        let url =
            url::Url::parse(&self.url).map_err(|e| anyhow::anyhow!("url {:?}: {e}", self.url))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            bail!("url {:?} must be http:// or https:// with a host", self.url);
        }
        if self.timeout.is_zero() || self.interval.is_zero() {
            bail!("interval and timeout must be positive");
        }
        if let Some(origin) = &self.origin {
            parse_host_port(origin, 0)?;
        }
        self.http().validate()
    }

    /// The request settings of this probe, in the shape `/probe` modules use.
    pub fn http(&self) -> HttpSettings {
        HttpSettings {
            valid_status_codes: self.valid_status_codes.clone(),
            method: self.method.clone(),
            headers: self.headers.clone(),
            body: self.body.clone(),
            body_contains: self.body_contains.clone(),
            body_size_limit: self.body_size_limit,
            follow_redirects: self.follow_redirects,
            max_redirects: self.max_redirects,
            tls_config: self.tls_config.clone(),
            ..HttpSettings::default()
        }
    }
}

/// Split `host:port` (or `[v6]:port`); `default_port` fills a missing port when nonzero.
pub fn parse_host_port(text: &str, default_port: u16) -> Result<(String, u16)> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| anyhow::anyhow!("bad address {text:?}"))?;
        (host.to_string(), after.strip_prefix(':'))
    } else {
        match text.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h.to_string(), Some(p)),
            _ => (text.to_string(), None),
        }
    };
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| anyhow::anyhow!("bad port in {text:?}"))?,
        None if default_port != 0 => default_port,
        None => bail!("address {text:?} needs a port"),
    };
    if host.is_empty() {
        bail!("address {text:?} has no host");
    }
    Ok((host, port))
}

/// A blackbox.yml module: `prober: http` with an `http:` block.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeModule {
    pub prober: String,
    #[serde(
        default = "default_timeout",
        deserialize_with = "crate::duration::deserialize"
    )]
    pub timeout: Duration,
    #[serde(default)]
    pub http: HttpSettings,
}

impl ProbeModule {
    pub fn validate(&self) -> Result<()> {
        if self.prober != "http" {
            bail!("prober {:?} is not supported (only http)", self.prober);
        }
        self.http.validate()
    }
}

/// Who may be probed through `/probe`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeEndpointConfig {
    /// Host patterns (`*` wildcards, e.g. `*.example.com`, `10.0.*`) or `"*"` for any
    /// host (blackbox parity: an open prober). Empty: `/probe` refuses every target.
    #[serde(default)]
    pub allowed_targets: Vec<String>,
}

impl ProbeEndpointConfig {
    /// Whether `host` (as in the URL, IPv6 in brackets) matches the allow-list.
    pub fn allows(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.allowed_targets
            .iter()
            .any(|p| wildcard_match(&p.to_ascii_lowercase(), &host))
    }
}

/// `*` matches any run of characters, everything else literally.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

/// Probe `http://127.0.0.1/` when something listens on port 80.
pub fn autodetect(config: &mut Config) {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 80));
    if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
        config.probes.push(ProbeConfig {
            name: "localhost".into(),
            url: "http://127.0.0.1/".into(),
            interval: default_interval(),
            timeout: default_timeout(),
            origin: None,
            method: default_method(),
            headers: BTreeMap::new(),
            body: None,
            valid_status_codes: Vec::new(),
            body_contains: None,
            body_size_limit: default_body_limit(),
            follow_redirects: true,
            max_redirects: default_max_redirects(),
            tls_config: TlsConfig::default(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_patterns() {
        let cfg = ProbeEndpointConfig {
            allowed_targets: vec!["*.example.com".into(), "10.0.*".into(), "localhost".into()],
        };
        for (host, ok) in [
            ("www.example.com", true),
            ("example.com", false),
            ("evil.com", false),
            ("www.example.com.evil.com", false),
            ("10.0.3.4", true),
            ("10.1.0.1", false),
            ("LOCALHOST", true),
            ("169.254.169.254", false),
        ] {
            assert_eq!(cfg.allows(host), ok, "{host}");
        }
        let open = ProbeEndpointConfig {
            allowed_targets: vec!["*".into()],
        };
        assert!(open.allows("anything.at.all"));
        assert!(!ProbeEndpointConfig::default().allows("localhost"));
    }

    #[test]
    fn host_port_parsing() {
        assert_eq!(
            parse_host_port("10.0.0.1:8080", 0).unwrap(),
            ("10.0.0.1".into(), 8080)
        );
        assert_eq!(
            parse_host_port("[::1]:443", 0).unwrap(),
            ("::1".into(), 443)
        );
        assert_eq!(
            parse_host_port("origin.test", 80).unwrap(),
            ("origin.test".into(), 80)
        );
        assert!(parse_host_port("origin.test", 0).is_err());
        assert!(parse_host_port("x:notaport", 0).is_err());
        assert!(parse_host_port(":80", 0).is_err());
    }
}
