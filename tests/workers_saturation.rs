//! A full PHP-FPM pool is not a dead pool: a static pool of 2 children behind a real nginx,
//! 6 slow requests. With `pm.status_listen` the status is read through the listener; without
//! one the status request times out while the kernel shows 4 requests queued, and the pool
//! reads up and saturated (inferred). The pool's file is found from the entry's
//! `config_file`, or, without one, from the running FPM master's own config.

mod common;
#[path = "common/servers.rs"]
mod servers;

use common::*;
use servers::*;
use std::time::Duration;

const SLOW_REQUESTS: usize = 6;
const CHILDREN: f64 = 2.0;

#[test]
fn a_full_pool_reads_up_and_saturated_with_and_without_a_status_listener() {
    // `listened` has a status listener; `plain` has only its status path, like a pool whose
    // status the web server exposes. The pool files are included, as Debian lays them out.
    let pools = "include = {dir}/pool.d/*.conf\n";
    let dir = open_dir();
    let pool_d = dir.path().join("pool.d");
    std::fs::create_dir(&pool_d).unwrap();
    let d = dir.path().display().to_string();
    let static_two = "pm = static\npm.max_children = 2\npm.status_path = /status";
    std::fs::write(
        pool_d.join("listened.conf"),
        fpm_pool(
            "listened",
            &format!("{d}/listened.sock"),
            &format!("{static_two}\npm.status_listen = {d}/listened-status.sock"),
        ),
    )
    .unwrap();
    std::fs::write(
        pool_d.join("plain.conf"),
        fpm_pool("plain", &format!("{d}/plain.sock"), static_two),
    )
    .unwrap();
    let fpm = PhpFpm::start(
        &pools.replace("{dir}", &d),
        &[
            &format!("{d}/listened.sock"),
            &format!("{d}/listened-status.sock"),
            &format!("{d}/plain.sock"),
        ],
    );
    let script = fpm.path("sleep.php");
    let port = free_port();
    let location = |pool: &str| {
        format!(
            "location = /{pool}.php {{ fastcgi_pass unix:{d}/{pool}.sock; fastcgi_param REQUEST_METHOD $request_method; \
             fastcgi_param QUERY_STRING $query_string; fastcgi_param SCRIPT_FILENAME {script}; fastcgi_param SCRIPT_NAME /sleep.php; }}\n"
        )
    };
    let nginx = Nginx::start(
        &format!(
            "server {{ listen 127.0.0.1:{port};\n{}{}}}",
            location("listened"),
            location("plain")
        ),
        port,
    );
    for pool in ["listened", "plain"] {
        let reply = get(port, &format!("/{pool}.php?s=0"));
        assert_eq!(reply.status, 200, "{}", nginx.error_log_text());
    }

    let pool_file = |name: &str| format!("{}/{name}.conf", pool_d.display());
    // One exporter per pool: a status request queued behind a full pool's children must not
    // share a scrape with another pool's.
    let listened = Exporter::start(&format!(
        "workers:\n\
         - {{kind: phpfpm, name: listened-file, address: 'unix:{d}/listened.sock', config_file: '{}'}}\n\
         - {{kind: phpfpm, name: listened-master, address: 'unix:{d}/listened.sock'}}\n",
        pool_file("listened")
    ));
    let plain = Exporter::start(&format!(
        "workers:\n\
         - {{kind: phpfpm, name: plain-file, address: 'unix:{d}/plain.sock', config_file: '{}', timeout: 1s}}\n\
         - {{kind: phpfpm, name: plain-master, address: 'unix:{d}/plain.sock', timeout: 1s}}\n",
        pool_file("plain")
    ));
    // Only the kernel's view (no status request of its own): to know when the 6 are in.
    let backlog = Exporter::start(&format!(
        "workers:\n\
         - {{kind: socket, name: listened, address: 'unix:{d}/listened.sock'}}\n\
         - {{kind: socket, name: plain, address: 'unix:{d}/plain.sock'}}\n"
    ));

    // Idle first: both read from a status page, nothing inferred.
    let text = listened.metrics();
    let idle = plain.metrics();
    for (text, pool) in [
        (&text, "listened-file"),
        (&text, "listened-master"),
        (&idle, "plain-file"),
        (&idle, "plain-master"),
    ] {
        let l = [("pool", pool)];
        assert_eq!(
            sample_value(text, "gateway_worker_up", &l),
            Some(1.0),
            "{pool}: {text}"
        );
        assert_eq!(
            sample_value(text, "gateway_workers_inferred", &l),
            Some(0.0),
            "{pool}"
        );
        assert_eq!(
            sample_value(
                text,
                "gateway_workers",
                &[("pool", pool), ("state", "active")]
            ),
            Some(0.0),
            "{pool}"
        );
        assert_eq!(
            sample_value(text, "gateway_workers_limit", &l),
            Some(CHILDREN),
            "{pool}: {text}"
        );
    }

    let _clients = [
        fire_requests(port, "/listened.php?s=6", SLOW_REQUESTS),
        fire_requests(port, "/plain.php?s=6", SLOW_REQUESTS),
    ];
    eventually(
        Duration::from_secs(5),
        "4 requests queued on each pool",
        || {
            let text = backlog.metrics();
            let queued = |pool| sample_value(&text, "gateway_worker_queue", &[("pool", pool)]);
            (queued("listened") == Some(4.0) && queued("plain") == Some(4.0)).then_some(())
        },
    );

    let through_listener = listened.metrics();
    let timed_out = plain.metrics();
    for (text, pool, inferred) in [
        (&through_listener, "listened-file", 0.0),
        (&through_listener, "listened-master", 0.0),
        (&timed_out, "plain-file", 1.0),
        (&timed_out, "plain-master", 1.0),
    ] {
        let l = [("pool", pool), ("kind", "phpfpm")];
        let at =
            |name: &str, extra: (&str, &str)| sample_value(text, name, &[("pool", pool), extra]);
        assert_eq!(
            sample_value(text, "gateway_worker_up", &l),
            Some(1.0),
            "{pool}: {text}"
        );
        assert_eq!(
            sample_value(text, "gateway_worker_down_info", &l),
            None,
            "{pool}: a full pool has no down reason"
        );
        assert_eq!(
            at("gateway_workers", ("state", "active")),
            Some(CHILDREN),
            "{pool}: {text}"
        );
        assert_eq!(
            at("gateway_workers", ("state", "idle")),
            Some(0.0),
            "{pool}"
        );
        assert_eq!(
            sample_value(text, "gateway_worker_queue", &l),
            Some(4.0),
            "{pool}"
        );
        assert_eq!(
            sample_value(text, "gateway_workers_limit", &l),
            Some(CHILDREN),
            "{pool}"
        );
        assert_eq!(
            at("gateway_workers_limit_info", ("source", "config_file")),
            Some(1.0),
            "{pool}"
        );
        assert_eq!(
            sample_value(text, "gateway_workers_inferred", &l),
            Some(inferred),
            "{pool}"
        );
        let took = sample_value(text, "gateway_worker_status_duration_seconds", &l).unwrap();
        if inferred == 1.0 {
            assert!(
                took >= 1.0,
                "{pool}: the status request waited out its 1s timeout ({took}s)"
            );
        } else {
            assert!(
                took < 0.5,
                "{pool}: the status listener answers a full pool ({took}s)"
            );
        }
    }
    promtool_check_metrics(&timed_out).unwrap();
}

