//! Caddy's JSON logs, whichever logger wrote them, in one file or several:
//! - `http.log.access.*` ("handled request"): one response, its status and host;
//! - `http.log.error.*` with an `err_trace` in `reverseproxy.`: one failed request, its cause
//!   read from the Go error Caddy's reverse proxy (or its FastCGI transport) got;
//! - everything else (`http.handlers.reverse_proxy` debug lines, one per **try**, server
//!   notices) is known and counts nothing, so a failed request counts once.

use super::cause::Cause;
use super::nginx_access::{own_probe, scan_object};
use super::sink::{Access, Sink, Verdict, status_code};

pub fn parse<S: Sink>(line: &[u8], sink: &mut S) -> Verdict {
    let mut entry = Entry::default();
    let complete = scan_object(line, |key, value| match key {
        b"level" => entry.level = true,
        b"logger" => entry.logger = value,
        b"msg" => entry.msg = value,
        b"request" => entry.request = value,
        b"status" => entry.status = value,
        b"err_trace" => entry.err_trace = value,
        _ => {}
    });
    // Every line Caddy writes has a level; a JSON object without one is someone else's.
    if !complete || !entry.level {
        return Verdict::Unrecognised;
    }
    if entry.logger.starts_with(b"http.log.access") && entry.msg == b"handled request" {
        let request = Request::read(entry.request);
        let Some(status) = status_code(entry.status) else {
            return Verdict::Unrecognised;
        };
        if !own_probe(request.user_agent) {
            sink.access(&Access {
                vhost: request.host,
                status,
                ..Access::default()
            });
        }
    } else if entry.logger.starts_with(b"http.log.error")
        && entry.err_trace.starts_with(b"reverseproxy.")
        && let Some((cause, upstream)) = go_error(entry.msg)
    {
        sink.error(cause, Request::read(entry.request).host, upstream);
    }
    Verdict::Known
}

#[derive(Default)]
struct Entry<'a> {
    level: bool,
    logger: &'a [u8],
    msg: &'a [u8],
    request: &'a [u8],
    status: &'a [u8],
    err_trace: &'a [u8],
}

/// The parts of a logged `request` object we use.
struct Request<'a> {
    host: &'a [u8],
    user_agent: &'a [u8],
}

