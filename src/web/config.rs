//! `--web.config.file` in exporter-toolkit's format (the file node_exporter and
//! blackbox_exporter accept): `tls_server_config`, `http_server_config`, `basic_auth_users`.
//! Every refusal names its place as `file:line:column`.

use super::tls::{ClientAuth, TlsVersion};
use anyhow::{Result, anyhow, bail};
use axum::http::{HeaderName, HeaderValue};
use serde::Deserialize;
use serde_saphyr::{Location, Spanned};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A validated web config; file paths are resolved against the config file's directory.
#[derive(Debug, Default)]
pub struct WebConfig {
    /// Built here, so a missing or mismatched certificate is refused with the config.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Added to every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// User name to bcrypt hash; empty means no authentication.
    pub users: BTreeMap<String, String>,
}

/// `tls_server_config`, checked and resolved.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    pub cert_file: Placed<PathBuf>,
    pub key_file: Placed<PathBuf>,
    pub client_auth: ClientAuth,
    pub client_ca_file: Option<Placed<PathBuf>>,
    pub min_version: TlsVersion,
    pub max_version: TlsVersion,
}

/// A value with the place (`file:line:column`) it was written at, for messages.
#[derive(Debug, Clone)]
pub struct Placed<T> {
    pub value: T,
    pub place: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    #[serde(default)]
    tls_server_config: Option<Spanned<RawTls>>,
    #[serde(default)]
    http_server_config: Option<RawHttpServer>,
    #[serde(default)]
    basic_auth_users: Option<BTreeMap<String, Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    #[serde(default)]
    cert_file: Option<Spanned<String>>,
    #[serde(default)]
    key_file: Option<Spanned<String>>,
    #[serde(default)]
    client_auth_type: Option<ClientAuth>,
    #[serde(default)]
    client_ca_file: Option<Spanned<String>>,
    #[serde(default)]
    min_version: Option<TlsVersion>,
    #[serde(default)]
    max_version: Option<TlsVersion>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpServer {
    /// Accepted for compatibility; this server speaks HTTP/1.1 only.
    #[serde(default)]
    #[allow(dead_code)]
    http2: Option<bool>,
    #[serde(default)]
    headers: BTreeMap<String, Spanned<String>>,
}

/// The response headers exporter-toolkit lets a web config set, with the values it allows
/// (`None`: any value).
const ALLOWED_HEADERS: &[(&str, Option<&[&str]>)] = &[
    ("Strict-Transport-Security", None),
    ("X-Content-Type-Options", Some(&["nosniff"])),
    ("X-Frame-Options", Some(&["deny", "sameorigin"])),
    ("X-XSS-Protection", None),
    ("Content-Security-Policy", None),
];

impl WebConfig {
    /// Read and validate `path`; TLS material is read too, so a missing or mismatched
    /// certificate is refused here rather than at the first handshake.
    pub fn load(path: &Path) -> Result<WebConfig> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow!("cannot read web config file {origin}: {e}"))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, &origin, base)
    }

    /// Parse `text` read from `origin`; relative file names are taken from `base`.
    pub fn parse(text: &str, origin: &str, base: &Path) -> Result<WebConfig> {
        let raw: Option<RawWebConfig> = serde_saphyr::from_str(text).map_err(|e| {
            let place = e
                .location()
                .map(|l| at(origin, &l))
                .unwrap_or_else(|| origin.to_string());
            anyhow!("{place}: invalid web config: {e}")
        })?;
        let Some(raw) = raw else {
            return Ok(WebConfig::default()); // an empty file: plain HTTP, no auth
        };
        let mut config = WebConfig::default();
        if let Some(tls) = raw.tls_server_config {
            config.tls = Some(super::tls::server_config(&tls_settings(
                tls, origin, base,
            )?)?);
        }
        if let Some(http) = raw.http_server_config {
            for (name, value) in http.headers {
                config.headers.push(header(&name, &value, origin)?);
            }
        }
        for (user, hash) in raw.basic_auth_users.unwrap_or_default() {
            if hash.value.parse::<bcrypt::HashParts>().is_err() {
                bail!(
                    "{}: basic_auth_users.{user}: not a bcrypt hash (make one with `htpasswd -nBC 10 {user}`)",
                    at(origin, &hash.referenced)
                );
            }
            config.users.insert(user, hash.value);
        }
        Ok(config)
    }
}

fn at(origin: &str, location: &Location) -> String {
    format!("{origin}:{}:{}", location.line(), location.column())
}

