//! The `workers:`, `upstreams:` and `maintenance_files:` sections.

use super::address::Address;
use anyhow::{Context, bail};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// What kind of server a `workers:` entry watches.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerKind {
    Phpfpm,
    Apache,
    Nginx,
    Uwsgi,
    /// Only the listen backlog of a socket, read from the kernel.
    Socket,
}

/// As in the config and the `kind` label (the landing page prints it).
impl std::fmt::Debug for WorkerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl WorkerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerKind::Phpfpm => "phpfpm",
            WorkerKind::Apache => "apache",
            WorkerKind::Nginx => "nginx",
            WorkerKind::Uwsgi => "uwsgi",
            WorkerKind::Socket => "socket",
        }
    }

    /// The server config files read for the limit when `config_file` is not given.
    pub fn default_config_files(self) -> &'static [&'static str] {
        match self {
            WorkerKind::Phpfpm => &["/etc/php/*/fpm/pool.d/*.conf"],
            WorkerKind::Apache => &[
                "/etc/apache2/mods-enabled/mpm_*.conf",
                "/etc/apache2/apache2.conf",
                "/etc/httpd/conf/httpd.conf",
            ],
            WorkerKind::Nginx => &["/etc/nginx/nginx.conf"],
            WorkerKind::Uwsgi | WorkerKind::Socket => &[],
        }
    }
}

/// One entry of `workers:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    pub kind: WorkerKind,
    /// Where the status page is: `unix:/path`, `tcp://host:port` (FastCGI for `phpfpm`, the
    /// stats socket for `uwsgi`, the listener itself for `socket`) or `http://...`.
    pub address: String,
    /// The `pool` label; default: the address.
    #[serde(default)]
    pub name: Option<String>,
    /// PHP-FPM `pm.status_path` when reached over FastCGI (default `/status`).
    #[serde(default)]
    pub status_path: Option<String>,
    /// The socket the pool accepts requests on, whose kernel backlog is the queue. Default for
    /// `phpfpm` over FastCGI and `socket`: the address. Set it when `address` is a status
    /// listener (`pm.status_listen`) or an HTTP status page.
    #[serde(default)]
    pub listen: Option<String>,
    /// The pool's size, when the status page and the server's config files do not tell.
    #[serde(default)]
    pub limit: Option<u64>,
    /// The server's config file(s) to read the limit from (a glob).
    #[serde(default)]
    pub config_file: Option<String>,
    #[serde(default, deserialize_with = "crate::base::duration::deserialize_opt")]
    pub timeout: Option<Duration>,
}

impl WorkerConfig {
    /// The `pool` label.
    pub fn pool(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.address)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        let address = Address::parse(&self.address).map_err(anyhow::Error::msg)?;
        match (self.kind, &address) {
            (WorkerKind::Apache | WorkerKind::Nginx, a) if !matches!(a, Address::Http(_)) => {
                bail!("kind {} needs an http:// status URL", self.kind.as_str())
            }
            (WorkerKind::Socket, Address::Http(_)) => {
                bail!("kind socket needs a socket address, not a URL")
            }
            _ => {}
        }
        if let Some(path) = &self.status_path {
            if self.kind != WorkerKind::Phpfpm || matches!(address, Address::Http(_)) {
                bail!(
                    "status_path is for phpfpm over FastCGI (an http:// address carries its own path)"
                );
            }
            if !path.starts_with('/') {
                bail!("status_path {path:?} must start with /");
            }
        }
        if let Some(listen) = &self.listen
            && matches!(
                Address::parse(listen).map_err(anyhow::Error::msg)?,
                Address::Http(_)
            )
        {
            bail!("listen {listen:?} must be a socket (unix:/path or host:port)");
        }
        if self.limit == Some(0) {
            bail!("limit must be positive");
        }
        if let Some(pattern) = &self.config_file {
            glob::Pattern::new(pattern).with_context(|| format!("config_file {pattern:?}"))?;
        }
        check_timeout(self.timeout)
    }
}

/// One entry of `upstreams:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// TCP `host:port` or a unix socket path (`/path` or `unix:/path`).
    pub address: String,
    /// The `upstream` label; default: the address.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::base::duration::deserialize_opt")]
    pub timeout: Option<Duration>,
    /// The upstream group (nginx `upstream` block, HAProxy backend) this server belongs to,
    /// as the logs name the group: lets "no live upstreams" be matched to its servers.
    #[serde(default)]
    pub group: Option<String>,
}