impl<'a> Request<'a> {
    fn read(object: &'a [u8]) -> Request<'a> {
        let mut r = Request {
            host: b"-",
            user_agent: b"",
        };
        let mut headers: &[u8] = b"";
        scan_object(object, |key, value| match key {
            b"host" if !value.is_empty() => r.host = value,
            b"headers" => headers = value,
            _ => {}
        });
        scan_object(headers, |key, value| {
            // Header values are lists: `["curl/7.88.1"]`.
            if key == b"User-Agent" {
                r.user_agent = value.strip_prefix(b"[\"").unwrap_or(value);
            }
        });
        r
    }
}

/// The cause and upstream of an error Go's net/http or net package wrote, as Caddy logs it
/// (`dial tcp 127.0.0.1:9: connect: connection refused`); None for errors that are not an
/// upstream's (a client gone: `context canceled`).
pub fn go_error(msg: &[u8]) -> Option<(Cause, &[u8])> {
    if msg == b"no upstreams available" {
        return Some((Cause::NoLiveUpstreams, b"-"));
    }
    if let Some(dial) = msg.strip_prefix(b"dial ") {
        return Some(dial_error(dial));
    }
    // `read tcp 127.0.0.1:49850->127.0.0.1:18102: read: connection reset by peer`
    for op in [&b"read "[..], b"write ", b"readfrom "] {
        if let Some(io) = msg.strip_prefix(op) {
            return io_error(io);
        }
    }
    let cause = if msg == b"net/http: timeout awaiting response headers"
        || msg == b"context deadline exceeded"
    {
        Cause::Timeout
    } else if msg.starts_with(b"net/http: server response headers exceeded ") {
        Cause::HeaderTooBig
    } else if memchr::memmem::find(msg, b"malformed HTTP ").is_some() {
        Cause::InvalidResponse
    } else if msg == b"EOF" || msg.ends_with(b": unexpected EOF") || msg == b"unexpected EOF" {
        Cause::PrematureClose
    } else if [
        &b"tls: "[..],
        b"x509: ",
        b"remote error: tls: ",
        b"local error: tls: ",
    ]
    .iter()
    .any(|p| msg.starts_with(p))
    {
        Cause::SslHandshake
    } else {
        return None;
    };
    Some((cause, b"-"))
}

/// After `dial `: `tcp 10.0.0.5:80: connect: connection refused`, `unix /run/x.sock: connect:
/// no such file or directory`, `tcp: lookup app.internal on 10.0.0.2:53: no such host`.
fn dial_error(dial: &[u8]) -> (Cause, &[u8]) {
    let network_end = memchr::memchr2(b' ', b':', dial).unwrap_or(dial.len());
    let rest = &dial[network_end..];
    if let Some(lookup) = rest.strip_prefix(b": lookup ") {
        let end = memchr::memchr2(b' ', b':', lookup).unwrap_or(lookup.len());
        return (Cause::Dns, &lookup[..end]);
    }
    let rest = rest.strip_prefix(b" ").unwrap_or(rest);
    let (address, reason) = split_reason(rest);
    let cause = if reason.ends_with(b"no such file or directory") {
        Cause::SocketMissing
    } else if reason.ends_with(b"permission denied") {
        Cause::SocketPermission
    } else if reason.ends_with(b"resource temporarily unavailable") {
        Cause::BacklogFull
    } else if reason.ends_with(b"i/o timeout") || reason.ends_with(b"connection timed out") {
        Cause::ConnectTimeout
    } else {
        // refused, and as nginx counts them, unreachable hosts and networks
        Cause::ConnectRefused
    };
    (cause, address)
}

/// After `read `/`write `: `tcp 127.0.0.1:49850->127.0.0.1:18102: read: connection reset by peer`.
fn io_error(io: &[u8]) -> Option<(Cause, &[u8])> {
    let (conn, reason) = split_reason(io);
    let peer = match memchr::memmem::find(conn, b"->") {
        Some(at) => &conn[at + 2..],
        None => b"-",
    };
    let cause = if reason.ends_with(b"connection reset by peer") || reason.ends_with(b"broken pipe")
    {
        Cause::Reset
    } else if reason.ends_with(b"i/o timeout") {
        Cause::Timeout
    } else {
        return None;
    };
    Some((cause, peer))
}

/// `tcp 10.0.0.5:80: connect: refused` -> (`10.0.0.5:80`, `connect: refused`): the address
/// ends at the first `: ` (IPv6 addresses are bracketed, paths have no `: `).
fn split_reason(v: &[u8]) -> (&[u8], &[u8]) {
    let v = v
        .strip_prefix(b"tcp ")
        .or_else(|| v.strip_prefix(b"tcp4 "))
        .or_else(|| v.strip_prefix(b"tcp6 "))
        .or_else(|| v.strip_prefix(b"unix "))
        .unwrap_or(v);
    match memchr::memmem::find(v, b": ") {
        Some(at) => (&v[..at], &v[at + 2..]),
        None => (v, b""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::sink::recorder::Recorder;

    /// An error entry as Caddy 2.6.2 writes it (tests/logs_caddy.rs has the live ones).
    fn error_entry(msg: &str, status: u16, trace: &str) -> String {
        format!(
            r#"{{"level":"error","ts":1796163437.203938,"logger":"http.log.error.log0","msg":"{msg}","request":{{"remote_ip":"127.0.0.1","remote_port":"60742","proto":"HTTP/1.1","method":"GET","host":"shop.test:8080","uri":"/x","headers":{{"User-Agent":["curl/7.88.1"],"Accept":["*/*"]}}}},"duration":0.0004,"status":{status},"err_id":"jnkjfcfqt","err_trace":"{trace}"}}"#
        )
    }

    const STATUS_ERROR: &str = "reverseproxy.statusError (reverseproxy.go:1272)";

    #[test]
    fn reverse_proxy_errors_by_cause() {
        let table = [
            (
                "dial tcp 127.0.0.1:9: connect: connection refused",
                "connect_refused",
                "127.0.0.1:9",
            ),
            (
                "dial tcp 10.0.0.7:80: connect: no route to host",
                "connect_refused",
                "10.0.0.7:80",
            ),
            (
                "dial tcp 10.255.255.1:80: i/o timeout",
                "connect_timeout",
                "10.255.255.1:80",
            ),
            (
                "dial tcp [::1]:8080: connect: connection timed out",
                "connect_timeout",
                "[::1]:8080",
            ),
            (
                "dial unix /run/php/php8.2-fpm.sock: connect: no such file or directory",
                "socket_missing",
                "/run/php/php8.2-fpm.sock",
            ),
            (
                "dial unix /run/php/php8.2-fpm.sock: connect: permission denied",
                "socket_permission",
                "/run/php/php8.2-fpm.sock",
            ),
            (
                "dial unix /run/php/php8.2-fpm.sock: connect: resource temporarily unavailable",
                "backlog_full",
                "/run/php/php8.2-fpm.sock",
            ),
            (
                "dial tcp: lookup nonexistent.invalid on 10.255.255.53:53: no such host",
                "dns",
                "nonexistent.invalid",
            ),
            (
                "dial tcp: lookup app.internal: i/o timeout",
                "dns",
                "app.internal",
            ),
            (
                "net/http: timeout awaiting response headers",
                "timeout",
                "-",
            ),
            (
                "read tcp 127.0.0.1:49850->127.0.0.1:18102: read: connection reset by peer",
                "reset",
                "127.0.0.1:18102",
            ),
            (
                "readfrom tcp 127.0.0.1:49850->127.0.0.1:18102: write tcp 127.0.0.1:49850->127.0.0.1:18102: write: broken pipe",
                "reset",
                "127.0.0.1:18102",
            ),
            (
                "read tcp 127.0.0.1:49850->127.0.0.1:18101: i/o timeout",
                "timeout",
                "127.0.0.1:18101",
            ),
            ("EOF", "premature_close", "-"),
            (
                "net/http: HTTP/1.x transport connection broken: unexpected EOF",
                "premature_close",
                "-",
            ),
            (
                r#"net/http: HTTP/1.x transport connection broken: malformed HTTP response \"garbage\""#,
                "invalid_response",
                "-",
            ),
            (
                r#"net/http: HTTP/1.x transport connection broken: malformed HTTP status code \"abc\""#,
                "invalid_response",
                "-",
            ),
            (
                "net/http: server response headers exceeded 10485760 bytes; aborted",
                "header_too_big",
                "-",
            ),
            (
                "tls: first record does not look like a TLS handshake",
                "ssl_handshake",
                "-",
            ),
            (
                "x509: certificate signed by unknown authority",
                "ssl_handshake",
                "-",
            ),
            ("remote error: tls: handshake failure", "ssl_handshake", "-"),
            ("no upstreams available", "no_live_upstreams", "-"),
        ];
        for (msg, cause, upstream) in table {
            let mut r = Recorder::default();
            let line = error_entry(msg, 502, STATUS_ERROR);
            assert_eq!(parse(line.as_bytes(), &mut r), Verdict::Known, "{msg}");
            assert_eq!(
                r.errors,
                [(
                    cause.to_string(),
                    "shop.test:8080".to_string(),
                    upstream.to_string()
                )],
                "{msg}"
            );
            assert!(
                r.access.is_empty(),
                "an error entry is not a response: {msg}"
            );
        }
    }

    #[test]
    fn access_entries_count_responses() {
        let mut r = Recorder::default();
        let line = r#"{"level":"error","ts":1796163437.203991,"logger":"http.log.access.log0","msg":"handled request","request":{"remote_ip":"127.0.0.1","remote_port":"60742","proto":"HTTP/1.1","method":"GET","host":"127.0.0.1:18200","uri":"/dead","headers":{"Accept":["*/*"],"User-Agent":["curl/7.88.1"]}},"user_id":"","duration":0.000431564,"size":0,"status":502,"resp_headers":{"Server":["Caddy"]}}"#;
        assert_eq!(parse(line.as_bytes(), &mut r), Verdict::Known);
        assert_eq!(
            r.access,
            [("127.0.0.1:18200".into(), 502, "".into(), "".into(), None)]
        );
        assert!(r.errors.is_empty());
        // Our own probes are read and not counted.
        let own = line.replace("curl/7.88.1", "gateway-exporter/0.1.0");
        let mut r = Recorder::default();
        assert_eq!(parse(own.as_bytes(), &mut r), Verdict::Known);
        assert!(r.access.is_empty());
    }

    #[test]
    fn traps_count_nothing() {
        let known = [
            // A try of the request whose error entry counts it (debug level).
            r#"{"level":"debug","ts":1796163445.1277456,"logger":"http.handlers.reverse_proxy","msg":"upstream roundtrip","upstream":"127.0.0.1:9","duration":0.000216323,"request":{"host":"127.0.0.1:18200"},"error":"dial tcp 127.0.0.1:9: connect: connection refused"}"#,
            r#"{"level":"debug","ts":1796163445.1274588,"logger":"http.handlers.reverse_proxy","msg":"selected upstream","dial":"127.0.0.1:9","total_upstreams":2}"#,
            r#"{"level":"info","ts":1796163436.0304332,"logger":"http.log","msg":"server running","name":"srv0","protocols":["h1","h2","h3"]}"#,
            r#"{"level":"info","ts":1796163436.030577,"msg":"serving initial configuration"}"#,
        ];
        for line in known {
            let mut r = Recorder::default();
            assert_eq!(parse(line.as_bytes(), &mut r), Verdict::Known, "{line}");
            assert!(r.errors.is_empty() && r.access.is_empty(), "{line}");
        }
        // Errors that are not an upstream's: a file server's, a client gone, the `error`
        // directive (its trace is not the reverse proxy's).
        for (msg, trace) in [
            (
                "open /srv/x: no such file or directory",
                "fileserver.(*FileServer).notFound (staticfiles.go:540)",
            ),
            ("context canceled", STATUS_ERROR),
            (
                "dial tcp 127.0.0.1:9: connect: connection refused",
                "caddyhttp.StaticError.ServeHTTP (staticerror.go:102)",
            ),
        ] {
            let mut r = Recorder::default();
            let line = error_entry(msg, 502, trace);
            assert_eq!(parse(line.as_bytes(), &mut r), Verdict::Known, "{msg}");
            assert!(r.errors.is_empty(), "{msg}: {r:?}");
        }
        for bad in [
            "",
            "not json",
            r#"{"status":502}"#,
            r#"{"level":"error","logger":"http.log.access.log0","msg":"handled request","status":"x"}"#,
            r#"{"level":"error","logger":"http.log.error.log0","msg":"EOF""#,
        ] {
            assert_eq!(
                parse(bad.as_bytes(), &mut Recorder::default()),
                Verdict::Unrecognised,
                "{bad}"
            );
        }
    }
}
