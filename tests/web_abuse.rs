//! The HTTP server under hostile clients: request heads that never end, more connections
//! than descriptors, floods of parallel scrapes and probes, cross-site and rapid reloads, a
//! stream of reloads beside a slow probe, absurd scrape-timeout headers, and telemetry
//! paths that clash with other routes.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// A fake HTTP server that answers every request with `response` after `delay`, counting
/// the requests that reach it (a stand-in for a slow status page or a slow app).
struct SlowServer {
    port: u16,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl SlowServer {
    fn start(delay: Duration, body: &'static str) -> SlowServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (counted, stopped) = (requests.clone(), stop.clone());
        thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                let Ok((mut conn, _)) = listener.accept() else {
                    thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let counted = counted.clone();
                thread::spawn(move || {
                    conn.set_nonblocking(false).ok();
                    conn.set_read_timeout(Some(Duration::from_secs(5))).ok();
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    counted.fetch_add(1, Ordering::SeqCst);
                    thread::sleep(delay);
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = conn.write_all(response.as_bytes());
                });
            }
        });
        SlowServer {
            port,
            requests,
            stop,
        }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for SlowServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

const STUB_STATUS: &str = "Active connections: 1 \nserver accepts handled requests\n 1 1 1 \nReading: 0 Writing: 1 Waiting: 0 \n";

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// Run `n` requests at once (each on its own connection), return their statuses.
fn parallel(n: usize, request: impl Fn() -> u16 + Send + Sync + 'static) -> Vec<u16> {
    let request = Arc::new(request);
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let request = request.clone();
            thread::spawn(move || request())
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

#[test]
fn unfinished_request_heads_are_closed_and_health_keeps_answering() {
    let exporter = Exporter::start_with_args(
        "probes: []\n",
        &[
            "--web.read-header-timeout",
            "1s",
            "--web.max-connections",
            "50",
        ],
    );
    let pid = exporter.daemon.pid();
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let open_files: Vec<&str> = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        open_files[3], open_files[4],
        "soft fd limit raised to hard: {limits}"
    );
    let idle_fds = open_fds(pid);

    // 300 clients that start a request and never finish its head.
    let started = Instant::now();
    let mut slow: Vec<TcpStream> = (0..300)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", exporter.port)).unwrap();
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .unwrap();
            s
        })
        .collect();
    thread::sleep(Duration::from_millis(300));
    let held = open_fds(pid) - idle_fds;
    assert!(
        held <= 50,
        "{held} descriptors held for slow clients, cap is 50"
    );

    // Health answers once the slow clients ahead of it have timed out (300 / 50 rounds of 1s).
    let health = get(exporter.port, "/-/healthy");
    assert_eq!(health.status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "{:?}",
        started.elapsed()
    );

    // Every slow client was closed by the server: reading gives EOF (or a reset), not a wait.
    for s in &mut slow {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 512];
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => continue, // hyper may answer 408 before closing
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("slow client still open after {:?}: {e}", started.elapsed()),
            }
        }
    }

    // A keep-alive connection idle after its answer is closed too: the next head is late.
    let mut idle = TcpStream::connect(("127.0.0.1", exporter.port)).unwrap();
    idle.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let asked = Instant::now();
    let mut answer = Vec::new();
    idle.read_to_end(&mut answer)
        .expect("the idle connection is closed within the timeout");
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "{:?}",
        asked.elapsed()
    );
    exporter_alive(&exporter);
}

fn exporter_alive(exporter: &Exporter) {
    assert_eq!(get(exporter.port, "/-/healthy").status, 200);
    assert!(
        !exporter.daemon.stderr().contains("panicked"),
        "{}",
        exporter.daemon.stderr()
    );
}

fn workers_config(status: &SlowServer) -> String {
    format!(
        "workers:\n  - {{kind: nginx, address: 'http://127.0.0.1:{}/nginx_status', timeout: 10s}}\n",
        status.port
    )
}

#[test]
fn overlapping_scrapes_share_one_status_request() {
    let status = SlowServer::start(Duration::from_secs(1), STUB_STATUS);
    let exporter =
        Exporter::start_with_args(&workers_config(&status), &["--web.max-requests", "0"]);
    let before = status.requests();
    let port = exporter.port;
    let statuses = parallel(100, move || get(port, "/metrics").status);
    assert_eq!(count(&statuses, 200), 100, "{statuses:?}");
    let reached = status.requests() - before;
    assert!(
        (1..=2).contains(&reached),
        "100 parallel scrapes sent {reached} status requests"
    );
}

#[test]
fn requests_beyond_max_requests_get_503() {
    let status = SlowServer::start(Duration::from_secs(2), STUB_STATUS);
    let app = SlowServer::start(Duration::from_secs(2), "ok");
    let config = format!(
        "{}modules:\n  http_2xx: {{prober: http, timeout: 5s}}\n\
         probe_endpoint:\n  allowed_targets: ['127.0.0.1']\n",
        workers_config(&status)
    );
    let exporter = Exporter::start_with_args(&config, &["--web.max-requests", "5"]);
    let port = exporter.port;
    let scrapes = parallel(20, move || get(port, "/metrics").status);
    assert_eq!(
        (count(&scrapes, 200), count(&scrapes, 503)),
        (5, 15),
        "{scrapes:?}"
    );

    let target = format!("/probe?target=127.0.0.1:{}", app.port);
    let probes = parallel(12, move || get(port, &target).status);
    assert_eq!(
        (count(&probes, 200), count(&probes, 503)),
        (5, 7),
        "{probes:?}"
    );
    // The places are given back: a later scrape is served.
    assert_eq!(get(exporter.port, "/metrics").status, 200);
}

