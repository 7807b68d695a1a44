//! Log-derived upstream error counters (issue 3): follow nginx, Apache, HAProxy and
//! PHP-FPM logs, classify each line by cause, count into the `Logs` families of
//! docs/metrics.md.
//!
//! Layers: [`tail`] finds and reads files, the parsers (pure: bytes in, [`sink::Sink`]
//! calls out) classify, [`labels::Labeler`] turns those calls into bounded label sets.

pub mod apache_error;
pub mod cause;
pub mod haproxy;
mod labels;
pub mod nginx_access;
pub mod nginx_error;
pub mod phpfpm;
pub mod sink;
pub mod tail;

use crate::config::Config;
use crate::metrics::Metrics;
use anyhow::{Context, Result, bail};
use labels::Labeler;
pub use labels::LogMetrics;
use serde::Deserialize;
use sink::{Sink, Verdict};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::NginxError => "nginx_error",
            LogFormat::NginxAccess => "nginx_access",
            LogFormat::NginxAccessJson => "nginx_access_json",
            LogFormat::ApacheError => "apache_error",
            LogFormat::Haproxy => "haproxy",
            LogFormat::Phpfpm => "phpfpm",
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
    #[serde(default, deserialize_with = "crate::duration::deserialize_opt")]
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
        deserialize_with = "crate::duration::deserialize"
    )]
    pub poll_interval: Duration,
    /// Distinct values per label (vhost, upstream) and log before new ones fold into `__overflow__`.
    #[serde(default = "default_max_values")]
    pub max_label_values: usize,
    /// Longer lines are skipped and counted as `line_too_long`.
    #[serde(default = "default_max_line")]
    pub max_line_bytes: usize,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            state_dir: None,
            poll_interval: default_poll(),
            max_label_values: default_max_values(),
            max_line_bytes: default_max_line(),
        }
    }
}

/// The logs a stock Debian host writes, followed when they exist.
const STANDARD_LOGS: [(&str, LogFormat); 4] = [
    ("/var/log/nginx/error.log", LogFormat::NginxError),
    ("/var/log/nginx/access.log", LogFormat::NginxAccess),
    ("/var/log/apache2/error.log", LogFormat::ApacheError),
    ("/var/log/haproxy.log", LogFormat::Haproxy),
];

/// Adds the standard log paths that exist on this host to the embedded default.
pub fn autodetect(config: &mut Config) {
    autodetect_in(config, Path::new("/"));
}

fn autodetect_in(config: &mut Config, root: &Path) {
    for (path, format) in STANDARD_LOGS {
        let on_host = root.join(path.trim_start_matches('/'));
        if on_host.is_file() && !config.logs.iter().any(|l| l.path == path) {
            config.logs.push(LogConfig {
                path: on_host.display().to_string(),
                format,
                name: None,
                log_format: None,
                json_keys: None,
                proxy_read_timeout: None,
            });
        }
    }
}

/// Checks of the `logs:` section as a whole.
pub fn validate(config: &Config) -> Result<()> {
    let mut names = std::collections::HashSet::new();
    for log in &config.logs {
        let name = log.name();
        if !names.insert(name) {
            bail!("log {name:?} is configured twice (give one of them a distinct `name`)");
        }
        Parser::new(log).with_context(|| format!("log {name:?}"))?;
        if log.path.is_empty() {
            bail!("log {name:?}: empty path");
        }
        glob::Pattern::new(&log.path).with_context(|| format!("log {name:?}: bad glob"))?;
    }
    let s = &config.log_settings;
    if s.max_label_values == 0 || s.max_line_bytes < 1024 || s.poll_interval.is_zero() {
        bail!(
            "log_settings: max_label_values must be > 0, max_line_bytes >= 1024, poll_interval > 0"
        );
    }
    Ok(())
}

/// A format's parser with its state.
enum Parser {
    NginxError,
    Access(nginx_access::AccessFormat),
    Json(nginx_access::JsonFormat),
    Apache(apache_error::ApacheError),
    Haproxy(haproxy::Haproxy),
    Phpfpm,
}

