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
    /// Each probe's task beside its settings in `Debug` form (every setting, regexes by
    /// pattern): a reload keeps the task of a probe it leaves unchanged, so its schedule
    /// and any probe in flight go on.
    probes: Vec<(String, JoinHandle<()>)>,
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
        let running = Self::spawn(&config, &registry, &logs, Vec::new());
        mark_reload(&registry, true);
        Arc::new(Runtime {
            registry,
            config: ArcSwap::from_pointee(config),
            config_path,
            logs,
            running: Mutex::new(running),
        })
    }

    /// Hand each source its own sections and its own families; `kept` are the running
    /// probe tasks, reused for probes whose settings are the same, aborted otherwise.
    fn spawn(
        config: &Config,
        registry: &Registry,
        logs: &Arc<LogRuntime>,
        mut kept: Vec<(String, JoinHandle<()>)>,
    ) -> Running {
        let mut probes = Vec::new();
        let mut fresh = Vec::new();
        for probe in &config.probes {
            let settings = format!("{probe:?}");
            match kept.iter().position(|(s, _)| *s == settings) {
                Some(i) => probes.push(kept.swap_remove(i)),
                None => fresh.push(probe.clone()),
            }
        }
        for (_, task) in kept {
            task.abort();
        }
        let started = crate::probe::schedule::start(&fresh, &registry.probes);
        probes.extend(fresh.iter().map(|p| format!("{p:?}")).zip(started));
        let tasks = logs.start(&config.logs, &config.log_settings);
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
        Running {
            probes,
            tasks,
            collectors,
        }
    }

    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    pub fn collectors(&self) -> Arc<Vec<Arc<dyn ScrapeCollector>>> {
        lock(&self.running, "runtime").collectors.clone()
    }

    /// Stop cleanly: the tail offsets are saved, the sources stopped.
    pub fn shutdown(&self) {
        let mut running = lock(&self.running, "runtime");
        for (_, task) in running.probes.drain(..) {
            task.abort();
        }
        for task in running.tasks.drain(..) {
            task.abort();
        }
        drop(running);
        self.logs.save_checkpoints();
    }

    /// Re-read the config file (or the embedded default), detect again; on success swap
    /// every source, on failure keep the old ones. `also` (another file's reload: the web
    /// config) runs once the config is accepted and before it is applied, so a refusal of
    /// either leaves everything as it was and is counted as a failed reload.
    pub fn reload_with(&self, also: impl FnOnce() -> Result<()>) -> Result<()> {
        self.registry.exporter.reloads.inc();
        match load(self.config_path.as_deref()).and_then(|config| also().map(|()| config)) {
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
        // Stop the log tails, drop the removed probes' series (a result still in flight is
        // refused by ProbeMetrics::record), then start what is new; unchanged probes keep
        // their tasks, changed ones are stopped in `spawn`.
        let mut running = lock(&self.running, "runtime");
        for task in running.tasks.drain(..) {
            task.abort();
        }
        crate::probe::schedule::forget_removed(
            &self.config().probes,
            &config.probes,
            &self.registry.probes,
        );
        let kept = std::mem::take(&mut running.probes);
        *running = Self::spawn(&config, &self.registry, &self.logs, kept);
        drop(running);
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
