//! Real Apache httpd (mod_proxy_http, mod_proxy_fcgi, mod_proxy_balancer) in front of
//! upstreams that fail each way Apache can tell apart. After each request, `--one-shot`
//! over its error log must have counted exactly one more failed request, under the cause
//! the errno names (one failure writes one to three lines; a balancer writes them again
//! for each member it fails over to).

mod common;
#[path = "common/servers.rs"]
mod servers;

use common::*;
use servers::{Apache, BlackholePort, one_shot, open_dir, sum};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

/// What a unix-socket upstream (FastCGI or HTTP) does with each connection.
#[derive(Clone, Copy)]
enum OnConnect {
    /// Read the request, write this, close.
    Reply(&'static [u8]),
    /// Read the request, write this, keep the connection open.
    ReplyAndHold(&'static [u8]),
    /// Write this without reading the request, close: the unread request makes the
    /// kernel report ECONNRESET to Apache once it has read what was written.
    ReplyUnreadAndClose(&'static [u8]),
}

/// A misbehaving upstream on a unix socket that www-data may connect to.
struct UnixUpstream {
    stop: Arc<AtomicBool>,
}

impl UnixUpstream {
    fn start(path: &Path, on_connect: OnConnect) -> UnixUpstream {
        let listener = UnixListener::bind(path).unwrap();
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let stopped = stopped.clone();
                        thread::spawn(move || serve_unix(conn, on_connect, &stopped));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        UnixUpstream { stop }
    }
}

impl Drop for UnixUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Read until the peer has been quiet a moment: the whole request, in any protocol.
fn read_request(conn: &mut UnixStream) {
    conn.set_read_timeout(Some(Duration::from_millis(150)))
        .unwrap();
    let mut buf = [0u8; 65536];
    while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
}

fn serve_unix(mut conn: UnixStream, on_connect: OnConnect, stop: &AtomicBool) {
    conn.set_nonblocking(false).unwrap();
    match on_connect {
        OnConnect::Reply(bytes) => {
            read_request(&mut conn);
            let _ = conn.write_all(bytes);
        }
        OnConnect::ReplyAndHold(bytes) => {
            read_request(&mut conn);
            let _ = conn.write_all(bytes);
            while !stop.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(50));
            }
        }
        OnConnect::ReplyUnreadAndClose(bytes) => {
            thread::sleep(Duration::from_millis(300)); // let the request arrive, unread
            let _ = conn.write_all(bytes);
        }
    }
}

/// `gateway_upstream_errors_total` of log `a` by (cause, upstream).
fn errors_by_cause(text: &str) -> BTreeMap<(String, String), f64> {
    let label = |labels: &str, name: &str| -> String {
        let from = labels.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        labels[from..from + labels[from..].find('"').unwrap()].to_string()
    };
    text.lines()
        .filter_map(|l| l.strip_prefix("gateway_upstream_errors_total{"))
        .map(|l| {
            let (labels, value) = l.rsplit_once("} ").unwrap();
            (
                (label(labels, "cause"), label(labels, "upstream")),
                value.parse::<f64>().unwrap(),
            )
        })
        .collect()
}

/// Counts added by one request: (cause, upstream, how many).
type Added = Vec<(String, String, f64)>;

/// What one request added to the counts since `before`.
fn added(
    before: &BTreeMap<(String, String), f64>,
    after: &BTreeMap<(String, String), f64>,
) -> Added {
    after
        .iter()
        .filter_map(|(k, v)| {
            let d = v - before.get(k).copied().unwrap_or(0.0);
            (d != 0.0).then(|| (k.0.clone(), k.1.clone(), d))
        })
        .collect()
}

#[test]
fn each_failure_counts_once_under_the_cause_its_errno_names() {
    let dead = free_port();
    let (two_a, two_b, mixed_dead, rescued_dead, lone) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );
    let blackhole = BlackholePort::bind();
    let hang = FakeUpstream::start(Behaviour::Hang);
    let reset = FakeUpstream::start(Behaviour::Reset);
    let close = FakeUpstream::start(Behaviour::Close);
    // A TLS alert where a status line should be: no line end before the close.
    let cut_status = FakeUpstream::start(Behaviour::Raw("\x15\x03\x01\x00\x02\x02\x46".into()));
    let cut_headers = FakeUpstream::start(Behaviour::Raw("HTTP/1.1 200 OK\r\nContent-".into()));
    let bad_header = FakeUpstream::start(Behaviour::Raw(
        "HTTP/1.1 200 OK\r\nno colon\r\n\r\nx".into(),
    ));
    let long_status = FakeUpstream::start(Behaviour::Raw(format!(
        "HTTP/1.1 200 {}\r\n\r\n",
        "a".repeat(20000)
    )));
    let big = FakeUpstream::respond("200 OK", &[&format!("X-Big: {}", "a".repeat(10000))], "x");
    let plain_text = FakeUpstream::start(Behaviour::Greet("not TLS\r\n".into()));
    let healthy = FakeUpstream::respond("200 OK", &[], "ok");
    let failing = FakeUpstream::respond("500 Internal Server Error", &[], "app error");

