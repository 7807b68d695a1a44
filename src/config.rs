//! The one YAML config file: parsed strictly into typed structs (unknown keys are
//! errors, messages carry file, line and column), then validated as a whole.

use crate::probe::config::{ProbeConfig, ProbeEndpointConfig, ProbeModule};
use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    pub logs: Vec<crate::logs::LogConfig>,
    /// Settings shared by all logs (state directory, cardinality caps).
    #[serde(default)]
    pub log_settings: crate::logs::LogSettings,
    /// Worker pools whose saturation we report (`gateway_workers`, ...).
    #[serde(default)]
    pub workers: Vec<crate::workers::WorkerConfig>,
    /// Upstreams whose reachability we check (`gateway_upstream_up`).
    #[serde(default)]
    pub upstreams: Vec<crate::workers::UpstreamConfig>,
    /// Also check the reachability of every upstream address the logs have named
    /// (`host:port` and `unix:` sockets, at most [`crate::workers::MAX_DISCOVERED_UPSTREAMS`]).
    #[serde(default)]
    pub check_upstreams_from_logs: bool,
    /// Flag files whose presence means maintenance mode (`gateway_maintenance_mode`).
    #[serde(default)]
    pub maintenance_files: Vec<PathBuf>,
}

/// The config used when no `--config.file` is given: useful on a typical host.
pub const EMBEDDED_DEFAULT: &str = include_str!("default.yml");

impl Config {
    /// Parse `text` (read from `origin`, used in messages) and validate it.
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

    /// The embedded default, completed by what auto-detection finds on this host.
    pub fn embedded_default() -> Config {
        let mut config = Self::parse(EMBEDDED_DEFAULT, "<embedded default>")
            .expect("the embedded default config is valid (tested)");
        crate::probe::config::autodetect(&mut config);
        crate::logs::autodetect(&mut config);
        crate::workers::autodetect(&mut config);
        config
    }

    /// Cross-field checks that serde cannot express.
    fn validate(&self) -> Result<()> {
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
        crate::logs::validate(self)?;
        crate::workers::validate(self)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_parses() {
        Config::parse(EMBEDDED_DEFAULT, "default").unwrap();
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
            msg.contains("line 4") || msg.contains("4:"),
            "no line in: {msg}"
        );
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
