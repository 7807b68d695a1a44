//! The scrape-time collectors and the metric families they write.

use super::address::{Address, Down, DownReason, check_upstream};
use super::sockdiag::{self, ListenAddr, Listener};
use super::status::{self, PoolStatus};
use super::{DEFAULT_TIMEOUT, WorkerConfig, WorkerKind, confs, fetch};
use crate::collector::ScrapeCollector;
use crate::config::Config;
use crate::metrics::{FGauge, Metrics};
use futures::future::{BoxFuture, join_all};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    pub pool: String,
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolStateLabels {
    pub pool: String,
    pub kind: String,
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolReasonLabels {
    pub pool: String,
    pub kind: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolSourceLabels {
    pub pool: String,
    pub kind: String,
    pub source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabels {
    pub upstream: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamReasonLabels {
    pub upstream: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PathLabels {
    pub path: String,
}

const ALL_REASONS: [DownReason; 9] = [
    DownReason::ConnectRefused,
    DownReason::SocketMissing,
    DownReason::SocketPermission,
    DownReason::BacklogFull,
    DownReason::ConnectTimeout,
    DownReason::Timeout,
    DownReason::AccessDenied,
    DownReason::HttpStatus,
    DownReason::InvalidResponse,
];

/// Where a pool's limit came from: the `source` label of `gateway_workers_limit_info`.
const LIMIT_SOURCES: [&str; 3] = ["status", "config_file", "exporter_config"];

/// The worker families, registered once.
pub struct WorkerMetrics {
    up: Family<PoolLabels, Gauge>,
    down: Family<PoolReasonLabels, Gauge>,
    workers: Family<PoolStateLabels, Gauge>,
    limit: Family<PoolLabels, Gauge>,
    limit_info: Family<PoolSourceLabels, Gauge>,
    queue: Family<PoolLabels, Gauge>,
    queue_limit: Family<PoolLabels, Gauge>,
    limit_reached: Family<PoolLabels, Counter>,
    slow_requests: Family<PoolLabels, Counter>,
    status_duration: Family<PoolLabels, FGauge>,
    upstream_up: Family<UpstreamLabels, Gauge>,
    upstream_down: Family<UpstreamReasonLabels, Gauge>,
    maintenance: Family<PathLabels, Gauge>,
}

impl WorkerMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = WorkerMetrics {
            up: Family::default(),
            down: Family::default(),
            workers: Family::default(),
            limit: Family::default(),
            limit_info: Family::default(),
            queue: Family::default(),
            queue_limit: Family::default(),
            limit_reached: Family::default(),
            slow_requests: Family::default(),
            status_duration: Family::default(),
            upstream_up: Family::default(),
            upstream_down: Family::default(),
            maintenance: Family::default(),
        };
        registry.register(
            "worker_up",
            "1 when the worker pool's status scrape worked",
            m.up.clone(),
        );
        registry.register(
            "worker_down_info",
            "1 while the worker pool's status scrape fails, with the reason",
            m.down.clone(),
        );
        registry.register(
            "workers",
            "Workers of the pool by state (active, idle)",
            m.workers.clone(),
        );
        registry.register(
            "workers_limit",
            "The most workers (or connections) the pool can have",
            m.limit.clone(),
        );
        registry.register(
            "workers_limit_info",
            "Where the pool's limit came from (status, config_file, exporter_config)",
            m.limit_info.clone(),
        );
        registry.register(
            "worker_queue",
            "Requests waiting to be accepted by the pool",
            m.queue.clone(),
        );
        registry.register(
            "worker_queue_limit",
            "The pool's listen backlog limit",
            m.queue_limit.clone(),
        );
        registry.register(
            "worker_limit_reached",
            "Times the pool hit its limit, as the server counts them",
            m.limit_reached.clone(),
        );
        registry.register(
            "worker_slow_requests",
            "Slow requests, as the server counts them",
            m.slow_requests.clone(),
        );
        registry.register_with_unit(
            "worker_status_duration",
            "How long the pool's status scrape took (a stall is saturation)",
            Unit::Seconds,
            m.status_duration.clone(),
        );
        registry.register(
            "upstream_up",
            "1 when a connect to the upstream succeeded",
            m.upstream_up.clone(),
        );
        registry.register(
            "upstream_down_info",
            "1 while the upstream refuses connections, with the reason",
            m.upstream_down.clone(),
        );
        registry.register(
            "maintenance_mode",
            "1 while the maintenance flag file exists",
            m.maintenance.clone(),
        );
        m
    }

    /// Forget every series: a new config starts from what its collectors find.
    fn clear(&self) {
        self.up.clear();
        self.down.clear();
        self.workers.clear();
        self.limit.clear();
        self.limit_info.clear();
        self.queue.clear();
        self.queue_limit.clear();
        self.limit_reached.clear();
        self.slow_requests.clear();
        self.status_duration.clear();
        self.upstream_up.clear();
        self.upstream_down.clear();
        self.maintenance.clear();
    }
}

fn set_opt<L: Clone + std::hash::Hash + Eq>(
    family: &Family<L, Gauge>,
    labels: &L,
    value: Option<u64>,
) {
    match value {
        Some(v) => {
            family.get_or_create(labels).set(v as i64);
        }
        None => {
            family.remove(labels);
        }
    }
}

/// Mirror a counter the server keeps (it resets when the server restarts, like ours would).
fn mirror(family: &Family<PoolLabels, Counter>, labels: &PoolLabels, value: Option<u64>) {
    match value {
        Some(v) => family
            .get_or_create(labels)
            .inner()
            .store(v, Ordering::Relaxed),
        None => {
            family.remove(labels);
        }
    }
}

pub fn collectors(
    config: &Config,
    metrics: &Arc<Metrics>,
    discovered: Option<super::UpstreamSource>,
) -> Vec<Arc<dyn ScrapeCollector>> {
    metrics.workers.clear();
    let mut out: Vec<Arc<dyn ScrapeCollector>> = Vec::new();
    if !config.workers.is_empty() {
        let pools = config.workers.iter().map(Pool::new).collect();
        out.push(Arc::new(WorkersCollector {
            pools,
            metrics: metrics.clone(),
        }));
    }
    if !config.upstreams.is_empty() || discovered.is_some() {
        out.push(Arc::new(UpstreamsCollector {
            upstreams: config.upstreams.clone(),
            discovered,
            metrics: metrics.clone(),
        }));
    }
    if !config.maintenance_files.is_empty() {
        out.push(Arc::new(MaintenanceCollector {
            paths: config.maintenance_files.clone(),
            metrics: metrics.clone(),
        }));
    }
    out
}

/// A `workers:` entry, resolved once per config.
struct Pool {
    config: WorkerConfig,
    labels: PoolLabels,
    address: Address,
    /// The socket whose kernel backlog is the queue.
    listen: Option<ListenAddr>,
    timeout: Duration,
}

fn listen_addr(address: &Address) -> Option<ListenAddr> {
    match address {
        Address::Unix(path) => Some(ListenAddr::Unix(path.clone())),
        Address::Tcp(hostport) => {
            let (host, port) = hostport.rsplit_once(':')?;
            let host = if host == "localhost" {
                "127.0.0.1"
            } else {
                host.trim_start_matches('[').trim_end_matches(']')
            };
            Some(ListenAddr::Tcp(std::net::SocketAddr::new(
                host.parse().ok()?,
                port.parse().ok()?,
            )))
        }
        Address::Http(_) => None,
    }
}

impl Pool {
    fn new(config: &WorkerConfig) -> Pool {
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
    async fn status(&self) -> Result<PoolStatus, Down> {
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

    /// Why a socket the kernel does not list as listening is down, as a client would see it.
    fn not_listening(&self) -> Down {
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

    fn config_patterns(&self) -> Vec<String> {
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

    fn write(
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
type FileCache = HashMap<String, Vec<String>>;

fn read_files(patterns: impl Iterator<Item = String>) -> FileCache {
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

struct WorkersCollector {
    pools: Vec<Pool>,
    metrics: Arc<Metrics>,
}

impl ScrapeCollector for WorkersCollector {
    fn name(&self) -> &str {
        "workers"
    }

    fn collect(&self) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            let wants_kernel = self.pools.iter().any(|p| p.listen.is_some());
            let patterns: Vec<String> = self.pools.iter().flat_map(Pool::config_patterns).collect();
            // Kernel dump and config files off the async threads, with a bound. The backlog
            // is read before the status requests go out: our own connection sitting in the
            // accept queue must not be counted as a waiting request.
            let blocking = tokio::task::spawn_blocking(move || {
                let kernel = wants_kernel.then(sockdiag::listeners);
                (kernel, read_files(patterns.into_iter()))
            });
            let statuses = join_all(self.pools.iter().map(|p| async move {
                let started = Instant::now();
                // The fetch bounds itself; this outer bound is a safety net.
                let result =
                    tokio::time::timeout(p.timeout + Duration::from_millis(100), p.status())
                        .await
                        .unwrap_or_else(|_| {
                            Err(Down::new(
                                DownReason::Timeout,
                                "status scrape overran its timeout",
                            ))
                        });
                (result, started.elapsed())
            }));
            let blocking = tokio::time::timeout(Duration::from_secs(3), blocking).await;
            let statuses = statuses.await;
            let (kernel, files) = match blocking {
                Ok(Ok(x)) => x,
                _ => (
                    Some(Err(std::io::Error::other("kernel/config read overran 3s"))),
                    FileCache::new(),
                ),
            };
            let (listeners, kernel_error) = match kernel {
                Some(Ok(l)) => (l, None),
                Some(Err(e)) => (Vec::new(), Some(e)),
                None => (Vec::new(), None),
            };
            for (pool, (result, took)) in self.pools.iter().zip(statuses) {
                let found = pool
                    .listen
                    .as_ref()
                    .and_then(|want| sockdiag::find(&listeners, want));
                let result = match (pool.config.kind, result) {
                    (WorkerKind::Socket, Ok(_))
                        if pool.listen.is_some() && found.is_none() && kernel_error.is_none() =>
                    {
                        Err(pool.not_listening())
                    }
                    (_, r) => r,
                };
                if let Err(d) = &result {
                    tracing::debug!(pool = %pool.labels.pool, kind = %pool.labels.kind, "worker status: {d}");
                }
                pool.write(&self.metrics.workers, &result, took, found, &files);
            }
            match kernel_error {
                Some(e) => Err(anyhow::anyhow!("sock_diag: {e}")),
                None => Ok(()),
            }
        })
    }
}

struct UpstreamsCollector {
    upstreams: Vec<super::UpstreamConfig>,
    discovered: Option<super::UpstreamSource>,
    metrics: Arc<Metrics>,
}

impl UpstreamsCollector {
    /// The configured upstreams, then the connectable addresses the logs named that are
    /// not configured already (group names and HAProxy server names cannot be dialled).
    fn targets(&self) -> Vec<super::UpstreamConfig> {
        let mut all = self.upstreams.clone();
        let Some(discovered) = &self.discovered else {
            return all;
        };
        let known: std::collections::HashSet<String> = all
            .iter()
            .flat_map(|u| [u.address.clone(), u.label().to_string()])
            .collect();
        let found = discovered()
            .into_iter()
            .filter(|a| matches!(Address::parse(a), Ok(Address::Tcp(_) | Address::Unix(_))))
            .filter(|a| !known.contains(a))
            .take(super::MAX_DISCOVERED_UPSTREAMS);
        all.extend(found.map(|address| super::UpstreamConfig {
            address,
            name: None,
            timeout: None,
        }));
        all
    }
}

impl ScrapeCollector for UpstreamsCollector {
    fn name(&self) -> &str {
        "upstreams"
    }

    fn collect(&self) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            let upstreams = self.targets();
            let checks = upstreams
                .iter()
                .map(|u| check_upstream(&u.address, u.timeout.unwrap_or(DEFAULT_TIMEOUT)));
            let m = &self.metrics.workers;
            for (u, result) in upstreams.iter().zip(join_all(checks).await) {
                let label = u.label().to_string();
                m.upstream_up
                    .get_or_create(&UpstreamLabels {
                        upstream: label.clone(),
                    })
                    .set(i64::from(result.is_ok()));
                let reason = result.as_ref().err().map(|d| d.reason);
                for r in ALL_REASONS {
                    let labels = UpstreamReasonLabels {
                        upstream: label.clone(),
                        reason: r.as_str().into(),
                    };
                    set_opt(&m.upstream_down, &labels, (reason == Some(r)).then_some(1));
                }
            }
            Ok(())
        })
    }
}

struct MaintenanceCollector {
    paths: Vec<std::path::PathBuf>,
    metrics: Arc<Metrics>,
}

impl ScrapeCollector for MaintenanceCollector {
    fn name(&self) -> &str {
        "maintenance"
    }

    fn collect(&self) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            let mut failed = Vec::new();
            for path in &self.paths {
                let present = match tokio::fs::symlink_metadata(path).await {
                    Ok(_) => true,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
                    Err(e) => {
                        failed.push(format!("{}: {e}", path.display()));
                        false
                    }
                };
                let labels = PathLabels {
                    path: path.display().to_string(),
                };
                self.metrics
                    .workers
                    .maintenance
                    .get_or_create(&labels)
                    .set(i64::from(present));
            }
            if failed.is_empty() {
                Ok(())
            } else {
                Err(anyhow::anyhow!("cannot stat {}", failed.join(", ")))
            }
        })
    }
}
