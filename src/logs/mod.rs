//! Log-derived upstream error counters: follow nginx (ingress-nginx too), Apache, HAProxy,
//! PHP-FPM, Caddy, Envoy and Traefik logs,
//! classify each line by cause, count into the families of [`metrics`] (docs/metrics.md,
//! "Logs").
//!
//! Layers: [`tail`] finds and reads files, the parsers (pure: bytes in, [`sink::Sink`]
//! calls out) classify, [`labeler::Labeler`] turns those calls into bounded label sets
//! ([`interner`]), [`checkpoint`] saves where each file stopped.

pub mod apache_error;
pub mod caddy;
pub mod cause;
mod checkpoint;
pub mod config;
pub mod detect;
pub mod envoy;
pub mod haproxy;
pub mod ingress_nginx;
mod interner;
mod labeler;
pub mod metrics;
pub mod nginx_access;
pub mod nginx_error;
pub mod php_error;
pub mod phpfpm;
pub mod sink;
pub mod tail;
pub mod traefik;

pub use config::{LogConfig, LogFormat, LogSettings};
pub use detect::detect;
pub use interner::OVERFLOW;
pub use metrics::LogMetrics;

/// What the fuzz targets (`fuzz/`) and the property tests reach besides the public parsers:
/// not an API, kept out of the docs.
#[doc(hidden)]
pub mod fuzzing {
    pub use super::checkpoint::{load as load_checkpoint, save as save_checkpoint};
}

use crate::base::lock::lock;
use anyhow::{Result, bail};
use cause::Event;
use labeler::Labeler;
use sink::{Sink, Verdict};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A format's parser with its state (also run by `diagnose` over a log's last lines).
pub enum Parser {
    NginxError(nginx_error::NginxError),
    Access(nginx_access::AccessFormat),
    Json(nginx_access::JsonFormat),
    Apache(apache_error::ApacheError),
    Haproxy(haproxy::Haproxy),
    Phpfpm,
    IngressNginx(ingress_nginx::IngressNginx),
    Caddy,
    Envoy,
    Traefik,
    PhpError(php_error::PhpError),
}

impl Parser {
    pub fn new(log: &LogConfig) -> Result<Parser> {
        if log.log_format.is_some() && log.format != LogFormat::NginxAccess {
            bail!("`log_format` applies to format nginx_access only");
        }
        if log.json_keys.is_some() && log.format != LogFormat::NginxAccessJson {
            bail!("`json_keys` applies to format nginx_access_json only");
        }
        Ok(match log.format {
            LogFormat::NginxError => Parser::NginxError(Default::default()),
            LogFormat::NginxAccess => Parser::Access(nginx_access::AccessFormat::compile(
                log.log_format.as_deref().unwrap_or(nginx_access::COMBINED),
            )?),
            LogFormat::NginxAccessJson => Parser::Json(nginx_access::JsonFormat::new(
                &log.json_keys.clone().unwrap_or_default(),
            )),
            LogFormat::ApacheError => Parser::Apache(Default::default()),
            LogFormat::Haproxy => Parser::Haproxy(Default::default()),
            LogFormat::Phpfpm => Parser::Phpfpm,
            LogFormat::IngressNginx => Parser::IngressNginx(ingress_nginx::IngressNginx::new()),
            LogFormat::Caddy => Parser::Caddy,
            LogFormat::Envoy => Parser::Envoy,
            LogFormat::Traefik => Parser::Traefik,
            LogFormat::PhpError => Parser::PhpError(Default::default()),
        })
    }

    pub fn parse<S: Sink>(&mut self, line: &[u8], sink: &mut S) -> Verdict {
        match self {
            Parser::NginxError(p) => p.parse(line, sink),
            Parser::Access(f) => f.parse(line, sink),
            Parser::Json(f) => f.parse(line, sink),
            Parser::Apache(p) => p.parse(line, sink),
            Parser::Haproxy(p) => p.parse(line, sink),
            Parser::Phpfpm => phpfpm::parse(line, sink),
            Parser::IngressNginx(p) => p.parse(line, sink),
            Parser::Caddy => caddy::parse(line, sink),
            Parser::Envoy => envoy::parse(line, sink),
            Parser::Traefik => traefik::parse(line, sink),
            Parser::PhpError(p) => p.parse(line, sink),
        }
    }

