//! The hardened HTTP surface: the web config (TLS, basic auth, response headers) in
//! exporter-toolkit's format, the listener (connection cap, header-read and handshake
//! timeouts), request limits and the checks of client-controlled input. Sits beside the
//! server, above the sources: it imports no source.

pub mod auth;
pub mod checks;
pub mod config;
pub mod flags;
pub mod limits;
pub mod listener;
pub mod tls;

use anyhow::Result;
use arc_swap::ArcSwap;
use axum::http::{HeaderName, HeaderValue};
use config::WebConfig;
use std::path::PathBuf;
use std::sync::Arc;

/// What the current web config asks of every connection and request.
pub struct Active {
    pub auth: Option<auth::BasicAuth>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Active {
    fn build(config: WebConfig) -> Active {
        Active {
            auth: (!config.users.is_empty()).then(|| auth::BasicAuth::new(config.users)),
            headers: config.headers,
            tls: config.tls.map(tokio_rustls::TlsAcceptor::from),
        }
    }
}

/// The web config in force, swapped whole by a reload that validated the new file.
pub struct WebState {
    path: Option<PathBuf>,
    active: ArcSwap<Active>,
}

impl WebState {
    /// Read `--web.config.file` (none: plain HTTP, no auth).
    pub fn load(path: Option<PathBuf>) -> Result<Arc<WebState>> {
        let active = Self::read(path.as_deref())?;
        Ok(Arc::new(WebState {
            path,
            active: ArcSwap::from_pointee(active),
        }))
    }

    fn read(path: Option<&std::path::Path>) -> Result<Active> {
        let config = match path {
            Some(path) => WebConfig::load(path)?,
            None => WebConfig::default(),
        };
        Ok(Active::build(config))
    }

    /// Read the file again; on error the old config stays in force.
    pub fn reload(&self) -> Result<()> {
        let fresh = Self::read(self.path.as_deref())?;
        self.active.store(Arc::new(fresh));
        Ok(())
    }

    pub fn active(&self) -> Arc<Active> {
        self.active.load_full()
    }
}
