//! Why a pool or an upstream is down: a missing socket, a refused port, a socket we may not
//! open (the exporter runs as nobody against a real FPM pool's root-only socket), and status
//! pages that hang, are garbage, truncated, huge or refused. Each gives `up 0` with its
//! reason, the scrape stays bounded, nothing panics. Also the plain `socket` kind and the
//! maintenance flags.

mod common;
#[path = "common/servers.rs"]
mod servers;

use common::*;
use servers::*;
use std::time::{Duration, Instant};

#[test]
fn every_failure_has_its_reason() {
    let fpm = PhpFpm::start(
        &fpm_pool(
            "locked",
            "{dir}/locked.sock",
            "pm = static\npm.max_children = 1\npm.status_path = /status\nlisten.owner = root\nlisten.group = root\nlisten.mode = 0600",
        ),
        &["{dir}/locked.sock"],
    );
    let locked = fpm.path("locked.sock");
    let missing = fpm.path("missing.sock");
    let refused = free_port();
    let hang = FakeUpstream::start(Behaviour::Hang);
    let huge = FakeUpstream::start(Behaviour::Endless);
    let garbage = FakeUpstream::respond("200 OK", &[], "<html>it works</html>");
    let forbidden = FakeUpstream::respond("403 Forbidden", &[], "Access denied.\n");
    let truncated = FakeUpstream::respond(
        "200 OK",
        &["Content-Type: application/json"],
        r#"{"pool":"www","process manager":"dynamic","start ti"#,
    );
    let fine = FakeUpstream::respond("200 OK", &[], "ok");

    // A listener nobody accepts on: the `socket` kind reads its backlog from the kernel.
    let dir = fpm.dir.path();
    let app_sock = dir.join("app.sock");
    let app_listener = std::os::unix::net::UnixListener::bind(&app_sock).unwrap();
    let _waiting: Vec<_> = (0..3)
        .map(|_| std::os::unix::net::UnixStream::connect(&app_sock).unwrap())
        .collect();
    let flag = dir.join("maintenance.html");
    std::fs::write(&flag, "back soon").unwrap();
    let no_flag = dir.join(".maintenance");

    let exporter = UnprivilegedExporter::start(&format!(
        "workers:\n\
         - {{kind: phpfpm, name: locked, address: 'unix:{locked}'}}\n\
         - {{kind: phpfpm, name: missing, address: 'unix:{missing}'}}\n\
         - {{kind: phpfpm, name: refused, address: 'tcp://127.0.0.1:{refused}'}}\n\
         - {{kind: nginx, name: hang, address: 'http://127.0.0.1:{hang}/nginx_status', timeout: 500ms}}\n\
         - {{kind: nginx, name: huge, address: 'http://127.0.0.1:{huge}/nginx_status'}}\n\
         - {{kind: apache, name: garbage, address: 'http://127.0.0.1:{garbage}/server-status'}}\n\
         - {{kind: phpfpm, name: forbidden, address: 'http://127.0.0.1:{forbidden}/status'}}\n\
         - {{kind: phpfpm, name: truncated, address: 'http://127.0.0.1:{truncated}/status'}}\n\
         - {{kind: uwsgi, name: uwsgi-garbage, address: 'http://127.0.0.1:{garbage}/'}}\n\
         - {{kind: socket, name: app, address: '{app}', limit: 8}}\n\
         - {{kind: socket, name: gone, address: '{missing}'}}\n\
         upstreams:\n\
         - {{address: '{locked}', name: locked}}\n\
         - {{address: '{missing}', name: missing}}\n\
         - {{address: '127.0.0.1:{refused}', name: refused}}\n\
         - {{address: '127.0.0.1:{fine}', name: fine}}\n\
         maintenance_files: ['{flag}', '{no_flag}']\n",
        hang = hang.port,
        huge = huge.port,
        garbage = garbage.port,
        forbidden = forbidden.port,
        truncated = truncated.port,
        fine = fine.port,
        app = app_sock.display(),
        flag = flag.display(),
        no_flag = no_flag.display(),
    ));
    let started = Instant::now();
    let text = exporter.metrics();
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "a scrape with hanging pages took {took:?}"
    );

    let table = [
        ("locked", "socket_permission"),
        ("missing", "socket_missing"),
        ("refused", "connect_refused"),
        ("hang", "timeout"),
        ("huge", "invalid_response"),
        ("garbage", "invalid_response"),
        ("forbidden", "access_denied"),
        ("truncated", "invalid_response"),
        ("uwsgi-garbage", "invalid_response"),
        ("gone", "socket_missing"),
    ];
    for (pool, reason) in table {
        assert_eq!(
            sample_value(&text, "gateway_worker_up", &[("pool", pool)]),
            Some(0.0),
            "{pool}: {text}"
        );
        assert_eq!(
            sample_value(
                &text,
                "gateway_worker_down_info",
                &[("pool", pool), ("reason", reason)]
            ),
            Some(1.0),
            "{pool} should be down for {reason}: {}",
            text.lines()
                .filter(|l| l.contains(&format!("pool=\"{pool}\"")))
                .collect::<Vec<_>>()
                .join("\n")
        );
        let reasons = text
            .lines()
            .filter(|l| {
                l.starts_with("gateway_worker_down_info{")
                    && l.contains(&format!("pool=\"{pool}\""))
            })
            .count();
        assert_eq!(reasons, 1, "{pool}: one reason at a time");
    }
    let hang_took = sample_value(
        &text,
        "gateway_worker_status_duration_seconds",
        &[("pool", "hang")],
    )
    .unwrap();
    assert!(
        (0.45..1.0).contains(&hang_took),
        "a hanging page costs its timeout: {hang_took}"
    );

    let app = [("pool", "app"), ("kind", "socket")];
    assert_eq!(sample_value(&text, "gateway_worker_up", &app), Some(1.0));
    assert_eq!(
        sample_value(&text, "gateway_worker_queue", &app),
        Some(3.0),
        "{text}"
    );
    assert!(sample_value(&text, "gateway_worker_queue_limit", &app).unwrap() > 0.0);
    // A socket has no status page.
    assert_absent(&text, "gateway_worker_status_duration_seconds", &app);
    assert_eq!(
        sample_value(&text, "gateway_workers_limit", &app),
        Some(8.0)
    );
    assert_eq!(
        sample_value(
            &text,
            "gateway_workers_limit_info",
            &[("pool", "app"), ("source", "exporter_config")]
        ),
        Some(1.0)
    );

    for (upstream, reason) in [
        ("locked", "socket_permission"),
        ("missing", "socket_missing"),
        ("refused", "connect_refused"),
    ] {
        assert_eq!(
            sample_value(&text, "gateway_upstream_up", &[("upstream", upstream)]),
            Some(0.0)
        );
        assert_eq!(
            sample_value(
                &text,
                "gateway_upstream_down_info",
                &[("upstream", upstream), ("reason", reason)]
            ),
            Some(1.0),
            "{upstream}"
        );
    }
    assert_eq!(
        sample_value(&text, "gateway_upstream_up", &[("upstream", "fine")]),
        Some(1.0)
    );
    assert_absent(&text, "gateway_upstream_down_info", &[("upstream", "fine")]);

    assert_eq!(
        sample_value(
            &text,
            "gateway_maintenance_mode",
            &[("path", &flag.display().to_string())]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample_value(
            &text,
            "gateway_maintenance_mode",
            &[("path", &no_flag.display().to_string())]
        ),
        Some(0.0)
    );
    promtool_check_metrics(&text).unwrap();

    // The flag removed and the socket gone: the next scrape says so.
    std::fs::remove_file(&flag).unwrap();
    drop(app_listener);
    std::fs::remove_file(&app_sock).unwrap();
    let text = exporter.metrics();
    assert_eq!(
        sample_value(
            &text,
            "gateway_maintenance_mode",
            &[("path", &flag.display().to_string())]
        ),
        Some(0.0)
    );
    assert_eq!(
        sample_value(
            &text,
            "gateway_worker_down_info",
            &[("pool", "app"), ("reason", "socket_missing")]
        ),
        Some(1.0),
        "{text}"
    );
    // No stale queue for a socket that is gone.
    assert_absent(&text, "gateway_worker_queue", &app);
}
