//! The one YAML config file: parsed strictly into typed structs (unknown keys are errors,
//! messages carry file, line and column), then validated section by section by the source
//! that owns each. Parsing does no I/O beyond reading the file: auto-detection is a separate
//! step ([`crate::detect`]).

use crate::logs::{LogConfig, LogSettings};
use crate::probe::config::{ProbeConfig, ProbeEndpointConfig, ProbeModule};
use crate::workers::{MaintenanceFile, UpstreamConfig, WorkerConfig, WorkerSections};
use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The whole configuration. Each top-level section belongs to one kind of source.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Probes run on the exporter's own schedule (`gateway_probe_*`).
    #[serde(default)]
    pub probes: Vec<ProbeConfig>,
    /// Modules for the blackbox-compatible `/probe` endpoint, in blackbox.yml's shape.
    #[serde(default)]
    pub modules: BTreeMap<String, ProbeModule>,
    /// Who may be probed through `/probe`.
    #[serde(default)]
    pub probe_endpoint: ProbeEndpointConfig,
    /// Logs to tail and classify (`gateway_upstream_errors_total`, ...).
    #[serde(default)]
    pub logs: Vec<LogConfig>,
    /// Settings shared by all logs (state directory, cardinality caps).
    #[serde(default)]
    pub log_settings: LogSettings,
    /// Worker pools whose saturation we report (`gateway_workers`, ...).
    #[serde(default)]
    pub workers: Vec<WorkerConfig>,
    /// Upstreams whose reachability we check (`gateway_upstream_up`).
    #[serde(default)]
    pub upstreams: Vec<UpstreamConfig>,
    /// Also check the reachability of every upstream address the logs have named
    /// (`host:port` and `unix:` sockets, at most [`crate::workers::MAX_DISCOVERED_UPSTREAMS`]).
    #[serde(default)]
    pub check_upstreams_from_logs: bool,
    /// Flag files whose presence means maintenance mode (`gateway_maintenance_mode`).
    #[serde(default)]
    pub maintenance_files: Vec<MaintenanceFile>,
    /// Which sources add what they find on this host to the configured ones.
    #[serde(default)]
    pub autodetect: Autodetect,
}

/// The `autodetect:` section. All off unless set; the embedded default turns all on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Autodetect {
    /// A probe of `http://127.0.0.1/` when something listens on port 80.
    #[serde(default)]
    pub probes: bool,
    /// The standard nginx, Apache and HAProxy logs that exist.
    #[serde(default)]
    pub logs: bool,
    /// PHP-FPM pools from their config files, Apache and nginx status pages that answer.
    #[serde(default)]
    pub workers: bool,
}

/// The config used when no `--config.file` is given: useful on a typical host.
pub const EMBEDDED_DEFAULT: &str = include_str!("default.yml");

impl Config {
    /// Parse `text` (read from `origin`, used in messages) and validate it. No I/O.
    pub fn parse(text: &str, origin: &str) -> Result<Config> {
        let config: Config =
            serde_saphyr::from_str(text).map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
        config
            .validate()
            .with_context(|| format!("{origin}: invalid configuration"))?;
        Ok(config)
    }

    /// Read and parse a config file.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The embedded default, parsed (detection is up to the caller).
    pub fn embedded_default() -> Config {
        Self::parse(EMBEDDED_DEFAULT, "<embedded default>")
            .expect("the embedded default config is valid (tested)")
    }

    /// The sections of the workers source.
    pub fn worker_sections(&self) -> WorkerSections<'_> {
        WorkerSections {
            pools: &self.workers,
            upstreams: &self.upstreams,
            maintenance_files: &self.maintenance_files,
        }
    }

    /// Cross-field checks that serde cannot express, each source checking its own sections.
    pub fn validate(&self) -> Result<()> {
        let mut names = std::collections::HashSet::new();
        for probe in &self.probes {
            if !names.insert(probe.name.as_str()) {
                bail!("probe name {:?} is used twice", probe.name);
            }
            probe
                .validate()
                .with_context(|| format!("probe {:?}", probe.name))?;
        }
        for (name, module) in &self.modules {
            module
                .validate()
                .with_context(|| format!("module {name:?}"))?;
        }
        crate::logs::config::validate(&self.logs, &self.log_settings)?;
        crate::workers::config::validate(self.worker_sections())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_parses_and_detects_everything() {
        let config = Config::parse(EMBEDDED_DEFAULT, "default").unwrap();
        assert_eq!(
            config.autodetect,
            Autodetect {
                probes: true,
                logs: true,
                workers: true
            }
        );
        assert!(config.probes.is_empty() && config.logs.is_empty() && config.workers.is_empty());
    }

    #[test]
    fn a_config_file_detects_nothing_unless_asked() {
        let config = Config::parse("probes: []\n", "cfg.yml").unwrap();
        assert_eq!(config.autodetect, Autodetect::default());
        let config = Config::parse("autodetect: {logs: true}\n", "cfg.yml").unwrap();
        assert!(config.autodetect.logs && !config.autodetect.probes && !config.autodetect.workers);
        assert!(Config::parse("autodetect: {sites: true}\n", "cfg.yml").is_err());
    }

    #[test]
    fn unknown_keys_are_errors_with_location() {
        let err = Config::parse(
            "probes:\n  - name: a\n    url: http://x/\n    bogus: 1\n",
            "cfg.yml",
        )
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("cfg.yml"), "{msg}");
        assert!(msg.contains("bogus"), "{msg}");
        assert!(
            msg.contains("line 4 column 5"),
            "no line and column in: {msg}"
        );
    }

    #[test]
    fn probes_take_every_http_setting_a_module_takes() {
        let config = Config::parse(
            "probes:\n  - name: a\n    url: https://x/\n    fail_if_ssl: true\n    fail_if_body_matches_regexp: ['Error \\d+']\n    vhost: shop\n",
            "cfg.yml",
        )
        .unwrap();
        let probe = &config.probes[0];
        assert!(probe.http.fail_if_ssl);
        assert!(probe.http.fail_if_body_matches_regexp[0].is_match("Error 42"));
        assert_eq!(probe.vhost(), "shop");
        let bad = Config::parse(
            "probes:\n  - name: a\n    url: https://x/\n    fail_if_body_matches_regexp: ['(']\n",
            "cfg.yml",
        );
        assert!(format!("{:#}", bad.unwrap_err()).contains("line 4"));
    }

    #[test]
    fn unknown_top_level_section_is_an_error() {
        assert!(Config::parse("probez: []\n", "cfg.yml").is_err());
    }

    #[test]
    fn duplicate_probe_names_are_refused() {
        let text = "probes:\n  - {name: a, url: 'http://x/'}\n  - {name: a, url: 'http://y/'}\n";
        let msg = format!("{:#}", Config::parse(text, "c").unwrap_err());
        assert!(msg.contains("used twice"), "{msg}");
    }
}