impl Parser {
    fn new(log: &LogConfig) -> Result<Parser> {
        if log.log_format.is_some() && log.format != LogFormat::NginxAccess {
            bail!("`log_format` applies to format nginx_access only");
        }
        if log.json_keys.is_some() && log.format != LogFormat::NginxAccessJson {
            bail!("`json_keys` applies to format nginx_access_json only");
        }
        Ok(match log.format {
            LogFormat::NginxError => Parser::NginxError,
            LogFormat::NginxAccess => Parser::Access(nginx_access::AccessFormat::compile(
                log.log_format.as_deref().unwrap_or(nginx_access::COMBINED),
            )?),
            LogFormat::NginxAccessJson => Parser::Json(nginx_access::JsonFormat::new(
                &log.json_keys.clone().unwrap_or_default(),
            )),
            LogFormat::ApacheError => Parser::Apache(Default::default()),
            LogFormat::Haproxy => Parser::Haproxy(Default::default()),
            LogFormat::Phpfpm => Parser::Phpfpm,
        })
    }

    fn parse<S: Sink>(&mut self, line: &[u8], sink: &mut S) -> Verdict {
        match self {
            Parser::NginxError => nginx_error::parse(line, sink),
            Parser::Access(f) => f.parse(line, sink),
            Parser::Json(f) => f.parse(line, sink),
            Parser::Apache(p) => p.parse(line, sink),
            Parser::Haproxy(p) => p.parse(line, sink),
            Parser::Phpfpm => phpfpm::parse(line, sink),
        }
    }
}

/// Lines from the follower go through the parser into the labeler.
struct Processor {
    parser: Parser,
    labeler: Labeler,
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
    tail: tail::Tail,
    processor: Processor,
    checkpoint: Option<PathBuf>,
    saved: Vec<tail::Offset>,
    saved_at: Instant,
}

impl LogState {
    fn new(log: &LogConfig, settings: &LogSettings, metrics: &LogMetrics) -> Result<LogState> {
        let checkpoint = settings
            .state_dir
            .as_ref()
            .map(|d| d.join(checkpoint_name(log.name())));
        let resume = checkpoint.as_deref().and_then(load_checkpoint);
        Ok(LogState {
            config: log.clone(),
            tail: tail::Tail::new(&log.path, settings.max_line_bytes, resume),
            processor: Processor {
                parser: Parser::new(log)?,
                labeler: Labeler::new(log.name(), settings.max_label_values, metrics.clone()),
            },
            checkpoint,
            saved: Vec::new(),
            saved_at: Instant::now(),
        })
    }

    /// One polling round; true when there is more to read right away.
    fn poll(&mut self) -> bool {
        let more = self.tail.poll(&mut self.processor);
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
        if let Err(e) = save_checkpoint(path, &offsets) {
            tracing::warn!(path = %path.display(), "cannot save log offsets: {e}");
        }
        self.saved = offsets;
        self.saved_at = Instant::now();
    }
}

fn checkpoint_name(log: &str) -> String {
    let safe: String = log
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.offsets")
}

/// One line per file: `dev ino offset path`.
fn load_checkpoint(path: &Path) -> Option<Vec<tail::Offset>> {
    let text = std::fs::read_to_string(path).ok()?;
    let offsets = text
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(4, ' ');
            let dev = f.next()?.parse().ok()?;
            let ino = f.next()?.parse().ok()?;
            let offset = f.next()?.parse().ok()?;
            Some(tail::Offset {
                id: (dev, ino),
                offset,
                path: PathBuf::from(f.next()?),
            })
        })
        .collect();
    Some(offsets)
}

