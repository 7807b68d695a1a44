//! What runs: the sources started from the current config, and reloading it.
//!
//! The metric families outlive reloads (registered once); tasks and collectors are
//! rebuilt from each accepted config, and a refused config leaves the old ones running.

use crate::collector::ScrapeCollector;
use crate::config::Config;
use crate::logs::LogRuntime;
use crate::metrics::Metrics;
use anyhow::Result;
use arc_swap::ArcSwap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::task::JoinHandle;

struct Running {
    tasks: Vec<JoinHandle<()>>,
    collectors: Arc<Vec<Arc<dyn ScrapeCollector>>>,
}

pub struct Runtime {
    pub metrics: Arc<Metrics>,
    config: ArcSwap<Config>,
    config_path: Option<PathBuf>,
    logs: Arc<LogRuntime>,
    running: Mutex<Running>,
}

impl Runtime {
    /// Start every source of `config`. `config_path` is what `/-/reload` re-reads.
    pub fn start(config: Config, config_path: Option<PathBuf>, metrics: Arc<Metrics>) -> Arc<Self> {
        let logs = Arc::new(LogRuntime::new(&config));
        let running = Self::spawn(&config, &metrics, &logs);
        mark_reload(&metrics, true);
        Arc::new(Runtime {
            metrics,
            config: ArcSwap::from_pointee(config),
            config_path,
            logs,
            running: Mutex::new(running),
        })
    }

    fn spawn(config: &Config, metrics: &Arc<Metrics>, logs: &Arc<LogRuntime>) -> Running {
        let mut tasks = crate::probe::schedule::start(config, metrics);
        tasks.extend(logs.start(config, metrics));
        let discovered: Option<crate::workers::UpstreamSource> =
            config.check_upstreams_from_logs.then(|| {
                let logs = logs.clone();
                Arc::new(move || logs.seen_upstreams()) as crate::workers::UpstreamSource
            });
        let collectors = Arc::new(crate::workers::collectors(config, metrics, discovered));
        Running { tasks, collectors }
    }

    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    pub fn collectors(&self) -> Arc<Vec<Arc<dyn ScrapeCollector>>> {
        self.running
            .lock()
            .expect("runtime lock")
            .collectors
            .clone()
    }

    /// Stop cleanly: the tail offsets are saved, the sources stopped.
    pub fn shutdown(&self) {
        for task in self.running.lock().expect("runtime lock").tasks.drain(..) {
            task.abort();
        }
        self.logs.save_checkpoints();
    }

    /// Re-read the config file; on success swap every source, on failure keep the old ones.
    pub fn reload(&self) -> Result<()> {
        self.metrics.exporter.reloads.inc();
        let Some(path) = &self.config_path else {
            // The embedded default has nothing to re-read; re-detect what the host offers.
            self.apply(Config::embedded_default());
            return Ok(());
        };
        match Config::load(path) {
            Ok(config) => {
                self.apply(config);
                Ok(())
            }
            Err(e) => {
                self.metrics.exporter.reload_failures.inc();
                mark_reload(&self.metrics, false);
                Err(e)
            }
        }
    }

    fn apply(&self, config: Config) {
        crate::probe::schedule::forget_removed(&self.config(), &config, &self.metrics);
        let fresh = Self::spawn(&config, &self.metrics, &self.logs);
        let old = std::mem::replace(&mut *self.running.lock().expect("runtime lock"), fresh);
        for task in old.tasks {
            task.abort();
        }
        self.config.store(Arc::new(config));
        mark_reload(&self.metrics, true);
        tracing::info!("configuration reloaded");
    }
}

fn mark_reload(metrics: &Metrics, ok: bool) {
    metrics.exporter.reload_successful.set(i64::from(ok));
    if ok {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        metrics.exporter.reload_success_timestamp.set(now);
    }
}
