//! One `workers:` entry resolved for scraping: its status page, its listen socket, where
//! its limit comes from, and how one scrape's result becomes its series.

use super::address::{Address, Down, DownReason, check_upstream};
use super::config::{WorkerConfig, WorkerKind};
use super::metrics::{
    ALL_REASONS, LIMIT_SOURCES, PoolLabels, PoolReasonLabels, PoolSourceLabels, PoolStateLabels,
    WorkerMetrics, mirror, set_opt,
};
use super::sockdiag::{ListenAddr, Listener};
use super::status::{self, PoolStatus};
use super::{DEFAULT_TIMEOUT, confs, fetch};
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

    /// Fetch and parse the status page.
    pub async fn status(&self) -> Result<PoolStatus, Down> {
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
                let path = self.config.status_path.as_deref().unwrap_or("/status");
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

    /// The limit from the server's own config files; an FPM pool is found by name or listen address.
    fn limit_from_files(&self, files: &FileCache, pool_name: &str) -> Option<u64> {
        let patterns = self.config_patterns();
        let texts = patterns
            .iter()
            .flat_map(|p| files.get(p))
            .flatten()
            .map(String::as_str);
        match self.config.kind {
            WorkerKind::Phpfpm => {
                let same_listen = |listen: &Option<String>| {
                    let addr = listen.as_deref().map(confs::fpm_listen_address);
                    self.listen.is_some()
                        && addr
                            .and_then(|a| Address::parse(&a).ok())
                            .as_ref()
                            .and_then(listen_addr)
                            == self.listen
                };
                let pools: Vec<_> = texts
                    .filter_map(|t| confs::parse_fpm_pools(t).ok())
                    .flatten()
                    .collect();
                let by_name = pools.iter().find(|p| p.name == pool_name);
                by_name
                    .or_else(|| pools.iter().find(|p| same_listen(&p.listen)))
                    .and_then(|p| p.max_children)
            }
            WorkerKind::Apache => texts.filter_map(confs::parse_apache_limit).next_back(),
            WorkerKind::Nginx => {
                let cpus = std::thread::available_parallelism()
                    .map(|n| n.get() as u64)
                    .unwrap_or(1);
                texts
                    .filter_map(|t| confs::parse_nginx_limit(t, cpus))
                    .next_back()
            }
            WorkerKind::Uwsgi | WorkerKind::Socket => None,
        }
    }

    pub fn write(
        &self,
        m: &WorkerMetrics,
        result: &Result<PoolStatus, Down>,
        took: Duration,
        kernel: Option<&Listener>,
        files: &FileCache,
    ) {
        let l = &self.labels;
        if self.config.kind != WorkerKind::Socket {
            m.status_duration.get_or_create(l).set(took.as_secs_f64());
        }
        let down = match result {
            Ok(_) => None,
            Err(d) => Some(d.reason),
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
        for state in ["active", "idle"] {
            let labels = PoolStateLabels {
                pool: l.pool.clone(),
                kind: l.kind.clone(),
                state: state.into(),
            };
            let v = status.and_then(|s| if state == "active" { s.active } else { s.idle });
            set_opt(&m.workers, &labels, v);
        }
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
        let limit = match (self.config.limit, status.and_then(|s| s.limit)) {
            (Some(v), _) => Some((v, "exporter_config")),
            (None, Some(v)) => Some((v, "status")),
            (None, None) => {
                let name = status.and_then(|s| s.pool.as_deref()).unwrap_or(&l.pool);
                self.limit_from_files(files, name)
                    .map(|v| (v, "config_file"))
            }
        };
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

/// The config files' texts by glob pattern, read once per scrape.
pub type FileCache = HashMap<String, Vec<String>>;

pub fn read_files(patterns: impl Iterator<Item = String>) -> FileCache {
    let mut cache = FileCache::new();
    for pattern in patterns {
        if cache.contains_key(&pattern) {
            continue;
        }
        let texts = glob::glob(&pattern)
            .map(|paths| {
                paths
                    .flatten()
                    .filter_map(|p| std::fs::read_to_string(p).ok())
                    .collect()
            })
            .unwrap_or_default();
        cache.insert(pattern, texts);
    }
    cache
}
