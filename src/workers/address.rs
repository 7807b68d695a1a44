//! Where a pool or upstream listens, connecting to it with a bound, and why a connect failed.

use crate::base::http1::Stream;
use crate::base::net::parse_host_port;
use std::path::PathBuf;
use std::time::Duration;

/// A socket address as written in our config: `unix:/path`, `/path`, `tcp://host:port`,
/// `host:port`, or (status pages only) `http://...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Unix(PathBuf),
    Tcp(String),
    Http(url::Url),
}

impl Address {
    pub fn parse(text: &str) -> Result<Address, String> {
        let text = text.trim();
        if let Some(path) = text
            .strip_prefix("unix://")
            .or_else(|| text.strip_prefix("unix:"))
        {
            if !path.starts_with('/') {
                return Err(format!("{text:?}: a unix socket path must be absolute"));
            }
            return Ok(Address::Unix(PathBuf::from(path)));
        }
        if text.starts_with('/') {
            return Ok(Address::Unix(PathBuf::from(text)));
        }
        if text.starts_with("http://") {
            let url = url::Url::parse(text).map_err(|e| format!("{text:?}: {e}"))?;
            if url.host_str().is_none() {
                return Err(format!("{text:?}: no host"));
            }
            return Ok(Address::Http(url));
        }
        if text.contains("://") && !text.starts_with("tcp://") {
            return Err(format!("{text:?}: scheme must be unix:, tcp:// or http://"));
        }
        let hostport = text
            .strip_prefix("tcp://")
            .unwrap_or(text)
            .trim_end_matches('/');
        match parse_host_port(hostport, 0) {
            Ok(_) => Ok(Address::Tcp(hostport.to_string())),
            Err(e) => Err(format!(
                "{e}: expected host:port, tcp://host:port, unix:/path or http://..."
            )),
        }
    }

    /// The socket itself: for `http://` the host and port of the URL.
    pub fn socket(&self) -> Address {
        match self {
            Address::Http(url) => {
                let host = url.host_str().unwrap_or("127.0.0.1");
                let port = url.port_or_known_default().unwrap_or(80);
                Address::Tcp(format!("{host}:{port}"))
            }
            other => other.clone(),
        }
    }
}

/// Why a pool or an upstream counts as down: the `reason` label of `*_down_info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownReason {
    ConnectRefused,
    SocketMissing,
    SocketPermission,
    /// A unix socket whose listen backlog is full answers EAGAIN: what nginx turns into a 502.
    BacklogFull,
    ConnectTimeout,
    Timeout,
    AccessDenied,
    HttpStatus,
    InvalidResponse,
}

impl DownReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DownReason::ConnectRefused => "connect_refused",
            DownReason::SocketMissing => "socket_missing",
            DownReason::SocketPermission => "socket_permission",
            DownReason::BacklogFull => "backlog_full",
            DownReason::ConnectTimeout => "connect_timeout",
            DownReason::Timeout => "timeout",
            DownReason::AccessDenied => "access_denied",
            DownReason::HttpStatus => "http_status",
            DownReason::InvalidResponse => "invalid_response",
        }
    }

    /// Classify a failed connect by its errno.
    pub fn from_connect_error(e: &std::io::Error) -> DownReason {
        match e.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => DownReason::SocketMissing,
            Some(libc::EACCES) | Some(libc::EPERM) => DownReason::SocketPermission,
            Some(libc::EAGAIN) => DownReason::BacklogFull,
            Some(libc::ETIMEDOUT) => DownReason::ConnectTimeout,
            _ => DownReason::ConnectRefused,
        }
    }
}

/// A failure with the reason for the metric and the detail for the log.
#[derive(Debug, Clone)]
pub struct Down {
    pub reason: DownReason,
    pub detail: String,
}

