//! The `logs:` and `log_settings:` sections.

use super::cause::AppCause;
use super::nginx_access;
use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// The `format` of a log.
#[derive(Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    NginxError,
    NginxAccess,
    NginxAccessJson,
    ApacheError,
    Haproxy,
    Phpfpm,
    IngressNginx,
    Caddy,
    Envoy,
    Traefik,
    /// PHP's own `error_log` file.
    PhpError,
}

impl LogFormat {
    /// Whether the format reports server lifecycle events (reloads, restarts, ...): a
    /// server's error log does, an access log or PHP's own log does not.
    pub fn has_events(self) -> bool {
        !matches!(
            self,
            LogFormat::NginxAccess
                | LogFormat::NginxAccessJson
                | LogFormat::PhpError
                | LogFormat::IngressNginx
                | LogFormat::Caddy
                | LogFormat::Envoy
                | LogFormat::Traefik
        )
    }

    /// The app causes the format reports (`gateway_app_errors_total`).
    pub fn app_causes(self) -> &'static [AppCause] {
        const PHP: [AppCause; 4] = [
            AppCause::Database,
            AppCause::MemoryExhausted,
            AppCause::ExecutionTimeout,
            AppCause::PhpFatal,
        ];
        match self {
            LogFormat::NginxError | LogFormat::PhpError => &PHP,
            // PHP's words, and a hosting limit that refused the request (mod_hostinglimits).
            LogFormat::ApacheError => &[
                AppCause::Database,
                AppCause::MemoryExhausted,
                AppCause::ExecutionTimeout,
                AppCause::PhpFatal,
                AppCause::ResourceLimit,
            ],
            // PHP's words (catch_workers_output), request_terminate_timeout, crashed children.
            LogFormat::Phpfpm => &[
                AppCause::Database,
                AppCause::MemoryExhausted,
                AppCause::ExecutionTimeout,
                AppCause::PhpFatal,
                AppCause::WorkerCrash,
            ],
            LogFormat::NginxAccess
            | LogFormat::NginxAccessJson
            | LogFormat::Haproxy
            | LogFormat::IngressNginx
            | LogFormat::Caddy
            | LogFormat::Envoy
            | LogFormat::Traefik => &[],
        }
    }

    /// Whether the format names the vhost of an app error: the others count them as `-`,
    /// whose series are born with the log.
    pub fn names_app_vhosts(self) -> bool {
        self == LogFormat::NginxError
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::NginxError => "nginx_error",
            LogFormat::NginxAccess => "nginx_access",
            LogFormat::NginxAccessJson => "nginx_access_json",
            LogFormat::ApacheError => "apache_error",
            LogFormat::Haproxy => "haproxy",
            LogFormat::Phpfpm => "phpfpm",
            LogFormat::IngressNginx => "ingress_nginx",
            LogFormat::Caddy => "caddy",
            LogFormat::Envoy => "envoy",
            LogFormat::Traefik => "traefik",
            LogFormat::PhpError => "php_error",
        }
    }
}

