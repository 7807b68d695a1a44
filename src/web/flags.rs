//! The `--web.*` flags of the hardened surface, flattened into the binary's own.

use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Debug, Clone)]
pub struct WebFlags {
    /// Web config file in exporter-toolkit's format: TLS, basic auth, response headers
    /// (docs/security.md). Re-read on SIGHUP and POST /-/reload.
    #[arg(long = "web.config.file")]
    pub web_config_file: Option<PathBuf>,
    /// Most /metrics and most /probe requests served at once, each; beyond it, 503. 0: no limit.
    #[arg(long = "web.max-requests", default_value_t = 40)]
    pub max_requests: usize,
    /// Most client connections open at once; further ones wait in the kernel's queue.
    #[arg(long = "web.max-connections", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Time a client has to finish its TLS handshake and each request's headers.
    #[arg(long = "web.read-header-timeout", default_value = "10s", value_parser = positive_duration)]
    pub read_header_timeout: Duration,
}

fn positive_duration(text: &str) -> Result<Duration, String> {
    match crate::base::duration::parse(text)? {
        Duration::ZERO => Err("must be above 0s".into()),
        d => Ok(d),
    }
}
