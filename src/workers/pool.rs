//! One `workers:` entry resolved for scraping: its status page, its listen socket, where
//! its limit comes from, and how one scrape's result becomes its series.

use super::address::{Address, Down, DownReason, check_upstream};
use super::config::{WorkerConfig, WorkerKind};
use super::confs::FpmPoolConf;
use super::metrics::{
    ALL_REASONS, LIMIT_SOURCES, PoolLabels, PoolReasonLabels, PoolSourceLabels, PoolStateLabels,
    WorkerMetrics, mirror, set_opt,
};
use super::sockdiag::{ListenAddr, Listener};
use super::status::{self, PoolStatus};
use super::{DEFAULT_TIMEOUT, confs, fetch, masters};
use crate::base::net::parse_host_port;
use std::collections::HashMap;
use std::time::Duration;

/// A `workers:` entry, resolved once per config.
pub struct Pool {
    pub config: WorkerConfig,
    pub labels: PoolLabels,
    address: Address,
    /// The socket whose kernel backlog is the queue.
    pub listen: Option<ListenAddr>,
    pub timeout: Duration,
}

fn listen_addr(address: &Address) -> Option<ListenAddr> {
    match address {
        Address::Unix(path) => Some(ListenAddr::Unix(path.clone())),
        Address::Tcp(hostport) => {
            let (host, port) = parse_host_port(hostport, 0).ok()?;
            let host = if host == "localhost" {
                "127.0.0.1"
            } else {
                &host
            };
            Some(ListenAddr::Tcp(std::net::SocketAddr::new(
                host.parse().ok()?,
                port,
            )))
        }
        Address::Http(_) => None,
    }
}

impl Pool {
    pub fn new(config: &WorkerConfig) -> Pool {
        // Validated before we get here.
        let address =
            Address::parse(&config.address).unwrap_or(Address::Tcp(config.address.clone()));
        let listen = match (&config.listen, config.kind) {
            (Some(l), _) => Address::parse(l).ok().as_ref().and_then(listen_addr),
            (None, WorkerKind::Phpfpm | WorkerKind::Socket) => listen_addr(&address),
            (None, _) => None,
        };
        Pool {
            labels: PoolLabels {
                pool: config.pool().to_string(),
                kind: config.kind.as_str().to_string(),
            },
            address,
            listen,
            timeout: config.timeout.unwrap_or(DEFAULT_TIMEOUT),
            config: config.clone(),
        }
    }

    /// Fetch and parse the status page. `fpm` is the pool's section in the FPM config: its
    /// `pm.status_listen` answers while every worker is busy, so it is used whenever the
    /// entry points at the pool's own socket.
    pub async fn status(&self, fpm: Option<&FpmPoolConf>) -> Result<PoolStatus, Down> {
        let invalid = |e: String| Down::new(DownReason::InvalidResponse, e);
        match (self.config.kind, &self.address) {
            (WorkerKind::Phpfpm, Address::Http(url)) => {
                let mut url = url.clone();
                if url.query().is_none() {
                    url.set_query(Some("json&full"));
                }
                let body = fetch::http_get(&url, self.timeout).await?;
                let queue_is_real = matches!(self.listen, Some(ListenAddr::Tcp(_)));
                status::parse_fpm(&body, url.path(), queue_is_real).map_err(invalid)
            }
            (WorkerKind::Phpfpm, address) => {
                let path = (self.config.status_path.as_deref())
                    .or(fpm.and_then(|f| f.status_path.as_deref()))
                    .unwrap_or("/status");
                let status_listener = fpm
                    .filter(|_| self.config.listen.is_none())
                    .and_then(|f| f.status_listen.as_deref())
                    .and_then(|l| Address::parse(&confs::fpm_listen_address(l)).ok());
                let address = status_listener.as_ref().unwrap_or(address);
                let body = fetch::fastcgi_get(address, path, "json&full", self.timeout).await?;
                let queue_is_real = matches!(self.listen, Some(ListenAddr::Tcp(_)));
                status::parse_fpm(&body, path, queue_is_real).map_err(invalid)
            }
            (WorkerKind::Apache, Address::Http(url)) => {
                let mut url = url.clone();
                if url.query().is_none() {
                    url.set_query(Some("auto"));
                }
                status::parse_apache(&fetch::http_get(&url, self.timeout).await?).map_err(invalid)
            }
            (WorkerKind::Nginx, Address::Http(url)) => {
                status::parse_nginx(&fetch::http_get(url, self.timeout).await?).map_err(invalid)
            }
            (WorkerKind::Uwsgi, Address::Http(url)) => {
                status::parse_uwsgi(&fetch::http_get(url, self.timeout).await?).map_err(invalid)
            }
            (WorkerKind::Uwsgi, address) => {
                status::parse_uwsgi(&fetch::read_all(address, self.timeout).await?).map_err(invalid)
            }
            // A socket has no status page: it is up when the kernel lists it as listening
            // (judged in `collect`); a host name we cannot match there is tried with a connect.
            (WorkerKind::Socket, _) if self.listen.is_none() => {
                check_upstream(&self.config.address, self.timeout).await?;
                Ok(PoolStatus::default())
            }
            _ => Ok(PoolStatus::default()),
        }
    }

