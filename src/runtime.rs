//! The running sources, and validate-then-swap reload: the families live for the whole
//! process (registered once); tasks and collectors are rebuilt from each accepted config,
//! and a refused config leaves the old ones running.

use crate::base::clock::unix_now;
use crate::base::collector::ScrapeCollector;
use crate::base::lock::lock;
use crate::config::Config;
use crate::logs::LogRuntime;
use crate::registry::Registry;
use anyhow::Result;
use arc_swap::ArcSwap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

struct Running {
    tasks: Vec<JoinHandle<()>>,
    collectors: Arc<Vec<Arc<dyn ScrapeCollector>>>,
}

pub struct Runtime {
    pub registry: Arc<Registry>,
    config: ArcSwap<Config>,
    config_path: Option<PathBuf>,
    logs: Arc<LogRuntime>,
    running: Mutex<Running>,
}

/// Read the config (the file, or the embedded default) and add what auto-detection finds.
pub fn load(config_path: Option<&std::path::Path>) -> Result<Config> {
    let mut config = match config_path {
        Some(path) => Config::load(path)?,
        None => Config::embedded_default(),
    };
    crate::detect::apply(&mut config);
    Ok(config)
}

impl Runtime {
    /// Start every source of `config`. `config_path` is what `/-/reload` re-reads.
    pub fn start(
        config: Config,
        config_path: Option<PathBuf>,
        registry: Arc<Registry>,
    ) -> Arc<Self> {
        let logs = Arc::new(LogRuntime::new(registry.logs.clone()));
        let running = Self::spawn(&config, &registry, &logs);
        mark_reload(&registry, true);
        Arc::new(Runtime {
            registry,
            config: ArcSwap::from_pointee(config),
            config_path,
            logs,
            running: Mutex::new(running),
        })
    }

    /// Hand each source its own sections and its own families.
    fn spawn(config: &Config, registry: &Registry, logs: &Arc<LogRuntime>) -> Running {
        let mut tasks = crate::probe::schedule::start(&config.probes, &registry.probes);
        tasks.extend(logs.start(&config.logs, &config.log_settings));
        let discovered: Option<crate::workers::UpstreamSource> =
            config.check_upstreams_from_logs.then(|| {
                let logs = logs.clone();
                Arc::new(move || logs.seen_upstreams()) as crate::workers::UpstreamSource
            });
        let collectors = Arc::new(crate::workers::collectors(
            config.worker_sections(),
            &registry.workers,
            discovered,
        ));
        Running { tasks, collectors }
    }

    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    pub fn collectors(&self) -> Arc<Vec<Arc<dyn ScrapeCollector>>> {
        lock(&self.running, "runtime").collectors.clone()
    }

    /// Stop cleanly: the tail offsets are saved, the sources stopped.
    pub fn shutdown(&self) {
        for task in lock(&self.running, "runtime").tasks.drain(..) {
            task.abort();
        }
        self.logs.save_checkpoints();
    }

    /// Re-read the config file (or the embedded default), detect again; on success swap
    /// every source, on failure keep the old ones.
    pub fn reload(&self) -> Result<()> {
        self.registry.exporter.reloads.inc();
        match load(self.config_path.as_deref()) {
            Ok(config) => {
                self.apply(config);
                Ok(())
            }
            Err(e) => {
                self.registry.exporter.reload_failures.inc();
                mark_reload(&self.registry, false);
                Err(e)
            }
        }
    }

    fn apply(&self, config: Config) {
        crate::probe::schedule::forget_removed(
            &self.config().probes,
            &config.probes,
            &self.registry.probes,
        );
        let fresh = Self::spawn(&config, &self.registry, &self.logs);
        let old = std::mem::replace(&mut *lock(&self.running, "runtime"), fresh);
        for task in old.tasks {
            task.abort();
        }
        self.config.store(Arc::new(config));
        mark_reload(&self.registry, true);
        tracing::info!("configuration reloaded");
    }
}

fn mark_reload(registry: &Registry, ok: bool) {
    let exporter = &registry.exporter;
    exporter.reload_successful.set(i64::from(ok));
    if ok {
        exporter.reload_success_timestamp.set(unix_now());
    }
}