    /// No more lines for now: count what an entry still waiting for its last line holds.
    /// The servers write a multi-line entry in one write(2), so a round that read all
    /// there was never ends inside one.
    pub fn end_of_input<S: Sink>(&mut self, sink: &mut S) {
        match self {
            Parser::NginxError(p) => p.end_of_input(sink),
            Parser::Apache(p) => p.end_of_input(sink),
            _ => {}
        }
    }
}

/// Lines from the follower go through the parser into the labeler.
struct Processor {
    parser: Parser,
    labeler: Labeler,
}

impl Processor {
    fn end_of_input(&mut self) {
        self.labeler.begin_late_output();
        self.parser.end_of_input(&mut self.labeler);
        self.labeler.end_line(Verdict::Known);
    }
}

impl tail::Lines for Processor {
    fn line(&mut self, line: &[u8]) {
        self.labeler.begin_line();
        let verdict = self.parser.parse(line, &mut self.labeler);
        self.labeler.end_line(verdict);
    }
    fn too_long(&mut self) {
        self.labeler.begin_line();
        self.labeler.line_problem("line_too_long");
        self.labeler.end_line(Verdict::Unrecognised);
    }
    fn bytes(&mut self, n: u64) {
        self.labeler.bytes(n);
    }
    fn rotation(&mut self) {
        self.labeler.rotation();
    }
    fn read_error(&mut self, path: &Path, reason: &'static str, detail: &str) {
        tracing::warn!(log = self.labeler.log(), path = %path.display(), reason, "cannot read log: {detail}");
        self.labeler.read_error(reason);
    }
}

/// One log's follower and counters; outlives config reloads.
struct LogState {
    config: LogConfig,
    /// The settings the follower and the labeler were built with.
    built_with: LogSettings,
    tail: tail::Tail,
    processor: Processor,
    checkpoint: Option<PathBuf>,
    saved: Vec<tail::Offset>,
    saved_at: Instant,
}

impl LogState {
    fn new(log: &LogConfig, settings: &LogSettings, metrics: &Arc<LogMetrics>) -> Result<LogState> {
        let checkpoint = settings
            .state_dir
            .as_ref()
            .map(|d| d.join(checkpoint::checkpoint_name(log.name())));
        let resume = checkpoint
            .as_deref()
            .and_then(checkpoint::load)
            .or_else(|| {
                let dir = settings.state_dir.as_ref()?;
                checkpoint::load(&dir.join(checkpoint::legacy_name(log.name())))
            });
        let parser = Parser::new(log)?;
        let events: &[Event] = if log.format.has_events() {
            &Event::ALL
        } else {
            &[]
        };
        let app_causes = log.format.app_causes();
        let unnamed: &[_] = if log.format.names_app_vhosts() {
            &[]
        } else {
            app_causes
        };
        metrics.born(log.name(), events, unnamed);
        Ok(LogState {
            config: log.clone(),
            built_with: settings.clone(),
            tail: tail::Tail::new(
                &log.path,
                settings.max_line_bytes,
                settings.max_files_per_log,
                resume,
            ),
            processor: Processor {
                parser,
                labeler: Labeler::new(log.name(), settings.limits(), metrics.clone())
                    .with_app_causes(app_causes),
            },
            checkpoint,
            saved: Vec::new(),
            saved_at: Instant::now(),
        })
    }

    /// One polling round; true when there is more to read right away.
    fn poll(&mut self) -> bool {
        let more = self.tail.poll(&mut self.processor);
        if !more {
            self.processor.end_of_input();
        }
        self.processor.labeler.flush(self.tail.files_followed());
        self.save(false);
        more
    }