impl UpstreamConfig {
    /// The `upstream` label.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.address)
    }
}

fn check_timeout(timeout: Option<Duration>) -> anyhow::Result<()> {
    match timeout {
        Some(t) if t.is_zero() || t > Duration::from_secs(60) => {
            bail!("timeout must be between 1ms and 60s")
        }
        _ => Ok(()),
    }
}

fn default_max_duration() -> Duration {
    Duration::from_secs(2 * 3600)
}

/// One entry of `maintenance_files:`: a path, or the path with the site it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct MaintenanceFile {
    /// The flag file: maintenance is on while it exists.
    pub path: PathBuf,
    /// The vhost (as the logs name it) whose 503s the flag explains.
    pub vhost: Option<String>,
    /// The probe target whose failures the flag explains.
    pub target: Option<String>,
    /// How long the flag may stay on before it is a problem of its own.
    pub max_duration: Duration,
}

/// The long form of a `maintenance_files:` entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MaintenanceEntry {
    path: PathBuf,
    #[serde(default)]
    vhost: Option<String>,
    #[serde(default)]
    target: Option<String>,
    #[serde(
        default = "default_max_duration",
        deserialize_with = "crate::base::duration::deserialize"
    )]
    max_duration: Duration,
}

impl<'de> Deserialize<'de> for MaintenanceFile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = MaintenanceFile;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a path, or {path, vhost, target, max_duration}")
            }
            fn visit_str<E: serde::de::Error>(self, path: &str) -> Result<MaintenanceFile, E> {
                Ok(MaintenanceFile {
                    path: PathBuf::from(path),
                    vhost: None,
                    target: None,
                    max_duration: default_max_duration(),
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<MaintenanceFile, A::Error> {
                let e = MaintenanceEntry::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                Ok(MaintenanceFile {
                    path: e.path,
                    vhost: e.vhost,
                    target: e.target,
                    max_duration: e.max_duration,
                })
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl MaintenanceFile {
    pub fn labels(&self) -> super::metrics::PathLabels {
        super::metrics::PathLabels {
            path: self.path.display().to_string(),
        }
    }
}

/// The sections the workers source reads.
#[derive(Clone, Copy)]
pub struct WorkerSections<'a> {
    pub pools: &'a [WorkerConfig],
    pub upstreams: &'a [UpstreamConfig],
    pub maintenance_files: &'a [MaintenanceFile],
}

/// Checks of the `workers:`, `upstreams:` and `maintenance_files:` sections.
pub fn validate(sections: WorkerSections<'_>) -> anyhow::Result<()> {
    let mut pools = std::collections::HashSet::new();
    for (i, w) in sections.pools.iter().enumerate() {
        let what = || format!("workers[{i}] ({} {})", w.kind.as_str(), w.pool());
        w.validate().with_context(what)?;
        if !pools.insert((w.kind, w.pool())) {
            bail!(
                "{}: pool name used twice; give each entry its own `name`",
                what()
            );
        }
    }
    let mut upstreams = std::collections::HashSet::new();
    for (i, u) in sections.upstreams.iter().enumerate() {
        let what = || format!("upstreams[{i}] ({})", u.label());
        match Address::parse(&u.address) {
            Ok(Address::Http(_)) => bail!(
                "{}: an upstream is host:port or a socket path, not a URL",
                what()
            ),
            Ok(_) => {}
            Err(e) => bail!("{}: {e}", what()),
        }
        check_timeout(u.timeout).with_context(what)?;
        if !upstreams.insert(u.label()) {
            bail!("{}: upstream listed twice", what());
        }
    }
    for flag in sections.maintenance_files {
        if !flag.path.is_absolute() {
            bail!(
                "maintenance_files: {} must be an absolute path",
                flag.path.display()
            );
        }
        if flag.max_duration.is_zero() {
            bail!(
                "maintenance_files: {}: max_duration must be positive",
                flag.path.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Config {
        #[serde(default)]
        workers: Vec<WorkerConfig>,
        #[serde(default)]
        upstreams: Vec<UpstreamConfig>,
        #[serde(default)]
        maintenance_files: Vec<MaintenanceFile>,
    }

    fn parse(yaml: &str) -> anyhow::Result<Config> {
        let config: Config = serde_saphyr::from_str(yaml)?;
        validate(WorkerSections {
            pools: &config.workers,
            upstreams: &config.upstreams,
            maintenance_files: &config.maintenance_files,
        })?;
        Ok(config)
    }

    #[test]
    fn accepts_every_kind() {
        let config = parse(
            "workers:\n\
             - {kind: phpfpm, address: 'unix:/run/php/www.sock', name: www, status_path: /status, limit: 5, timeout: 2s}\n\
             - {kind: phpfpm, address: 'tcp://127.0.0.1:9001', listen: 'unix:/run/php/api.sock', config_file: '/etc/php/*/fpm/pool.d/api.conf'}\n\
             - {kind: phpfpm, address: 'http://127.0.0.1/fpm-status'}\n\
             - {kind: apache, address: 'http://127.0.0.1/server-status', listen: '127.0.0.1:80'}\n\
             - {kind: nginx, address: 'http://127.0.0.1/nginx_status'}\n\
             - {kind: uwsgi, address: '127.0.0.1:1717'}\n\
             - {kind: socket, address: /run/gunicorn.sock, name: app}\n\
             upstreams:\n- {address: '127.0.0.1:8080'}\n- {address: /run/app.sock, name: app, timeout: 500ms, group: backend_app}\n\
             maintenance_files: [/var/www/.maintenance, {path: /srv/shop/.flag, vhost: shop.example, target: shop, max_duration: 30m}]\n",
        )
        .unwrap();
        assert_eq!(config.workers.len(), 7);
        assert_eq!(config.workers[6].pool(), "app");
        assert_eq!(config.workers[5].pool(), "127.0.0.1:1717");
        assert_eq!(config.upstreams[1].label(), "app");
        assert_eq!(config.upstreams[1].group.as_deref(), Some("backend_app"));
        let flags = &config.maintenance_files;
        assert_eq!(flags[0].max_duration, Duration::from_secs(7200));
        assert_eq!(flags[0].vhost, None);
        assert_eq!(flags[1].vhost.as_deref(), Some("shop.example"));
        assert_eq!(flags[1].target.as_deref(), Some("shop"));
        assert_eq!(flags[1].max_duration, Duration::from_secs(1800));
    }

    #[test]
    fn refuses_bad_entries_with_the_reason() {
        let table = [
            (
                "workers: [{kind: php, address: '/x.sock'}]",
                "unknown variant",
            ),
            ("workers: [{kind: phpfpm, address: 'x.sock'}]", "host:port"),
            (
                "workers: [{kind: apache, address: '127.0.0.1:80'}]",
                "http://",
            ),
            (
                "workers: [{kind: socket, address: 'http://127.0.0.1/'}]",
                "not a URL",
            ),
            (
                "workers: [{kind: nginx, address: 'http://127.0.0.1/s', status_path: /s}]",
                "status_path",
            ),
            (
                "workers: [{kind: phpfpm, address: '/x.sock', status_path: status}]",
                "must start with /",
            ),
            (
                "workers: [{kind: phpfpm, address: '/x.sock', limit: 0}]",
                "positive",
            ),
            (
                "workers: [{kind: phpfpm, address: '/x.sock', timeout: 0s}]",
                "timeout",
            ),
            (
                "workers: [{kind: phpfpm, address: '/x.sock', listen: 'http://a/'}]",
                "must be a socket",
            ),
            (
                "workers: [{kind: phpfpm, address: '/x.sock', config_file: '/etc/[a'}]",
                "config_file",
            ),
            (
                "workers: [{kind: phpfpm, address: '/a.sock', name: w}, {kind: phpfpm, address: '/b.sock', name: w}]",
                "used twice",
            ),
            (
                "workers: [{kind: phpfpm, address: '/a.sock', bogus: 1}]",
                "bogus",
            ),
            ("upstreams: [{address: 'http://127.0.0.1/'}]", "not a URL"),
            ("upstreams: [{address: 'nowhere'}]", "host:port"),
            (
                "upstreams: [{address: '/a.sock'}, {address: '/a.sock'}]",
                "twice",
            ),
            ("maintenance_files: [relative/flag]", "absolute"),
            (
                "maintenance_files: [{path: /f, max_duration: 0s}]",
                "positive",
            ),
            ("maintenance_files: [{path: /f, bogus: 1}]", "bogus"),
        ];
        for (yaml, want) in table {
            let msg = format!("{:#}", parse(yaml).unwrap_err());
            assert!(msg.contains(want), "{yaml}: {msg}");
        }
    }
}
