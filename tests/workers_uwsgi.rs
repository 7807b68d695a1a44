//! uWSGI from Debian (`uwsgi` + `uwsgi-plugin-python3`) with a real WSGI app under load:
//! the stats server on a unix socket and over `--stats-http`, busy workers, threads, cheap
//! workers and the listen queue, read by the exporter as a `kind: uwsgi` pool.

mod common;
#[path = "common/servers.rs"]
mod servers;

use common::*;
use servers::fire_requests;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const APP: &str = r#"import time
from urllib.parse import parse_qs


def application(environ, start_response):
    seconds = float(parse_qs(environ.get("QUERY_STRING", "")).get("s", ["0"])[0])
    time.sleep(seconds)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"slept\n"]
"#;

/// A uWSGI master serving `app.py` over HTTP on 127.0.0.1:`port`, with `args`.
fn uwsgi(dir: &Path, port: u16, args: &[&str]) -> Daemon {
    std::fs::write(dir.join("app.py"), APP).unwrap();
    let mut cmd = Command::new(require("uwsgi"));
    cmd.current_dir(dir)
        .args([
            "--plugin",
            "python3",
            "--master",
            "--die-on-term",
            "--wsgi-file",
            "app.py",
        ])
        .arg("--http-socket")
        .arg(format!("127.0.0.1:{port}"))
        .args(args);
    let mut daemon = Daemon::spawn("uwsgi", cmd, dir);
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        daemon.assert_running();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "uwsgi did not listen: {}",
            daemon.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    daemon
}

fn pool_value(text: &str, name: &str, pool: &str, extra: &[(&str, &str)]) -> Option<f64> {
    let mut labels = vec![("pool", pool), ("kind", "uwsgi")];
    labels.extend_from_slice(extra);
    sample_value(text, name, &labels)
}

/// Two single-threaded workers, stats on a unix socket, 5 slow requests: both workers busy
/// and 3 requests queued, as uWSGI's stats say (`uwsgi`) and as the kernel says (`kernel`).
#[test]
fn stats_socket_under_load() {
    let dir = tempdir();
    let port = free_port();
    let stats = dir.path().join("stats.sock");
    let stats_arg = stats.display().to_string();
    let mut server = uwsgi(
        dir.path(),
        port,
        &["--processes", "2", "--listen", "16", "--stats", &stats_arg],
    );
    assert_eq!(get(port, "/?s=0").status, 200, "{}", server.stderr());
    let exporter = Exporter::start(&format!(
        "workers:\n\
         - {{kind: uwsgi, name: stats, address: 'unix:{stats_arg}'}}\n\
         - {{kind: uwsgi, name: kernel, address: 'unix:{stats_arg}', listen: '127.0.0.1:{port}'}}\n"
    ));
    // uWSGI reports its backlog from the master's first reading on, about a second in.
    let idle = eventually(
        Duration::from_secs(5),
        "uWSGI's first backlog reading",
        || {
            let text = exporter.metrics();
            pool_value(&text, "gateway_worker_queue_limit", "stats", &[]).map(|_| text)
        },
    );
    for pool in ["stats", "kernel"] {
        let v = |name: &str, extra: &[(&str, &str)]| pool_value(&idle, name, pool, extra);
        assert_eq!(v("gateway_worker_up", &[]), Some(1.0), "{pool}: {idle}");
        assert_eq!(
            v("gateway_workers", &[("state", "active")]),
            Some(0.0),
            "{pool}"
        );
        assert_eq!(
            v("gateway_workers", &[("state", "idle")]),
            Some(2.0),
            "{pool}"
        );
        assert_eq!(v("gateway_workers_limit", &[]), Some(2.0), "{pool}");
        assert_eq!(
            v("gateway_workers_limit_info", &[("source", "status")]),
            Some(1.0)
        );
        assert_eq!(v("gateway_worker_queue", &[]), Some(0.0), "{pool}");
        assert_eq!(v("gateway_worker_queue_limit", &[]), Some(16.0), "{pool}");
        assert_eq!(v("gateway_worker_limit_reached_total", &[]), Some(0.0));
    }

    let _clients = fire_requests(port, "/?s=6", 5);
    // The kernel's queue is live; uWSGI's own is the master's reading of about a second ago.
    let text = eventually(Duration::from_secs(5), "2 busy, 3 queued", || {
        let text = exporter.metrics();
        let busy = |pool| pool_value(&text, "gateway_workers", pool, &[("state", "active")]);
        let queued = |pool| pool_value(&text, "gateway_worker_queue", pool, &[]);
        let full = ["stats", "kernel"]
            .iter()
            .all(|pool| busy(pool) == Some(2.0) && queued(pool) == Some(3.0));
        full.then_some(text)
    });
    for pool in ["stats", "kernel"] {
        assert_eq!(
            pool_value(&text, "gateway_workers", pool, &[("state", "idle")]),
            Some(0.0),
            "{pool}"
        );
        let took = pool_value(&text, "gateway_worker_status_duration_seconds", pool, &[]).unwrap();
        assert!(
            took < 0.5,
            "{pool}: the master answers stats while every worker is busy ({took}s)"
        );
    }
    promtool_check_metrics(&text).unwrap();
    server.assert_running();
}

/// `--stats-http`, 3 workers of 2 threads in cheaper mode (1 running): capacity is 6
/// requests at once, the cheap workers are neither busy nor idle, and two slow requests
/// are two busy threads, wherever uWSGI runs them.
#[test]
fn stats_http_with_threads_and_cheap_workers() {
    let dir = tempdir();
    let port = free_port();
    let stats = free_port();
    let stats_arg = format!("127.0.0.1:{stats}");
    let mut server = uwsgi(
        dir.path(),
        port,
        &[
            "--processes",
            "3",
            "--cheaper",
            "1",
            "--threads",
            "2",
            "--stats",
            &stats_arg,
            "--stats-http",
        ],
    );
    wait_for_port(stats, Duration::from_secs(10));
    let exporter = Exporter::start(&format!(
        "workers:\n- {{kind: uwsgi, name: threads, address: 'http://{stats_arg}/'}}\n"
    ));
    let idle = exporter.metrics();
    let v =
        |text: &str, name: &str, extra: &[(&str, &str)]| pool_value(text, name, "threads", extra);
    assert_eq!(v(&idle, "gateway_worker_up", &[]), Some(1.0), "{idle}");
    assert_eq!(v(&idle, "gateway_workers_limit", &[]), Some(6.0), "{idle}");
    assert_eq!(
        v(&idle, "gateway_workers", &[("state", "active")]),
        Some(0.0)
    );
    assert_eq!(
        v(&idle, "gateway_workers", &[("state", "idle")]),
        Some(2.0),
        "one running worker's two threads; the cheap ones are not idle capacity: {idle}"
    );

    let _clients = fire_requests(port, "/?s=6", 2);
    let text = eventually(Duration::from_secs(5), "2 busy threads", || {
        let text = exporter.metrics();
        (v(&text, "gateway_workers", &[("state", "active")]) == Some(2.0)).then_some(text)
    });
    assert_eq!(v(&text, "gateway_workers_limit", &[]), Some(6.0));
    let idle_now = v(&text, "gateway_workers", &[("state", "idle")]).unwrap();
    assert!(
        (0.0..=4.0).contains(&idle_now),
        "idle threads are those of running workers only: {idle_now}"
    );
    server.assert_running();
}