    /// The listen socket as nginx and Apache name the upstream in their logs
    /// (`unix:/run/php/www.sock`, `127.0.0.1:9000`).
    pub fn upstream_label(&self) -> Option<String> {
        match self.listen.as_ref()? {
            ListenAddr::Unix(path) => Some(format!("unix:{}", path.display())),
            ListenAddr::Tcp(addr) => Some(addr.to_string()),
        }
    }

    /// Why a socket the kernel does not list as listening is down, as a client would see it.
    pub fn not_listening(&self) -> Down {
        match &self.address {
            Address::Unix(path) if !path.exists() => Down::new(
                DownReason::SocketMissing,
                format!("{} does not exist", path.display()),
            ),
            _ => Down::new(
                DownReason::ConnectRefused,
                "not listening (kernel listen table)",
            ),
        }
    }

    pub fn config_patterns(&self) -> Vec<String> {
        match &self.config.config_file {
            Some(p) => vec![p.clone()],
            None => self
                .config
                .kind
                .default_config_files()
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }

    /// The pool's section in the FPM config files (the entry's `config_file` or the default
    /// globs, then what the running masters read): the one listening where this pool
    /// listens, else the one named `name` (pool names repeat across masters; addresses don't).
    pub fn fpm_conf(&self, files: &ConfigFiles, name: &str) -> Option<FpmPoolConf> {
        if self.config.kind != WorkerKind::Phpfpm {
            return None;
        }
        let patterns = self.config_patterns();
        let pools = || {
            let masters = files.fpm_pools(&files.fpm_masters);
            files.fpm_pools(&patterns).chain(masters)
        };
        let same_listen = |pool: &&FpmPoolConf| {
            let address = pool.listen.as_deref().map(confs::fpm_listen_address);
            self.listen.is_some()
                && address
                    .and_then(|a| Address::parse(&a).ok())
                    .as_ref()
                    .and_then(listen_addr)
                    == self.listen
        };
        let found = pools().find(same_listen);
        found.or_else(|| pools().find(|p| p.name == name)).cloned()
    }

    /// The limit from the server's own config files (PHP-FPM: the pool's section, `fpm`).
    fn limit_from_files(&self, files: &ConfigFiles, fpm: Option<&FpmPoolConf>) -> Option<u64> {
        let patterns = self.config_patterns();
        let texts = files.texts(&patterns);
        match self.config.kind {
            WorkerKind::Phpfpm => fpm.and_then(|p| p.max_children),
            WorkerKind::Apache => texts.filter_map(confs::parse_apache_limit).last(),
            WorkerKind::Nginx => {
                let cpus = std::thread::available_parallelism()
                    .map(|n| n.get() as u64)
                    .unwrap_or(1);
                texts
                    .filter_map(|t| confs::parse_nginx_limit(t, cpus))
                    .last()
            }
            WorkerKind::Uwsgi | WorkerKind::Socket => None,
        }
    }

    /// Write one scrape's series. A status request that waited until its timeout while the
    /// kernel showed requests queued on the pool's socket reached a pool that accepts and
    /// queues but has no free worker: up and saturated, its active count inferred as the limit.
    pub fn write(
        &self,
        m: &WorkerMetrics,
        result: &Result<PoolStatus, Down>,
        took: Duration,
        kernel: Option<&Listener>,
        files: &ConfigFiles,
        fpm: Option<&FpmPoolConf>,
    ) {
        let l = &self.labels;
        if self.config.kind != WorkerKind::Socket {
            m.status_duration.get_or_create(l).set(took.as_secs_f64());
        }
        let inferred = matches!(result, Err(d) if d.reason == DownReason::Timeout)
            && kernel.is_some_and(|k| k.queue > 0);
        let down = match result {
            Err(d) if !inferred => Some(d.reason),
            _ => None,
        };
        m.up.get_or_create(l).set(i64::from(down.is_none()));
        for reason in ALL_REASONS {
            let labels = PoolReasonLabels {
                pool: l.pool.clone(),
                kind: l.kind.clone(),
                reason: reason.as_str().into(),
            };
            set_opt(&m.down, &labels, (down == Some(reason)).then_some(1));
        }
        let status = result.as_ref().ok();
        let limit = match (self.config.limit, status.and_then(|s| s.limit)) {
            (Some(v), _) => Some((v, "exporter_config")),
            (None, Some(v)) => Some((v, "status")),
            (None, None) => self
                .limit_from_files(files, fpm)
                .map(|v| (v, "config_file")),
        };
        let (active, idle) = if inferred {
            (limit.map(|x| x.0), Some(0))
        } else {
            (status.and_then(|s| s.active), status.and_then(|s| s.idle))
        };
        for (state, value) in [("active", active), ("idle", idle)] {
            let labels = PoolStateLabels {
                pool: l.pool.clone(),
                kind: l.kind.clone(),
                state: state.into(),
            };
            set_opt(&m.workers, &labels, value);
        }
        let counted = self.config.kind != WorkerKind::Socket && down.is_none();
        set_opt(&m.inferred, l, counted.then_some(u64::from(inferred)));
        // The kernel's figure wins: FPM reports 0 on unix sockets, and it still answers
        // when the status page does not.
        let queue = kernel.map(|k| (u64::from(k.queue), u64::from(k.limit)));
        set_opt(
            &m.queue,
            l,
            queue.map(|q| q.0).or(status.and_then(|s| s.queue)),
        );
        set_opt(
            &m.queue_limit,
            l,
            queue.map(|q| q.1).or(status.and_then(|s| s.queue_limit)),
        );
        mirror(&m.limit_reached, l, status.and_then(|s| s.limit_reached));
        mirror(&m.slow_requests, l, status.and_then(|s| s.slow_requests));
        set_opt(&m.limit, l, limit.map(|x| x.0));
        for source in LIMIT_SOURCES {
            let labels = PoolSourceLabels {
                pool: l.pool.clone(),
                kind: l.kind.clone(),
                source: source.into(),
            };
            set_opt(
                &m.limit_info,
                &labels,
                (limit.map(|x| x.1) == Some(source)).then_some(1),
            );
        }
    }
}

/// The servers' config files of one scrape: each glob pattern's texts, read once, and the
/// PHP-FPM ones parsed once (50 pools in one file are not parsed 50 times).
#[derive(Default)]
pub struct ConfigFiles {
    by_pattern: HashMap<String, Vec<String>>,
    fpm_by_pattern: HashMap<String, Vec<FpmPoolConf>>,
    /// The running PHP-FPM masters' own config files and their `include`s, as patterns.
    pub fpm_masters: Vec<String>,
}

impl ConfigFiles {
    /// Read every pattern; when there are PHP-FPM patterns, also the config of each running
    /// FPM master.
    pub fn read(patterns: Vec<String>, fpm_patterns: Vec<String>) -> ConfigFiles {
        let mut files = ConfigFiles::default();
        if !fpm_patterns.is_empty() {
            files.fpm_masters = masters::fpm_config_patterns();
        }
        let fpm: Vec<String> = fpm_patterns
            .into_iter()
            .chain(files.fpm_masters.iter().cloned())
            .collect();
        for pattern in patterns.iter().chain(&fpm) {
            if files.by_pattern.contains_key(pattern) {
                continue;
            }
            let texts = glob::glob(pattern)
                .map(|paths| {
                    paths
                        .flatten()
                        .filter_map(|p| std::fs::read_to_string(p).ok())
                        .collect()
                })
                .unwrap_or_default();
            files.by_pattern.insert(pattern.clone(), texts);
        }
        for pattern in fpm {
            let pools = files
                .texts(std::slice::from_ref(&pattern))
                .filter_map(|t| confs::parse_fpm_pools(t).ok())
                .flatten()
                .collect();
            files.fpm_by_pattern.insert(pattern, pools);
        }
        files
    }

    /// The texts of the files `patterns` matched.
    pub fn texts<'a>(&'a self, patterns: &'a [String]) -> impl Iterator<Item = &'a str> {
        patterns
            .iter()
            .flat_map(|p| self.by_pattern.get(p))
            .flatten()
            .map(String::as_str)
    }

    /// The PHP-FPM pool sections of the files `patterns` matched.
    fn fpm_pools<'a>(&'a self, patterns: &'a [String]) -> impl Iterator<Item = &'a FpmPoolConf> {
        patterns
            .iter()
            .flat_map(|p| self.fpm_by_pattern.get(p))
            .flatten()
    }
}
