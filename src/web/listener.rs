//! The accept loop: at most `--web.max-connections` connections at once (the rest wait in
//! the kernel's queue, holding no descriptor of ours), a TLS handshake and every request
//! head bounded by `--web.read-header-timeout`, graceful shutdown.

use super::WebState;
use super::flags::WebFlags;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// How long in-flight requests may finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Largest request head a client may send (hyper answers 431 beyond): bounds the memory
/// one connection holds to about this, so `--web.max-connections` bounds it all.
const MAX_REQUEST_HEAD: usize = 64 * 1024;
/// Pause after a failed accept (out of descriptors): retrying at once would spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

pub async fn serve(
    listener: TcpListener,
    app: Router,
    web: Arc<WebState>,
    flags: &WebFlags,
    shutdown: impl Future<Output = ()>,
) {
    let places = Arc::new(Semaphore::new(flags.max_connections as usize));
    let header_timeout = flags.read_header_timeout;
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let place = tokio::select! {
            place = places.clone().acquire_owned() => place,
            () = &mut shutdown => break,
        };
        let Ok(place) = place else { break };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let tcp = match accepted {
            Ok((tcp, _peer)) => tcp,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let (app, tls, watcher) = (app.clone(), web.active().tls.clone(), graceful.watcher());
        tokio::spawn(async move {
            let _place = place;
            match tls {
                None => connection(tcp, app, header_timeout, watcher).await,
                Some(acceptor) => {
                    match tokio::time::timeout(header_timeout, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => connection(stream, app, header_timeout, watcher).await,
                        Ok(Err(e)) => tracing::debug!("TLS handshake refused: {e}"),
                        Err(_) => tracing::debug!("TLS handshake not finished in time"),
                    }
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after {SHUTDOWN_GRACE:?}; closing them");
    }
}

/// Serve HTTP/1.1 on one connection until the client leaves, a request head is late, or
/// shutdown.
async fn connection<S>(stream: S, app: Router, header_timeout: Duration, watcher: Watcher)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_header_size(MAX_REQUEST_HEAD)
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app));
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!("connection closed: {e}");
    }
}