#[test]
fn reload_is_post_only_same_site_and_once_a_second() {
    let exporter = Exporter::start("probes: []\n");
    let port = exporter.port;
    let origin = format!("http://127.0.0.1:{port}");
    assert_eq!(get(port, "/-/reload").status, 405);
    assert_eq!(http("PUT", port, "/-/reload", &[]).status, 405);
    let evil = http(
        "POST",
        port,
        "/-/reload",
        &[("Origin", "http://evil.example")],
    );
    assert_eq!(evil.status, 403, "{}", evil.body);
    let fetch = http(
        "POST",
        port,
        "/-/reload",
        &[("Sec-Fetch-Site", "cross-site")],
    );
    assert_eq!(fetch.status, 403, "{}", fetch.body);
    assert_eq!(
        exporter.value("gateway_config_reloads_total", &[]),
        Some(0.0),
        "refused requests do not reload"
    );

    assert_eq!(
        http("POST", port, "/-/reload", &[("Origin", &origin)]).status,
        200
    );
    let flood = http("POST", port, "/-/reload", &[]);
    assert_eq!(flood.status, 429, "{}", flood.body);
    assert_eq!(flood.header("Retry-After"), Some("1"));
    thread::sleep(Duration::from_millis(1100));
    assert_eq!(http("POST", port, "/-/reload", &[]).status, 200);
    assert_eq!(
        exporter.value("gateway_config_reloads_total", &[]),
        Some(2.0)
    );
}

#[test]
fn a_stream_of_reloads_keeps_a_slow_probe_healthy() {
    // Each probe takes 1.5s; reloads come every 1.05s. A reload that restarted the probe's
    // task would abort every probe before it finished.
    let app = SlowServer::start(Duration::from_millis(1500), "ok");
    let config = format!(
        "probes:\n  - {{name: slow, url: 'http://127.0.0.1:{}/', interval: 2s, timeout: 5s}}\n",
        app.port
    );
    let exporter = Exporter::start(&config);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(7) {
        let reload = http("POST", exporter.port, "/-/reload", &[]);
        assert_eq!(reload.status, 200, "{}", reload.body);
        thread::sleep(Duration::from_millis(1050));
    }
    assert_eq!(
        exporter.value("gateway_probe_success", &[("target", "slow")]),
        Some(1.0)
    );
    assert!(
        exporter
            .value("gateway_probes_total", &[("target", "slow")])
            .unwrap()
            >= 3.0,
        "{}",
        exporter.metrics()
    );
    // The schedule went on: one probe per 2s, not one per reload.
    assert!(app.requests() <= 5, "{} probes in 7s", app.requests());
}

#[test]
fn hostile_headers_are_answered() {
    let app = SlowServer::start(Duration::ZERO, "ok");
    let exporter = Exporter::start(
        "modules:\n  http_2xx: {prober: http, timeout: 5s}\n\
         probe_endpoint:\n  allowed_targets: ['127.0.0.1']\n",
    );
    let target = format!("/probe?target=127.0.0.1:{}", app.port);
    let header = "X-Prometheus-Scrape-Timeout-Seconds";
    let huge = http("GET", exporter.port, &target, &[(header, "1e20")]);
    assert_eq!(huge.status, 200, "{}", huge.body);
    assert!(huge.body.contains("probe_success 1"), "{}", huge.body);
    for bad in ["NaN", "-1", "inf", "0", "soon"] {
        let answer = http("GET", exporter.port, &target, &[(header, bad)]);
        assert_eq!(answer.status, 400, "{bad}: {}", answer.body);
        assert!(answer.body.contains(header), "{}", answer.body);
    }
    // A request head past 64 KiB is refused, not buffered.
    let big = "a".repeat(100_000);
    let answer = http("GET", exporter.port, "/-/healthy", &[("X-Big", &big)]);
    assert_eq!(answer.status, 431);
    exporter_alive(&exporter);
}

#[test]
fn telemetry_paths_that_clash_are_clear_errors() {
    let dir = tempdir();
    let config = dir.path().join("config.yml");
    std::fs::write(&config, "probes: []\n").unwrap();
    for path in [
        "/",
        "/probe",
        "/-/healthy",
        "/-/reload",
        "metrics",
        "/{x}",
        "/*x",
        "",
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_gateway-exporter"))
            .arg("--config.file")
            .arg(&config)
            .args([
                "--web.listen-address",
                &format!("127.0.0.1:{}", free_port()),
            ])
            .args(["--web.telemetry-path", path])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{path:?}: {stderr}");
        assert!(
            stderr.contains("--web.telemetry-path") && !stderr.contains("panicked"),
            "{path:?}: {stderr}"
        );
    }
    let custom = Exporter::start_with_args("probes: []\n", &["--web.telemetry-path", "/x/metrics"]);
    let page = get(custom.port, "/x/metrics");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("gateway_build_info"));
}