/// Printed as the config spells it (the landing page shows it).
impl std::fmt::Debug for LogFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of `logs:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// A file, or a glob (`/var/log/nginx/*error.log`) that may gain files.
    pub path: String,
    pub format: LogFormat,
    /// The `log` label; default: the path.
    #[serde(default)]
    pub name: Option<String>,
    /// `nginx_access` only: the nginx `log_format` string; default `combined`.
    #[serde(default)]
    pub log_format: Option<String>,
    /// `nginx_access_json` only: which keys hold status, vhost and upstream fields.
    #[serde(default)]
    pub json_keys: Option<nginx_access::JsonKeys>,
    /// The proxy timeout in force for this log, exported as `gateway_upstream_timeout_seconds`.
    #[serde(default, deserialize_with = "crate::base::duration::deserialize_opt")]
    pub proxy_read_timeout: Option<Duration>,
}

impl LogConfig {
    /// The `log` label value.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.path)
    }
}

fn default_poll() -> Duration {
    Duration::from_millis(250)
}
fn default_max_values() -> usize {
    1000
}
fn default_max_line() -> usize {
    1 << 20
}
fn default_max_files() -> usize {
    256
}
fn default_max_label_bytes() -> usize {
    128
}
fn default_max_series() -> usize {
    10_000
}
fn default_label_ttl() -> Duration {
    Duration::from_secs(3600)
}

/// The `log_settings:` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// Where offsets are saved so a restart continues where it stopped (optional).
    #[serde(default)]
    pub state_dir: Option<PathBuf>,
    /// How often files are checked for growth and rotation.
    #[serde(
        default = "default_poll",
        deserialize_with = "crate::base::duration::deserialize"
    )]
    pub poll_interval: Duration,
    /// Distinct values per label (vhost, upstream) and log before new ones fold into `__overflow__`.
    #[serde(default = "default_max_values")]
    pub max_label_values: usize,
    /// Longer lines are skipped and counted as `line_too_long`.
    #[serde(default = "default_max_line")]
    pub max_line_bytes: usize,
    /// Files one log (a glob) may hold open at once; more matches are counted as
    /// `too_many_files` read errors and not followed.
    #[serde(default = "default_max_files")]
    pub max_files_per_log: usize,
    /// Label values longer than this are cut (at a character boundary) and end with `…`.
    #[serde(default = "default_max_label_bytes")]
    pub max_label_bytes: usize,
    /// Series per family and log with label values from the log; beyond, new label sets fold
    /// into `__overflow__` (counted as `label="series"`).
    #[serde(default = "default_max_series")]
    pub max_series_per_family: usize,
    /// A vhost or upstream not seen for this long gives its slot and its series back.
    #[serde(
        default = "default_label_ttl",
        deserialize_with = "crate::base::duration::deserialize"
    )]
    pub label_value_ttl: Duration,
}

impl LogSettings {
    /// Whether a log's follower and labeler built with `self` fit `other` too (only the
    /// poll interval may differ).
    pub fn same_state(&self, other: &LogSettings) -> bool {
        LogSettings {
            poll_interval: other.poll_interval,
            ..self.clone()
        } == *other
    }

    /// The bounds of one log's labeler.
    pub fn limits(&self) -> super::labeler::Limits {
        super::labeler::Limits {
            values: self.max_label_values,
            value_bytes: self.max_label_bytes,
            series: self.max_series_per_family,
            ttl: u32::try_from(self.label_value_ttl.as_secs()).unwrap_or(u32::MAX),
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            state_dir: None,
            poll_interval: default_poll(),
            max_label_values: default_max_values(),
            max_line_bytes: default_max_line(),
            max_files_per_log: default_max_files(),
            max_label_bytes: default_max_label_bytes(),
            max_series_per_family: default_max_series(),
            label_value_ttl: default_label_ttl(),
        }
    }
}

/// Checks of the `logs:` section as a whole.
pub fn validate(logs: &[LogConfig], settings: &LogSettings) -> Result<()> {
    let mut names = std::collections::HashSet::new();
    for log in logs {
        let name = log.name();
        if !names.insert(name) {
            bail!("log {name:?} is configured twice (give one of them a distinct `name`)");
        }
        super::Parser::new(log).with_context(|| format!("log {name:?}"))?;
        if log.path.is_empty() {
            bail!("log {name:?}: empty path");
        }
        glob::Pattern::new(&log.path).with_context(|| format!("log {name:?}: bad glob"))?;
    }
    let s = settings;
    if s.max_label_values == 0 || s.max_line_bytes < 1024 || s.poll_interval.is_zero() {
        bail!(
            "log_settings: max_label_values must be > 0, max_line_bytes >= 1024, poll_interval > 0"
        );
    }
    if s.max_label_bytes < 16
        || s.max_series_per_family == 0
        || s.label_value_ttl.as_secs() < 1
        || s.max_files_per_log == 0
    {
        bail!(
            "log_settings: max_label_bytes must be >= 16, max_series_per_family > 0, label_value_ttl >= 1s, max_files_per_log > 0"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Sections {
        #[serde(default)]
        logs: Vec<LogConfig>,
        #[serde(default)]
        log_settings: LogSettings,
    }

    #[test]
    fn config_keys_and_checks() {
        let c: Sections = serde_saphyr::from_str(
            "logs:\n  - {path: /x/error.log, format: nginx_error, proxy_read_timeout: 60s}\n  - path: /x/access.log\n    format: nginx_access\n    log_format: '$remote_addr $status $host'\nlog_settings: {max_label_values: 5, poll_interval: 100ms}\n",
        )
        .unwrap();
        assert_eq!(c.logs[0].proxy_read_timeout, Some(Duration::from_secs(60)));
        assert_eq!(format!("{:?}", c.logs[1].format), "nginx_access");
        assert_eq!(c.log_settings.max_label_values, 5);
        for bad in [
            "logs: [{path: /a, format: nginx_error}, {path: /a, format: haproxy}]",
            "logs: [{path: /a, format: nginx_error, log_format: '$status'}]",
            "logs: [{path: /a, format: nginx_access, log_format: '$remote_addr'}]",
            "logs: [{path: /a, format: bogus}]",
            "logs: [{path: /a, format: nginx_error, bogus: 1}]",
            "log_settings: {max_label_values: 0}",
        ] {
            let parsed = serde_saphyr::from_str::<Sections>(bad)
                .map_err(anyhow::Error::from)
                .and_then(|s| validate(&s.logs, &s.log_settings));
            assert!(parsed.is_err(), "{bad}");
        }
    }
}
