//! Reading a status page over HTTP, FastCGI or a raw stream: bounded in time and size,
//! every failure classified.

use super::address::{Address, Down, DownReason, connect};
use super::fastcgi;
use crate::base::http1::{self, Stream};
use http_body_util::{BodyExt, Full, Limited};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::time::Instant;

/// Status pages larger than this are refused (a full FPM list of 500 workers is ~250 KiB).
pub const BODY_CAP: usize = 4 << 20;

/// Connect, then run `exchange` on the stream; the whole within `timeout`.
async fn bounded<T, F, Fut>(address: &Address, timeout: Duration, exchange: F) -> Result<T, Down>
where
    F: FnOnce(Box<dyn Stream>) -> Fut,
    Fut: Future<Output = Result<T, Down>>,
{
    let deadline = Instant::now() + timeout;
    let stream = connect(address, timeout).await?;
    match tokio::time::timeout_at(deadline, exchange(stream)).await {
        Ok(result) => result,
        Err(_) => Err(Down::new(
            DownReason::Timeout,
            format!("no complete answer within {timeout:?}"),
        )),
    }
}

/// Non-2xx answers: 401/403 is `access_denied`, the rest `http_status`.
fn check_status(status: u16, body: &[u8]) -> Result<(), Down> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    let reason = if status == 401 || status == 403 {
        DownReason::AccessDenied
    } else {
        DownReason::HttpStatus
    };
    let snippet: String = String::from_utf8_lossy(&body[..body.len().min(80)])
        .trim()
        .to_string();
    Err(Down::new(reason, format!("status {status}: {snippet}")))
}

/// GET `url` over a fresh connection.
pub async fn http_get(url: &url::Url, timeout: Duration) -> Result<Vec<u8>, Down> {
    let address = Address::Http(url.clone());
    let request = hyper::Request::get(http1::path_and_query(url))
        .header(hyper::header::HOST, http1::authority(url))
        .header(hyper::header::USER_AGENT, http1::USER_AGENT)
        .body(Full::default())
        .map_err(|e| Down::new(DownReason::InvalidResponse, e.to_string()))?;
    bounded(&address, timeout, move |stream| async move {
        let invalid = |e: hyper::Error| Down::new(DownReason::InvalidResponse, e.to_string());
        let exchange = http1::send(stream, request).await.map_err(invalid)?;
        let status = exchange.response.status().as_u16();
        let body = Limited::new(exchange.response.into_body(), BODY_CAP)
            .collect()
            .await
            .map_err(|e| {
                Down::new(
                    DownReason::InvalidResponse,
                    format!("body: {e} (cap {BODY_CAP} bytes)"),
                )
            })?
            .to_bytes();
        check_status(status, &body)?;
        Ok(body.to_vec())
    })
    .await
}

/// GET `path?query` from a FastCGI server (PHP-FPM) at `address`.
pub async fn fastcgi_get(
    address: &Address,
    path: &str,
    query: &str,
    timeout: Duration,
) -> Result<Vec<u8>, Down> {
    bounded(address, timeout, move |mut stream| async move {
        let response = fastcgi::exchange(&mut stream, path, query, BODY_CAP)
            .await
            .map_err(|e| Down::new(DownReason::InvalidResponse, e.to_string()))?;
        check_status(response.status, &response.body)?;
        // FPM refuses some requests with a body of "Access denied." and no Status header.
        if response.body.starts_with(b"Access denied") {
            return Err(Down::new(
                DownReason::AccessDenied,
                "PHP-FPM: Access denied.",
            ));
        }
        Ok(response.body)
    })
    .await
}

/// Everything a server writes on connect, until it closes (uWSGI's plain stats socket).
pub async fn read_all(address: &Address, timeout: Duration) -> Result<Vec<u8>, Down> {
    bounded(address, timeout, move |stream| async move {
        let mut body = Vec::new();
        stream
            .take(BODY_CAP as u64 + 1)
            .read_to_end(&mut body)
            .await
            .map_err(|e| Down::new(DownReason::InvalidResponse, format!("read: {e}")))?;
        if body.len() > BODY_CAP {
            return Err(Down::new(
                DownReason::InvalidResponse,
                format!("stats larger than {BODY_CAP} bytes"),
            ));
        }
        Ok(body)
    })
    .await
}
