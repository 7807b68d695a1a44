//! Probe configuration: scheduled `probes:` entries and blackbox-style `modules:`.

use crate::base::net::parse_host_port;
use anyhow::{Result, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
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
/// Bytes of body read when a module sets no `body_size_limit`.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;
/// The largest `body_size_limit`: the body read is kept in memory.
const MAX_BODY_LIMIT: u64 = 1 << 30;
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
            /// Bytes of body read at most (default 64 KiB); the rest is not downloaded. A
            /// number of bytes, or blackbox's spelling with a unit (`512KB`, `1MiB`).
            #[serde(default, deserialize_with = "byte_size")]
            body_size_limit: Option<usize>,
            /// blackbox's header checks: fail when a header matches / does not match.
            #[serde(default)]
            fail_if_header_matches: Vec<HeaderMatch>,
            #[serde(default)]
            fail_if_header_not_matches: Vec<HeaderMatch>,
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
            /// `ip4` or `ip6`: the address family tried first (unset: IPv4 for `probes:`,
            /// IPv6 for `/probe` modules, as blackbox); `ip_protocol_fallback: false` forbids
            /// the other family.
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
            body_size_limit: None,
            fail_if_header_matches: Vec::new(),
            fail_if_header_not_matches: Vec::new(),
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
        if let Some(family) = &self.preferred_ip_protocol
            && !matches!(family.as_str(), "ip4" | "ip6")
        {
            bail!("preferred_ip_protocol must be ip4 or ip6, not {family:?}");
        }
        for rule in self
            .fail_if_header_matches
            .iter()
            .chain(&self.fail_if_header_not_matches)
        {
            hyper::header::HeaderName::from_bytes(rule.header.as_bytes())
                .map_err(|_| anyhow::anyhow!("invalid header name {:?}", rule.header))?;
        }
        if self.body_size_limit == Some(0) {
            bail!("body_size_limit must be positive");
        }
        Ok(())
    }

    /// Bytes of body read at most.
    pub fn body_limit(&self) -> usize {
        self.body_size_limit.unwrap_or(DEFAULT_BODY_LIMIT)
    }

    /// Whether any check reads the body.
    pub fn checks_body(&self) -> bool {
        self.body_contains.is_some()
            || !self.fail_if_body_matches_regexp.is_empty()
            || !self.fail_if_body_not_matches_regexp.is_empty()
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

/// One of blackbox's header checks: the header's values against a regexp.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatch {
    pub header: String,
    #[serde(deserialize_with = "one_regex")]
    pub regexp: regex::Regex,
    /// A missing header passes the check instead of failing it.
    #[serde(default)]
    pub allow_missing: bool,
}

/// A size in bytes: a plain number, or a number with blackbox's units (powers of 1024
/// whether written `KB` or `KiB`), at most 1 GiB.
fn byte_size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Bytes(u64),
        Text(String),
    }
    let bytes = match Size::deserialize(d)? {
        Size::Bytes(n) => n,
        Size::Text(text) => parse_byte_size(&text).map_err(serde::de::Error::custom)?,
    };
    if bytes > MAX_BODY_LIMIT {
        return Err(serde::de::Error::custom(format!(
            "body_size_limit {bytes} is over the limit of 1GiB"
        )));
    }
    Ok(Some(bytes as usize))
}

fn parse_byte_size(text: &str) -> Result<u64, String> {
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let number: u64 = text[..digits]
        .parse()
        .map_err(|_| format!("invalid size {text:?}: a number of bytes, e.g. 65536 or 64KB"))?;
    let power = match &text[digits..] {
        "" | "B" => 0,
        "KB" | "KiB" => 1,
        "MB" | "MiB" => 2,
        "GB" | "GiB" => 3,
        unit => {
            return Err(format!(
                "unknown unit {unit:?} in size {text:?} (B, KB, MB, GB)"
            ));
        }
    };
    number
        .checked_mul(1u64 << (10 * power))
        .ok_or_else(|| format!("size {text:?} is too large"))
}

fn one_regex<'de, D: serde::Deserializer<'de>>(d: D) -> Result<regex::Regex, D::Error> {
    compile(&String::deserialize(d)?)
}