fn placed_path(value: Spanned<String>, origin: &str, base: &Path) -> Placed<PathBuf> {
    Placed {
        value: base.join(&value.value),
        place: at(origin, &value.referenced),
    }
}

fn tls_settings(raw: Spanned<RawTls>, origin: &str, base: &Path) -> Result<TlsSettings> {
    let section = at(origin, &raw.referenced);
    let raw = raw.value;
    let (Some(cert_file), Some(key_file)) = (raw.cert_file, raw.key_file) else {
        bail!("{section}: tls_server_config needs both cert_file and key_file");
    };
    let client_ca_file = raw.client_ca_file.map(|f| placed_path(f, origin, base));
    // exporter-toolkit: a CA file without a type means the CA is meant to be enforced.
    let client_auth = match (raw.client_auth_type, &client_ca_file) {
        (Some(auth), _) => auth,
        (None, Some(_)) => ClientAuth::RequireAndVerifyClientCert,
        (None, None) => ClientAuth::NoClientCert,
    };
    if client_auth.verifies() && client_ca_file.is_none() {
        bail!("{section}: client_auth_type {client_auth:?} needs client_ca_file");
    }
    let min_version = raw.min_version.unwrap_or(TlsVersion::TLS12);
    let max_version = raw.max_version.unwrap_or(TlsVersion::TLS13);
    if min_version > max_version {
        bail!("{section}: min_version {min_version:?} is above max_version {max_version:?}");
    }
    Ok(TlsSettings {
        cert_file: placed_path(cert_file, origin, base),
        key_file: placed_path(key_file, origin, base),
        client_auth,
        client_ca_file,
        min_version,
        max_version,
    })
}

fn header(name: &str, value: &Spanned<String>, origin: &str) -> Result<(HeaderName, HeaderValue)> {
    let place = at(origin, &value.referenced);
    let Some((canonical, allowed)) = ALLOWED_HEADERS
        .iter()
        .find(|(h, _)| h.eq_ignore_ascii_case(name))
    else {
        let names: Vec<&str> = ALLOWED_HEADERS.iter().map(|(h, _)| *h).collect();
        bail!(
            "{place}: http_server_config.headers: {name:?} may not be set (allowed: {})",
            names.join(", ")
        );
    };
    if let Some(values) = allowed
        && !values.iter().any(|v| v.eq_ignore_ascii_case(&value.value))
    {
        bail!(
            "{place}: http_server_config.headers.{canonical}: {:?} is not one of {values:?}",
            value.value
        );
    }
    let header_value = HeaderValue::from_str(&value.value).map_err(|_| {
        anyhow!(
            "{place}: http_server_config.headers.{canonical}: {:?} is not a valid header value",
            value.value
        )
    })?;
    // from_bytes lower-cases the name, as HTTP/1 headers are matched without case.
    Ok((HeaderName::from_bytes(canonical.as_bytes())?, header_value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<WebConfig> {
        WebConfig::parse(text, "web.yml", Path::new("/nonexistent"))
    }

    #[test]
    fn empty_file_is_plain_http_without_auth() {
        let c = parse("").unwrap();
        assert!(c.tls.is_none() && c.users.is_empty() && c.headers.is_empty());
    }

    #[test]
    fn refusals_name_file_line_and_column() {
        let cases = [
            ("tls_server_config:\n  cert_fil: a\n", "web.yml:2:3"),
            ("basic_auth_users:\n  alice: plain-text\n", "web.yml:2:10"),
            (
                "http_server_config:\n  headers:\n    Server: nginx\n",
                "web.yml:3:13",
            ),
            (
                "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
                "web.yml:3:22",
            ),
            (
                "tls_server_config:\n  cert_file: /nonexistent/c.pem\n  key_file: k.pem\n",
                "web.yml:2:14",
            ),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: RequireAndVerifyClientCert\n",
                "web.yml:2:3",
            ),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: Maybe\n",
                "web.yml:4:21",
            ),
        ];
        for (text, place) in cases {
            let message = format!("{:#}", parse(text).unwrap_err());
            assert!(message.contains(place), "{place} not in: {message}");
        }
    }

    #[test]
    fn headers_are_matched_without_case_and_kept() {
        let c = parse("http_server_config:\n  headers:\n    x-frame-options: DENY\n").unwrap();
        assert_eq!(c.headers[0].0.as_str(), "x-frame-options");
        assert_eq!(c.headers[0].1, "DENY");
    }
}
