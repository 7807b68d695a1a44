//! The one HTTP/1.1 client exchange, shared by the prober and the status-page fetchers: a
//! request over an already connected stream (TCP, TLS or unix), the connection driven by a
//! task that is aborted when the caller drops the [`Exchange`].

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

/// What our own requests say they are (so servers can tell them apart in their logs).
pub const USER_AGENT: &str = concat!("gateway-exporter/", env!("CARGO_PKG_VERSION"));

/// A connected byte stream: TCP, TLS over TCP, or a unix socket.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A response head; its body is read from `response` while the exchange is alive.
pub struct Exchange {
    pub response: hyper::Response<Incoming>,
    _connection: AbortOnDrop,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Send `request` over `stream` and wait for the response head. No deadline here: the
/// callers hold one deadline over the whole exchange.
pub async fn send(
    stream: Box<dyn Stream>,
    request: hyper::Request<Full<Bytes>>,
) -> Result<Exchange, hyper::Error> {
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let driver = AbortOnDrop(tokio::spawn(async move {
        let _ = connection.await;
    }));
    let response = sender.send_request(request).await?;
    Ok(Exchange {
        response,
        _connection: driver,
    })
}

/// The Host header for `url`: its host, with the port when it is not the scheme's default.
pub fn authority(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// The request target for `url`: path and query.
pub fn path_and_query(url: &url::Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_and_target() {
        let url = url::Url::parse("http://example.test:8080/a/b?x=1").unwrap();
        assert_eq!(authority(&url), "example.test:8080");
        assert_eq!(path_and_query(&url), "/a/b?x=1");
        let url = url::Url::parse("https://example.test:443/").unwrap();
        assert_eq!(authority(&url), "example.test");
        assert_eq!(path_and_query(&url), "/");
        let url = url::Url::parse("http://[::1]:81/s").unwrap();
        assert_eq!(authority(&url), "[::1]:81");
    }
}