    /// Write the offsets (at most once a second unless `now`).
    fn save(&mut self, now: bool) {
        let Some(path) = &self.checkpoint else { return };
        if !now && self.saved_at.elapsed() < Duration::from_secs(1) {
            return;
        }
        let offsets = self.tail.offsets();
        if offsets == self.saved {
            return;
        }
        self.saved_at = Instant::now();
        match checkpoint::save(path, &offsets) {
            // Marked saved only once written: a failed save is tried again next second.
            Ok(()) => self.saved = offsets,
            Err(e) => {
                self.processor.labeler.checkpoint_failed();
                tracing::warn!(path = %path.display(), "cannot save log offsets (counted in gateway_log_checkpoint_failures_total): {e}");
            }
        }
    }
}

/// Tailing state that survives config reloads (offsets of every followed file).
pub struct LogRuntime {
    metrics: Arc<LogMetrics>,
    states: Mutex<HashMap<String, Arc<Mutex<LogState>>>>,
}

impl LogRuntime {
    pub fn new(metrics: Arc<LogMetrics>) -> Self {
        LogRuntime {
            metrics,
            states: Mutex::new(HashMap::new()),
        }
    }

    /// Start one tailing task per configured log; the tasks are aborted on reload. A log
    /// left out of `logs` is forgotten: its series are dropped.
    pub fn start(
        &self,
        logs: &[LogConfig],
        settings: &LogSettings,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let m = &self.metrics;
        let mut states = lock(&self.states, "log states");
        let wanted: BTreeSet<&str> = logs.iter().map(LogConfig::name).collect();
        states.retain(|name, state| {
            let keep = wanted.contains(name.as_str());
            if !keep {
                lock(state, "log state").processor.labeler.forget();
            }
            keep
        });
        m.set_timeouts(logs.iter().map(|l| (l.name(), l.proxy_read_timeout)));
        let mut tasks = Vec::new();
        for log in logs {
            let name = log.name().to_string();
            let reuse = states.get(&name).is_some_and(|s| {
                let s = lock(s, "log state");
                s.config == *log && s.built_with.same_state(settings)
            });
            if !reuse {
                if let Some(old) = states.remove(&name) {
                    lock(&old, "log state").processor.labeler.forget();
                }
                match LogState::new(log, settings, m) {
                    Ok(s) => {
                        states.insert(name.clone(), Arc::new(Mutex::new(s)));
                    }
                    Err(e) => {
                        tracing::error!(log = name, "cannot follow log: {e:#}");
                        continue;
                    }
                }
            }
            let state = states[&name].clone();
            tasks.push(tokio::spawn(follow(state, settings.poll_interval)));
        }
        tasks
    }

    /// Write every log's offsets now (at shutdown), so a restart neither re-reads nor skips.
    pub fn save_checkpoints(&self) {
        for state in lock(&self.states, "log states").values() {
            lock(state, "log state").save(true);
        }
    }

    /// Upstream addresses (and group names) seen in the logs so far, for reachability checks.
    pub fn seen_upstreams(&self) -> BTreeSet<String> {
        let states = lock(&self.states, "log states");
        let mut all = BTreeSet::new();
        for s in states.values() {
            all.extend(lock(s, "log state").processor.labeler.upstreams());
        }
        all
    }
}

async fn follow(state: Arc<Mutex<LogState>>, interval: Duration) {
    loop {
        let s = state.clone();
        // File reads block: keep them off the async workers. An abort (reload) lets a
        // running poll finish, under the lock, so offsets stay exact. A panic inside a
        // poll ends this round only: the next one recovers the state (base::lock).
        let more = tokio::task::spawn_blocking(move || lock(&s, "log state").poll())
            .await
            .unwrap_or(false);
        if !more {
            tokio::time::sleep(interval).await;
        }
    }
}