fn regexes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<regex::Regex>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|re| compile(re))
        .collect()
}

/// A regexp of the config, compiled once when it is read: a bad pattern is a config error.
fn compile<E: serde::de::Error>(re: &str) -> Result<regex::Regex, E> {
    regex::Regex::new(re).map_err(|e| E::custom(format!("invalid regexp {re:?}: {e}")))
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
    /// Checked on every redirect hop and on the address each hop connects to.
    #[serde(default)]
    pub allowed_targets: Vec<String>,
}

/// Cloud instance-metadata services: credentials one request away.
const METADATA_NAMES: [&str; 1] = ["metadata.google.internal"];
const METADATA_ADDRESSES: [IpAddr; 3] = [
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
];

/// How far an address is from the public Internet, for the allow-list.
#[derive(Debug, PartialEq, Eq)]
enum Reach {
    Public,
    /// Loopback, private, shared (CGNAT), unique-local, unspecified, multicast, broadcast.
    Internal,
    /// Link-local and cloud metadata: only an entry naming it exactly opens it.
    Sensitive,
}

fn reach(ip: IpAddr) -> Reach {
    let ip = ip.to_canonical(); // ::ffff:169.254.169.254 is 169.254.169.254
    if let IpAddr::V6(v6) = ip
        && v6.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
    {
        // NAT64 (64:ff9b::/96) reaches the IPv4 address in its last 32 bits.
        let [.., a, b, c, d] = v6.octets();
        return reach(IpAddr::V4(Ipv4Addr::new(a, b, c, d)));
    }
    if METADATA_ADDRESSES.contains(&ip) {
        return Reach::Sensitive;
    }
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_link_local() {
                Reach::Sensitive
            } else if v4.is_loopback()
                || v4.is_private()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
            {
                Reach::Internal
            } else {
                Reach::Public
            }
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if first & 0xffc0 == 0xfe80 {
                Reach::Sensitive
            } else if v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || first & 0xfe00 == 0xfc00
            {
                Reach::Internal
            } else {
                Reach::Public
            }
        }
    }
}

/// A host as the allow-list compares it: lower case, IPv6 without brackets, no final dot.
fn normal_host(host: &str) -> String {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase()
}