fn save_checkpoint(path: &Path, offsets: &[tail::Offset]) -> std::io::Result<()> {
    let mut text = String::new();
    for o in offsets {
        text.push_str(&format!(
            "{} {} {} {}\n",
            o.id.0,
            o.id.1,
            o.offset,
            o.path.display()
        ));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(tmp, path)
}

/// Tailing state that survives config reloads (offsets of every followed file).
#[derive(Default)]
pub struct LogRuntime {
    states: Mutex<HashMap<String, Arc<Mutex<LogState>>>>,
}

impl LogRuntime {
    pub fn new(_config: &Config) -> Self {
        LogRuntime::default()
    }

    /// Start one tailing task per configured log; the tasks are aborted on reload.
    pub fn start(
        &self,
        config: &Config,
        metrics: &Arc<Metrics>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let m = &metrics.logs;
        let mut states = self.states.lock().expect("log states");
        let wanted: BTreeSet<&str> = config.logs.iter().map(LogConfig::name).collect();
        states.retain(|name, _| {
            let keep = wanted.contains(name.as_str());
            if !keep {
                m.forget(name);
            }
            keep
        });
        m.set_timeouts(config.logs.iter().map(|l| (l.name(), l.proxy_read_timeout)));
        let mut tasks = Vec::new();
        for log in &config.logs {
            let name = log.name().to_string();
            let reuse = states.get(&name).is_some_and(|s| {
                let s = s.lock().expect("log state");
                s.config == *log && s.tail.max_line() == config.log_settings.max_line_bytes
            });
            if !reuse {
                match LogState::new(log, &config.log_settings, m) {
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
            let interval = config.log_settings.poll_interval;
            tasks.push(tokio::spawn(follow(state, interval)));
        }
        tasks
    }

    /// Write every log's offsets now (at shutdown), so a restart neither re-reads nor skips.
    pub fn save_checkpoints(&self) {
        for state in self.states.lock().expect("log states").values() {
            state.lock().expect("log state").save(true);
        }
    }

    /// Upstream addresses (and group names) seen in the logs so far, for reachability checks.
    pub fn seen_upstreams(&self) -> BTreeSet<String> {
        let states = self.states.lock().expect("log states");
        let mut all = BTreeSet::new();
        for s in states.values() {
            all.extend(s.lock().expect("log state").processor.labeler.upstreams());
        }
        all
    }
}

async fn follow(state: Arc<Mutex<LogState>>, interval: Duration) {
    loop {
        let s = state.clone();
        // File reads block: keep them off the async workers. An abort (reload) lets a
        // running poll finish, under the lock, so offsets stay exact.
        let more =
            tokio::task::spawn_blocking(move || s.lock().map(|mut s| s.poll()).unwrap_or(false))
                .await
                .unwrap_or(false);
        if !more {
            tokio::time::sleep(interval).await;
        }
    }
}

/// `--one-shot`: read every configured log from its start to EOF into `metrics`.
pub fn one_shot(config: &Config, metrics: &Metrics) -> Result<()> {
    for log in &config.logs {
        let mut state = LogState::new(log, &config.log_settings, &metrics.logs)?;
        state.checkpoint = None;
        state.tail =
            tail::Tail::new(&log.path, config.log_settings.max_line_bytes, None).from_start();
        while state.tail.poll(&mut state.processor) {}
        state.tail.flush(&mut state.processor);
        state.processor.labeler.flush(state.tail.files_followed());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn config_keys_and_checks() {
        let c = Config::parse(
            "logs:\n  - {path: /x/error.log, format: nginx_error, proxy_read_timeout: 60s}\n  - path: /x/access.log\n    format: nginx_access\n    log_format: '$remote_addr $status $host'\nlog_settings: {max_label_values: 5, poll_interval: 100ms}\n",
            "t",
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
            assert!(Config::parse(bad, "t").is_err(), "{bad}");
        }
    }

    #[test]
    fn autodetect_adds_existing_standard_logs_only() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("var/log/nginx")).unwrap();
        std::fs::write(root.path().join("var/log/nginx/error.log"), "").unwrap();
        std::fs::create_dir_all(root.path().join("var/log/haproxy.log")).unwrap(); // a directory: skipped
        let mut c = Config::default();
        autodetect_in(&mut c, root.path());
        assert_eq!(c.logs.len(), 1);
        assert_eq!(c.logs[0].format, LogFormat::NginxError);
        assert!(c.logs[0].path.ends_with("/var/log/nginx/error.log"));
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
        let config = Config::parse(&yaml, "t").unwrap();
        let metrics = Arc::new(Metrics::new());
        let rt = LogRuntime::new(&config);
        let line = "2026/11/22 00:00:00 [error] 1#1: *1 connect() failed (111: Connection refused) while connecting to upstream, client: 1.2.3.4, server: s, upstream: \"http://10.0.0.9:80/\"\n";
        let read = |m: &Metrics| {
            crate::metrics::encode_registry(&m.registry, crate::metrics::Format::Text004)
                .lines()
                .find(|l| l.starts_with("gateway_log_lines_read_total{log=\"e\"}"))
                .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let wait = |want: u64| {
            let m = metrics.clone();
            async move {
                for _ in 0..500 {
                    if read(&m) >= want {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                panic!("never read {want} lines");
            }
        };
        for round in 1..=3u64 {
            let tasks = rt.start(&config, &metrics);
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
        assert_eq!(read(&metrics), 3);
        assert_eq!(
            rt.seen_upstreams().into_iter().collect::<Vec<_>>(),
            ["10.0.0.9:80"]
        );
    }

    #[test]
    fn checkpoint_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir
            .path()
            .join("sub")
            .join(checkpoint_name("/var/log/x y.log"));
        let offsets = vec![tail::Offset {
            id: (1, 2),
            offset: 3,
            path: PathBuf::from("/a b"),
        }];
        save_checkpoint(&p, &offsets).unwrap();
        assert_eq!(load_checkpoint(&p).unwrap(), offsets);
    }
}
