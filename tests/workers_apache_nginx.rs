//! Apache mod_status and nginx stub_status from Debian, in the same model as PHP-FPM.

mod common;
#[path = "common/servers.rs"]
mod servers;

use common::*;
use servers::*;
use std::time::Duration;

/// Apache with 4 workers proxying to an app that never answers: idle at first; then with
/// every worker stuck, mod_status itself cannot answer (it needs a worker) and the requests
/// wait in the kernel's backlog, which is what we still see.
#[test]
fn apache_mod_status_and_its_backlog_when_full() {
    let app = FakeUpstream::start(Behaviour::Hang);
    let apache = Apache::start(
        4,
        &format!("ProxyPass /app http://127.0.0.1:{}/ timeout=30\n", app.port),
    );
    let port = apache.port;
    let exporter = Exporter::start(&format!(
        "workers:\n- {{kind: apache, name: web, address: 'http://127.0.0.1:{port}/server-status', listen: '127.0.0.1:{port}', config_file: '{}', timeout: 1s}}\n",
        apache.conf.display()
    ));
    let web = [("pool", "web"), ("kind", "apache")];
    let text = exporter.metrics();
    assert_eq!(
        sample_value(&text, "gateway_worker_up", &web),
        Some(1.0),
        "{text}\n{}",
        apache.error_log_text()
    );
    assert_eq!(
        sample_value(
            &text,
            "gateway_workers",
            &[("pool", "web"), ("state", "active")]
        ),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        sample_value(
            &text,
            "gateway_workers",
            &[("pool", "web"), ("state", "idle")]
        ),
        Some(4.0)
    );
    assert_eq!(
        sample_value(&text, "gateway_workers_limit", &web),
        Some(4.0)
    );
    assert_eq!(
        sample_value(
            &text,
            "gateway_workers_limit_info",
            &[("pool", "web"), ("source", "config_file")]
        ),
        Some(1.0)
    );
    assert_eq!(sample_value(&text, "gateway_worker_queue", &web), Some(0.0));
    promtool_check_metrics(&text).unwrap();

    let _clients = fire_requests(port, "/app", 6);
    // Full: the status request stalls behind the busy workers while the backlog grows. A
    // full pool is not a dead one: up, every worker busy (inferred from the backlog).
    let text = eventually(
        Duration::from_secs(5),
        "Apache full: status stalls, backlog grows",
        || {
            let text = exporter.metrics();
            let inferred = sample_value(&text, "gateway_workers_inferred", &web) == Some(1.0);
            (inferred && sample_value(&text, "gateway_worker_queue", &web)? > 0.0).then_some(text)
        },
    );
    assert_eq!(sample_value(&text, "gateway_worker_up", &web), Some(1.0));
    assert_absent(&text, "gateway_worker_down_info", &web);
    assert_eq!(
        sample_value(&text, "gateway_workers", &[("pool", "web"), ("state", "active")]),
        Some(4.0),
        "active = the limit"
    );
    assert_eq!(
        sample_value(&text, "gateway_workers_limit", &web),
        Some(4.0),
        "the limit is still known"
    );
}

#[test]
fn nginx_stub_status_with_limit_from_its_config() {
    let port = free_port();
    let nginx = Nginx::start(
        &format!(
            "server {{ listen 127.0.0.1:{port}; location = /nginx_status {{ stub_status; }} }}"
        ),
        port,
    );
    let exporter = Exporter::start(&format!(
        "workers:\n- {{kind: nginx, name: edge, address: 'http://127.0.0.1:{port}/nginx_status', listen: '127.0.0.1:{port}', config_file: '{}'}}\n",
        nginx.dir.path().join("nginx.conf").display()
    ));
    let edge = [("pool", "edge"), ("kind", "nginx")];
    // Right after start-up the harness's readiness connect may still sit in nginx's accept
    // queue or be closing; wait for the quiet state: our own request is not counted.
    let text = eventually(Duration::from_secs(3), "an idle nginx", || {
        let text = exporter.metrics();
        let active = sample_value(
            &text,
            "gateway_workers",
            &[("pool", "edge"), ("state", "active")],
        );
        let queue = sample_value(&text, "gateway_worker_queue", &edge);
        (active == Some(0.0) && queue == Some(0.0)).then_some(text)
    });
    assert_eq!(
        sample_value(&text, "gateway_worker_up", &edge),
        Some(1.0),
        "{text}"
    );
    // The harness runs 1 worker process with 256 connections.
    assert_eq!(
        sample_value(&text, "gateway_workers_limit", &edge),
        Some(256.0)
    );
    assert_eq!(
        sample_value(
            &text,
            "gateway_workers_limit_info",
            &[("pool", "edge"), ("source", "config_file")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample_value(&text, "gateway_worker_limit_reached_total", &edge),
        Some(0.0)
    );
    assert_eq!(
        sample_value(&text, "gateway_worker_queue", &edge),
        Some(0.0)
    );

    // A keep-alive connection is an idle one.
    let mut idle = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    std::io::Write::write_all(&mut idle, b"GET /nginx_status HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    eventually(Duration::from_secs(3), "one waiting connection", || {
        (sample_value(
            &exporter.metrics(),
            "gateway_workers",
            &[("pool", "edge"), ("state", "idle")],
        )? == 1.0)
            .then_some(())
    });
    promtool_check_metrics(&exporter.metrics()).unwrap();
}
