//! Probe configuration: scheduled `probes:` entries and blackbox-style `modules:`.

use crate::base::net::parse_host_port;
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

/// The one list of HTTP request settings. `/probe` modules take them as their `http:` block
/// ([`HttpSettings`]); `probes:` entries take the same keys beside their own (`RawProbe`,
/// turned into a [`ProbeConfig`] that embeds an `HttpSettings`). Listing them once keeps the
/// two in step, and keeps serde's exact line and column for an unknown key, which
/// `#[serde(flatten)]` loses.
macro_rules! with_http_settings {
    ($then:ident ! { $($args:tt)* }) => {
        $then! { $($args)*
            /// Status codes that count as success; empty means any 2xx.
            #[serde(default)]
            valid_status_codes: Vec<u16>,
            #[serde(default = "default_method")]
            method: String,
            #[serde(default)]
            headers: BTreeMap<String, String>,
            /// Request body, for POST probes.
            #[serde(default)]
            body: Option<String>,
            /// Text that must appear in the first `body_size_limit` bytes of the body.
            #[serde(default)]
            body_contains: Option<String>,
            /// Regexps in blackbox's spelling: fail when the body matches / does not match.
            /// Compiled once, when the config is read: a bad pattern is a config error.
            #[serde(default, deserialize_with = "regexes")]
            fail_if_body_matches_regexp: Vec<regex::Regex>,
            #[serde(default, deserialize_with = "regexes")]
            fail_if_body_not_matches_regexp: Vec<regex::Regex>,
            /// Bytes of body read at most; the rest is not downloaded.
            #[serde(default = "default_body_limit")]
            body_size_limit: usize,
            #[serde(default = "default_true")]
            follow_redirects: bool,
            #[serde(default = "default_max_redirects")]
            max_redirects: usize,
            #[serde(default)]
            fail_if_ssl: bool,
            #[serde(default)]
            fail_if_not_ssl: bool,
            #[serde(default)]
            tls_config: TlsConfig,
            /// Accepted for blackbox.yml compatibility: we always speak HTTP/1.1.
            #[serde(default)]
            valid_http_versions: Vec<String>,
            /// Accepted for blackbox.yml compatibility; IPv4 is tried first, then IPv6.
            #[serde(default)]
            preferred_ip_protocol: Option<String>,
            #[serde(default)]
            ip_protocol_fallback: Option<bool>,
        }
    };
}

/// A struct of its own fields followed by the HTTP settings; the `@split` form also gets a
/// method that moves the settings out into an [`HttpSettings`].
macro_rules! settings_struct {
    (
        @plain { $(#[$meta:meta])* struct $name:ident { $( $(#[$fmeta:meta])* $field:ident : $ty:ty, )* } }
        $( $(#[$hmeta:meta])* $hfield:ident : $hty:ty, )*
    ) => {
        $(#[$meta])*
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
            $( $(#[$hmeta])* pub $hfield: $hty, )*
        }
    };
    (
        @split { $(#[$meta:meta])* struct $name:ident { $( $(#[$fmeta:meta])* $field:ident : $ty:ty, )* } }
        $( $(#[$hmeta:meta])* $hfield:ident : $hty:ty, )*
    ) => {
        settings_struct! {
            @plain { $(#[$meta])* struct $name { $( $(#[$fmeta])* $field: $ty, )* } }
            $( $(#[$hmeta])* $hfield: $hty, )*
        }
        impl $name {
            fn split_http(&mut self) -> HttpSettings {
                HttpSettings { $( $hfield: std::mem::take(&mut self.$hfield), )* }
            }
        }
    };
}

with_http_settings!(settings_struct! {
    @plain {
        /// How one HTTP request is made and judged (a `/probe` module's `http:` block).
        #[derive(Debug, Clone, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct HttpSettings {}
    }
});

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

with_http_settings!(settings_struct! {
    @split {
        /// A `probes:` entry as written: its own keys and the HTTP settings side by side.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct RawProbe {
            name: String,
            url: String,
            #[serde(default = "default_interval", deserialize_with = "crate::base::duration::deserialize")]
            interval: Duration,
            #[serde(default = "default_timeout", deserialize_with = "crate::base::duration::deserialize")]
            timeout: Duration,
            #[serde(default)]
            origin: Option<String>,
            #[serde(default)]
            vhost: Option<String>,
        }
    }
});

/// One scheduled probe (`probes:` entry).
#[derive(Debug, Clone, Deserialize)]
#[serde(from = "RawProbe")]
pub struct ProbeConfig {
    /// The `target` label.
    pub name: String,
    pub url: String,
    pub interval: Duration,
    pub timeout: Duration,
    /// `host:port` to connect to instead of the URL's host, keeping its Host and SNI:
    /// both paths are probed, so a CDN failure and an origin failure tell apart.
    pub origin: Option<String>,
    /// The site as the web server's logs name it (the `vhost` label of the log metrics),
    /// so probe and log alerts about one site can be matched; default: the URL's host.
    pub vhost: Option<String>,
    /// Every request setting a `/probe` module has.
    pub http: HttpSettings,
}

impl From<RawProbe> for ProbeConfig {
    fn from(mut raw: RawProbe) -> Self {
        let http = raw.split_http();
        ProbeConfig {
            name: raw.name,
            url: raw.url,
            interval: raw.interval,
            timeout: raw.timeout,
            origin: raw.origin,
            vhost: raw.vhost,
            http,
        }
    }
}

impl ProbeConfig {
    /// A probe of `url` named `name` with every other setting at its default.
    pub fn new(name: &str, url: &str) -> ProbeConfig {
        ProbeConfig {
            name: name.into(),
            url: url.into(),
            interval: default_interval(),
            timeout: default_timeout(),
            origin: None,
            vhost: None,
            http: HttpSettings::default(),
        }
    }

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
        self.http.validate()
    }

    /// The `vhost` of `gateway_probe_info`: the configured one, else the URL's host.
    pub fn vhost(&self) -> String {
        self.vhost.clone().unwrap_or_else(|| {
            url::Url::parse(&self.url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_default()
        })
    }
}

/// A blackbox.yml module: `prober: http` with an `http:` block.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeModule {
    pub prober: String,
    #[serde(
        default = "default_timeout",
        deserialize_with = "crate::base::duration::deserialize"
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
}