/// `--one-shot`: read every log from its start to EOF into `metrics`.
pub fn one_shot(
    logs: &[LogConfig],
    settings: &LogSettings,
    metrics: &Arc<LogMetrics>,
) -> Result<()> {
    for log in logs {
        let mut state = LogState::new(log, settings, metrics)?;
        state.checkpoint = None;
        state.tail = tail::Tail::new(
            &log.path,
            settings.max_line_bytes,
            settings.max_files_per_log,
            None,
        )
        .from_start();
        while state.tail.poll(&mut state.processor) {}
        state.tail.flush(&mut state.processor);
        state.processor.end_of_input();
        state.processor.labeler.flush(state.tail.files_followed());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::exposition::{Format, encode_registry};
    use prometheus_client::registry::Registry;
    use std::io::Write;

    /// The two sections of a config holding only them.
    fn parse(yaml: &str) -> (Vec<LogConfig>, LogSettings) {
        #[derive(serde::Deserialize)]
        struct Sections {
            #[serde(default)]
            logs: Vec<LogConfig>,
            #[serde(default)]
            log_settings: LogSettings,
        }
        let s: Sections = serde_saphyr::from_str(yaml).unwrap();
        (s.logs, s.log_settings)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_removed_log_loses_every_series() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        std::fs::write(&path, "").unwrap();
        let yaml = format!(
            "logs: [{{path: {}, format: nginx_error, name: gone}}]\nlog_settings: {{poll_interval: 10ms}}\n",
            path.display()
        );
        let (logs, settings) = parse(&yaml);
        let mut registry = Registry::with_prefix("gateway");
        let metrics = Arc::new(LogMetrics::register(&mut registry));
        let rt = LogRuntime::new(metrics.clone());
        let tasks = rt.start(&logs, &settings);
        let scrape_until = |want: &'static str| {
            let registry = &registry;
            async move {
                for _ in 0..500 {
                    let text = encode_registry(registry, Format::Text004);
                    if text.contains(want) {
                        return text;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                panic!("never saw {want}");
            }
        };
        // The follower starts at the end of the file: write only once it follows it.
        scrape_until("gateway_log_files_followed{log=\"gone\"} 1").await;
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"2026/11/22 00:00:00 [error] 1#1: *1 connect() failed (111: Connection refused) while connecting to upstream, client: 1.2.3.4, server: s, upstream: \"http://10.0.0.9:80/\"\n")
            .unwrap();
        let text = scrape_until("gateway_upstream_errors_total{log=\"gone\"").await;
        assert!(
            text.contains("gateway_server_events_total{log=\"gone\",event=\"reload\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("gateway_upstream_errors_total{log=\"gone\""),
            "{text}"
        );
        for t in tasks {
            t.abort();
        }
        rt.start(&[], &settings);
        let text = encode_registry(&registry, Format::Text004);
        assert!(
            !text.contains("log=\"gone\""),
            "series left behind:\n{text}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn restarted_tasks_keep_offsets_and_report_seen_upstreams() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.log");
        std::fs::write(&path, "old line, not counted\n").unwrap();
        let yaml = format!(
            "logs: [{{path: {}, format: nginx_error, name: e}}]\nlog_settings: {{poll_interval: 10ms}}\n",
            path.display()
        );
        let (logs, settings) = parse(&yaml);
        let mut registry = Registry::with_prefix("gateway");
        let metrics = Arc::new(LogMetrics::register(&mut registry));
        let registry = Arc::new(registry);
        let rt = LogRuntime::new(metrics.clone());
        let line = "2026/11/22 00:00:00 [error] 1#1: *1 connect() failed (111: Connection refused) while connecting to upstream, client: 1.2.3.4, server: s, upstream: \"http://10.0.0.9:80/\"\n";
        let read = |r: &Registry| {
            encode_registry(r, Format::Text004)
                .lines()
                .find(|l| l.starts_with("gateway_log_lines_read_total{log=\"e\"}"))
                .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let wait = |want: u64| {
            let r = registry.clone();
            async move {
                for _ in 0..500 {
                    if read(&r) >= want {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                panic!("never read {want} lines");
            }
        };
        for round in 1..=3u64 {
            let tasks = rt.start(&logs, &settings);
            tokio::time::sleep(Duration::from_millis(30)).await;
            std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap()
                .write_all(line.as_bytes())
                .unwrap();
            wait(round).await;
            for t in tasks {
                t.abort(); // as a reload does
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(read(&registry), 3);
        assert_eq!(
            rt.seen_upstreams().into_iter().collect::<Vec<_>>(),
            ["10.0.0.9:80"]
        );
    }
}