impl ProbeEndpointConfig {
    /// Whether `host` (a name or an address, IPv6 with or without brackets) matches the
    /// allow-list. Metadata names and link-local or metadata addresses need an entry that
    /// names them exactly: no wildcard opens them.
    pub fn allows(&self, host: &str) -> bool {
        let host = normal_host(host);
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self.allows_ip(ip);
        }
        if METADATA_NAMES.contains(&host.as_str()) {
            return self.names_exactly(&host);
        }
        self.matches(&host)
    }

    /// Whether a probe of `host` may connect to `ip`, one of its addresses. A public address
    /// is the host's own business; an internal one must be allowed as an address
    /// (`127.0.0.1`, `10.0.*`, `*`), except that an entry `localhost` stands for 127.0.0.1
    /// and ::1; link-local and metadata addresses need their exact entry.
    pub fn allows_address(&self, host: &str, ip: IpAddr) -> bool {
        match reach(ip) {
            Reach::Public => true,
            Reach::Sensitive => self.allows_ip(ip),
            Reach::Internal => {
                self.allows_ip(ip)
                    || (normal_host(host) == "localhost"
                        && self.names_exactly("localhost")
                        && (ip == Ipv4Addr::LOCALHOST || ip == Ipv6Addr::LOCALHOST))
            }
        }
    }

    fn allows_ip(&self, ip: IpAddr) -> bool {
        let text = ip.to_canonical().to_string();
        if reach(ip) == Reach::Sensitive {
            self.names_exactly(&text)
        } else {
            self.matches(&text)
        }
    }

    fn entries(&self) -> impl Iterator<Item = String> + '_ {
        self.allowed_targets.iter().map(|p| normal_host(p))
    }

    fn matches(&self, host: &str) -> bool {
        self.entries().any(|p| wildcard_match(&p, host))
    }

    fn names_exactly(&self, host: &str) -> bool {
        self.entries().any(|p| p == host)
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

    #[test]
    fn body_size_limit_in_bytes_or_blackbox_units() {
        let limit = |yaml: &str| {
            serde_saphyr::from_str::<HttpSettings>(&format!("body_size_limit: {yaml}\n"))
                .map(|s| s.body_limit())
                .map_err(|e| e.to_string())
        };
        assert_eq!(limit("65536"), Ok(65536));
        assert_eq!(limit("1KB"), Ok(1024));
        assert_eq!(limit("1KiB"), Ok(1024));
        assert_eq!(limit("2MB"), Ok(2 << 20));
        assert_eq!(limit("1GiB"), Ok(1 << 30));
        for bad in ["'1 KB'", "1kb", "2GB", "KB", "-1", "99999999999999999999GB"] {
            assert!(limit(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(HttpSettings::default().body_limit(), DEFAULT_BODY_LIMIT);
    }

    fn list(entries: &[&str]) -> ProbeEndpointConfig {
        ProbeEndpointConfig {
            allowed_targets: entries.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn link_local_and_metadata_need_an_exact_entry() {
        let hosts = [
            "169.254.169.254",
            "169.254.1.1",
            "[fe80::1]",
            "[fd00:ec2::254]",
            "100.100.100.200",
            "metadata.google.internal",
            "METADATA.google.internal.",
            "[::ffff:169.254.169.254]",
            "[64:ff9b::a9fe:a9fe]", // NAT64 of 169.254.169.254
        ];
        let wide = list(&["*", "169.254.*", "*.internal", "100.*", "fe80::*", "fd00:*"]);
        for host in hosts {
            assert!(!wide.allows(host), "{host} opened by a wildcard");
        }
        for (host, entry) in [
            ("169.254.169.254", "169.254.169.254"),
            ("[fe80::1]", "fe80::1"),
            ("[fd00:ec2::254]", "[fd00:ec2::254]"),
            ("metadata.google.internal", "metadata.google.internal"),
            ("100.100.100.200", "100.100.100.200"),
        ] {
            assert!(list(&[entry]).allows(host), "{host} with {entry}");
        }
        // The CGNAT block around Alibaba's metadata address is internal, not sensitive.
        assert!(list(&["100.64.*"]).allows("100.64.0.1"));
    }

    #[test]
    fn resolved_addresses_are_checked_as_addresses() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        type Row<'a> = (&'a [&'a str], &'a str, &'a str, bool);
        #[rustfmt::skip]
        let table: &[Row] = &[
            // "localhost" stands for the loopback address, not for what it resolves to.
            (&["localhost"], "localhost", "127.0.0.1", true),
            (&["localhost"], "localhost", "::1", true),
            (&["localhost"], "localhost", "127.0.0.2", false),
            (&["LOCALHOST"], "localhost.", "127.0.0.1", true),
            (&["localhost", "127.0.0.*"], "localhost", "127.0.0.2", true),
            // A wildcard name may resolve to the Internet, not into the network.
            (&["*.example.com"], "www.example.com", "93.184.215.14", true),
            (&["*.example.com"], "rebound.example.com", "127.0.0.1", false),
            (&["*.example.com"], "rebound.example.com", "10.1.2.3", false),
            (&["*.example.com"], "rebound.example.com", "192.168.0.1", false),
            (&["*.example.com"], "rebound.example.com", "100.64.0.1", false),
            (&["*.example.com"], "rebound.example.com", "0.0.0.0", false),
            (&["*.example.com"], "rebound.example.com", "fd12::1", false),
            (&["*.example.com"], "rebound.example.com", "::ffff:127.0.0.1", false),
            (&["*.example.com", "10.*"], "db.example.com", "10.1.2.3", true),
            (&["*"], "anything", "10.1.2.3", true),
            (&["*"], "anything", "169.254.169.254", false),
            (&["*"], "anything", "fe80::1", false),
            (&["*"], "anything", "fd00:ec2::254", false),
            (&["*", "169.254.169.254"], "anything", "169.254.169.254", true),
        ];
        for (entries, host, addr, ok) in table {
            assert_eq!(
                list(entries).allows_address(host, ip(addr)),
                *ok,
                "{entries:?} {host} -> {addr}"
            );
        }
    }
}