    let sockets = open_dir();
    let s = sockets.path().display().to_string();
    let _denied = UnixListener::bind(sockets.path().join("denied.sock")).unwrap();
    std::fs::set_permissions(
        sockets.path().join("denied.sock"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let sock = |name: &str| sockets.path().join(name);
    let _unix = [
        UnixUpstream::start(&sock("eof.sock"), OnConnect::Reply(b"")),
        UnixUpstream::start(&sock("reset.sock"), OnConnect::ReplyUnreadAndClose(b"")),
        UnixUpstream::start(
            &sock("notfcgi.sock"),
            OnConnect::Reply(b"HTTP/1.1 200 OK\r\n\r\n"),
        ),
        UnixUpstream::start(&sock("hang.sock"), OnConnect::ReplyAndHold(b"")),
        UnixUpstream::start(
            &sock("headhang.sock"),
            OnConnect::ReplyAndHold(b"HTTP/1.1 200 OK\r\nX-A: b\r\n"),
        ),
        UnixUpstream::start(
            &sock("headreset.sock"),
            OnConnect::ReplyUnreadAndClose(b"HTTP/1.1 200 OK\r\nX-A: b\r\n"),
        ),
    ];

    let tcp = |port: u16| format!("http://127.0.0.1:{port}/");
    let body = format!(
        r#"
LoadModule ssl_module /usr/lib/apache2/modules/mod_ssl.so
SSLProxyEngine on
ProxyPass /refused {refused} retry=0
ProxyPass /connect-timeout {blackhole} connectiontimeout=1 retry=0
ProxyPass /reset {reset} retry=0
ProxyPass /hang {hang} timeout=1 retry=0
ProxyPass /close {close} retry=0
ProxyPass /cut-status {cut_status} retry=0
ProxyPass /cut-headers {cut_headers} retry=0
ProxyPass /head-hang unix:{s}/headhang.sock|http://headhang/ timeout=1 retry=0
ProxyPass /head-reset unix:{s}/headreset.sock|http://headreset/ retry=0
ProxyPass /bad-header {bad_header} retry=0
ProxyPass /long-status {long_status} retry=0
ProxyPass /big {big} retry=0
ProxyPass /tls https://127.0.0.1:{plain_text}/ retry=0
ProxyPass /dns http://nosuchhost.invalid/ retry=0
ProxyPass /fcgi-missing unix:{s}/missing.sock|fcgi://missing/ retry=0
ProxyPass /fcgi-denied unix:{s}/denied.sock|fcgi://denied/ retry=0
ProxyPass /fcgi-eof unix:{s}/eof.sock|fcgi://eof/ retry=0
ProxyPass /fcgi-reset unix:{s}/reset.sock|fcgi://reset/ retry=0
ProxyPass /fcgi-notfcgi unix:{s}/notfcgi.sock|fcgi://notfcgi/ retry=0
ProxyPass /fcgi-hang unix:{s}/hang.sock|fcgi://hang/ timeout=1 retry=0
<Proxy balancer://two>
  BalancerMember http://127.0.0.1:{two_a}
  BalancerMember http://127.0.0.1:{two_b}
</Proxy>
ProxyPass /two balancer://two/
<Proxy balancer://mixed>
  BalancerMember http://127.0.0.1:{mixed_dead}
  BalancerMember http://127.0.0.1:{reset_port}
</Proxy>
ProxyPass /mixed balancer://mixed/
<Proxy balancer://rescued>
  BalancerMember http://127.0.0.1:{rescued_dead}
  BalancerMember http://127.0.0.1:{healthy_port}
</Proxy>
ProxyPass /rescued balancer://rescued/
<Proxy balancer://dead>
  BalancerMember http://127.0.0.1:{lone}
  ProxySet forcerecovery=off
</Proxy>
ProxyPass /dead balancer://dead/
<Proxy balancer://failonstatus>
  BalancerMember http://127.0.0.1:{failing_port}
  ProxySet failonstatus=500
</Proxy>
ProxyPass /failonstatus balancer://failonstatus/
"#,
        refused = tcp(dead),
        blackhole = tcp(blackhole.port),
        reset = tcp(reset.port),
        hang = tcp(hang.port),
        close = tcp(close.port),
        cut_status = tcp(cut_status.port),
        cut_headers = tcp(cut_headers.port),
        bad_header = tcp(bad_header.port),
        long_status = tcp(long_status.port),
        big = tcp(big.port),
        plain_text = plain_text.port,
        reset_port = reset.port,
        healthy_port = healthy.port,
        failing_port = failing.port,
    );
    let apache = Apache::start(16, &body);
    let config = format!(
        "logs:\n  - {{path: {}, format: apache_error, name: a}}\n",
        apache.error_log.display()
    );
    let peer = |port: u16| format!("127.0.0.1:{port}");
    let unix = |name: &str| format!("unix:{s}/{name}");
    // (path, what it adds to gateway_upstream_errors_total, server_down events): one
    // request each, in this order.
    let error = |cause: &str, upstream: String| vec![(cause.to_string(), upstream, 1.0)];
    let table: Vec<(&str, Added, f64)> = vec![
        ("/refused", error("connect_refused", peer(dead)), 0.0),
        (
            "/connect-timeout",
            error("connect_timeout", peer(blackhole.port)),
            0.0,
        ),
        ("/reset", error("reset", peer(reset.port)), 0.0),
        ("/hang", error("timeout", peer(hang.port)), 0.0),
        ("/close", error("premature_close", peer(close.port)), 0.0),
        (
            "/cut-status",
            error("premature_close", peer(cut_status.port)),
            0.0,
        ),
        ("/cut-headers", error("premature_close", "-".into()), 0.0),
        ("/head-hang", error("timeout", "-".into()), 0.0),
        ("/head-reset", error("reset", "-".into()), 0.0),
        ("/bad-header", error("invalid_response", "-".into()), 0.0),
        ("/long-status", error("invalid_response", "-".into()), 0.0),
        ("/big", error("header_too_big", "-".into()), 0.0),
        ("/tls", error("ssl_handshake", "-".into()), 0.0),
        ("/dns", error("dns", "nosuchhost.invalid".into()), 0.0),
        (
            "/fcgi-missing",
            error("socket_missing", unix("missing.sock")),
            0.0,
        ),
        (
            "/fcgi-denied",
            error("socket_permission", unix("denied.sock")),
            0.0,
        ),
        ("/fcgi-eof", error("premature_close", "-".into()), 0.0),
        ("/fcgi-reset", error("reset", "-".into()), 0.0),
        ("/fcgi-notfcgi", error("invalid_response", "-".into()), 0.0),
        ("/fcgi-hang", error("timeout", "-".into()), 0.0),
        // Both members refuse: one request, its last try's member; two members down.
        ("/two", error("connect_refused", peer(two_b)), 2.0),
        // The second member resets: still one request, under its last try's cause.
        ("/mixed", error("reset", peer(reset.port)), 1.0),
        // The second member answers 200: Apache logs nothing that tells this apart from
        // a request that ended there, so the failed try still counts (docs/logs.md).
        (
            "/rescued",
            error("connect_refused", peer(rescued_dead)),
            1.0,
        ),
        ("/dead", error("connect_refused", peer(lone)), 1.0),
        ("/dead", error("no_live_upstreams", "dead".into()), 0.0),
        // The member's own 500 puts it in error state: an event, not a failed request.
        ("/failonstatus", vec![], 1.0),
    ];
    let snapshot = |text: &str| {
        let events = sum(
            text,
            "gateway_server_events_total",
            &[("log", "a"), ("event", "server_down")],
        );
        (errors_by_cause(text), events)
    };
    let mut before = (BTreeMap::new(), 0.0);
    let mut statuses = Vec::new();
    for (path, errors, events) in &table {
        let status = get(apache.port, path).status;
        statuses.push((*path, status));
        let (text, now) = eventually(Duration::from_secs(5), &format!("{path} counted"), || {
            let text = one_shot(&config);
            let now = snapshot(&text);
            (now != before).then_some((text, now))
        });
        let ctx = format!("{path} -> {status}\n{}", apache.error_log_text());
        assert_eq!(added(&before.0, &now.0), *errors, "{ctx}");
        assert_eq!(now.1 - before.1, *events, "{ctx}");
        assert_eq!(
            sum(
                &text,
                "gateway_log_lines_unrecognised_total",
                &[("log", "a")]
            ),
            0.0,
            "{ctx}"
        );
        before = now;
    }
    // Every request but the rescued one reached the client as a 5xx.
    let failed = statuses.iter().filter(|(_, s)| *s >= 500).count();
    assert_eq!(failed, table.len() - 1, "{statuses:?}");
    promtool_check_metrics(&one_shot(&config)).unwrap();
    eprintln!("client statuses: {statuses:?}");
}