/// What the inference must not swallow: a pool whose status times out with nothing queued is
/// still down (`timeout`), and a socket nobody listens on is down, not saturated.
#[test]
fn a_stuck_status_with_an_empty_queue_is_still_down() {
    let dir = open_dir();
    let sock = dir.path().join("stuck.sock");
    // Accepts (the kernel completes the connection), never answers: the queue is drained.
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let accepted = std::thread::spawn(move || {
        let held: Vec<_> = listener.incoming().take(1).flatten().collect();
        std::thread::sleep(Duration::from_secs(3));
        drop(held);
    });
    let missing = dir.path().join("missing.sock");
    let exporter = Exporter::start(&format!(
        "workers:\n\
         - {{kind: phpfpm, name: stuck, address: 'unix:{}', limit: 2, timeout: 500ms}}\n\
         - {{kind: phpfpm, name: gone, address: 'unix:{}', limit: 2}}\n",
        sock.display(),
        missing.display()
    ));
    let text = exporter.metrics();
    for (pool, reason) in [("stuck", "timeout"), ("gone", "socket_missing")] {
        let l = [("pool", pool)];
        assert_eq!(
            sample_value(&text, "gateway_worker_up", &l),
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
            "{pool}: {text}"
        );
        assert_eq!(sample_value(&text, "gateway_workers", &l), None, "{pool}");
        assert_eq!(
            sample_value(&text, "gateway_workers_inferred", &l),
            None,
            "{pool}"
        );
    }
    accepted.join().unwrap();
}