impl Down {
    pub fn new(reason: DownReason, detail: impl Into<String>) -> Down {
        Down {
            reason,
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for Down {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reason.as_str(), self.detail)
    }
}

/// Connect to `address` (its socket for `http://`) within `timeout`.
pub async fn connect(address: &Address, timeout: Duration) -> Result<Box<dyn Stream>, Down> {
    let attempt = async {
        match address.socket() {
            Address::Unix(path) => tokio::net::UnixStream::connect(&path)
                .await
                .map(|s| Box::new(s) as Box<dyn Stream>)
                .map_err(|e| (e, path.display().to_string())),
            Address::Tcp(hostport) => tokio::net::TcpStream::connect(hostport.as_str())
                .await
                .map(|s| {
                    let _ = s.set_nodelay(true);
                    Box::new(s) as Box<dyn Stream>
                })
                .map_err(|e| (e, hostport)),
            Address::Http(_) => unreachable!("socket() never returns Http"),
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err((e, target))) => Err(Down::new(
            DownReason::from_connect_error(&e),
            format!("connect {target}: {e}"),
        )),
        Err(_) => Err(Down::new(
            DownReason::ConnectTimeout,
            format!("connect: no answer within {timeout:?}"),
        )),
    }
}

/// Is something accepting connections at `address` (TCP `host:port` or a unix socket path)?
/// The "is the app really listening where nginx thinks" check; reusable for upstreams seen in logs.
pub async fn check_upstream(address: &str, timeout: Duration) -> Result<(), Down> {
    let parsed = Address::parse(address).map_err(|e| Down::new(DownReason::ConnectRefused, e))?;
    connect(&parsed, timeout).await.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_address_forms() {
        let table = [
            (
                "unix:/run/php/a.sock",
                Ok(Address::Unix("/run/php/a.sock".into())),
            ),
            (
                "unix:///run/php/a.sock",
                Ok(Address::Unix("/run/php/a.sock".into())),
            ),
            (
                "/run/php/a.sock",
                Ok(Address::Unix("/run/php/a.sock".into())),
            ),
            (
                "tcp://127.0.0.1:9000",
                Ok(Address::Tcp("127.0.0.1:9000".into())),
            ),
            ("127.0.0.1:9000", Ok(Address::Tcp("127.0.0.1:9000".into()))),
            ("[::1]:9000", Ok(Address::Tcp("[::1]:9000".into()))),
            ("localhost:8080", Ok(Address::Tcp("localhost:8080".into()))),
        ];
        for (text, want) in table {
            assert_eq!(Address::parse(text), want, "{text}");
        }
        for bad in [
            "unix:rel.sock",
            "9000",
            "host:",
            ":80",
            "host:0",
            "host:99999",
            "ftp://x:1",
            "",
        ] {
            assert!(Address::parse(bad).is_err(), "{bad:?} should be refused");
        }
        let http = Address::parse("http://127.0.0.1:8080/server-status?auto").unwrap();
        assert_eq!(http.socket(), Address::Tcp("127.0.0.1:8080".into()));
        assert_eq!(
            Address::parse("http://localhost/x").unwrap().socket(),
            Address::Tcp("localhost:80".into())
        );
    }

    #[test]
    fn classifies_connect_errors() {
        let table = [
            (libc::ENOENT, "socket_missing"),
            (libc::EACCES, "socket_permission"),
            (libc::EPERM, "socket_permission"),
            (libc::ECONNREFUSED, "connect_refused"),
            (libc::EAGAIN, "backlog_full"),
            (libc::ETIMEDOUT, "connect_timeout"),
        ];
        for (errno, want) in table {
            let e = std::io::Error::from_raw_os_error(errno);
            assert_eq!(
                DownReason::from_connect_error(&e).as_str(),
                want,
                "errno {errno}"
            );
        }
    }

    #[tokio::test]
    async fn upstream_check_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.sock");
        let err = check_upstream(&missing.display().to_string(), Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(err.reason, DownReason::SocketMissing);

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        check_upstream(&format!("127.0.0.1:{port}"), Duration::from_secs(1))
            .await
            .unwrap();
        drop(listener);
        let err = check_upstream(&format!("127.0.0.1:{port}"), Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(err.reason, DownReason::ConnectRefused);

        // A stale socket file with nobody listening: refused, not missing.
        let stale = dir.path().join("stale.sock");
        drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
        let err = check_upstream(&stale.display().to_string(), Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(err.reason, DownReason::ConnectRefused);
    }

    #[tokio::test]
    async fn a_full_unix_backlog_is_backlog_full() {
        use std::os::fd::AsRawFd;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("full.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        // Listening again sets the backlog: the smallest one fills after a connection or two.
        // SAFETY: listen(2) on a descriptor the listener owns and keeps open.
        assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
        let address = Address::Unix(path);
        let mut held = Vec::new();
        let err = loop {
            match connect(&address, Duration::from_secs(1)).await {
                Ok(s) if held.len() < 10 => held.push(s),
                Ok(_) => panic!("backlog never filled"),
                Err(e) => break e,
            }
        };
        assert_eq!(err.reason, DownReason::BacklogFull, "{err}");
    }
}
