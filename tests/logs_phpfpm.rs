//! PHP-FPM's own log from a real FPM behind a real nginx: saturation warnings, reloads,
//! restarts and shutdown become `gateway_server_events_total`.

mod common;
#[path = "common/servers.rs"]
mod servers;

use common::*;
use servers::{PhpFpm, fpm_pool, one_shot};
use std::time::Duration;

#[test]
fn fpm_pool_events() {
    let fpm_port = free_port();
    let fpm = PhpFpm::start(
        &fpm_pool(
            "www",
            &format!("127.0.0.1:{fpm_port}"),
            "pm = dynamic\npm.max_children = 1\npm.start_servers = 1\npm.min_spare_servers = 1\npm.max_spare_servers = 1",
        ),
        &[&format!("127.0.0.1:{fpm_port}")],
    );
    let www = fpm.dir.path().join("sleep.php");
    std::fs::write(&www, "<?php usleep(1500000); echo 'ok';").unwrap();
    let port = free_port();
    let nginx = Nginx::start(
        &format!(
            "server {{ listen 127.0.0.1:{port}; location / {{ fastcgi_pass 127.0.0.1:{fpm}; fastcgi_read_timeout 10s; \
             fastcgi_param SCRIPT_FILENAME {www}; fastcgi_param REQUEST_METHOD GET; }} }}",
            fpm = fpm_port,
            www = www.display()
        ),
        port,
    );
    // Three at once against one child: FPM warns that the pool is full.
    let clients: Vec<_> = (0..3)
        .map(|_| std::thread::spawn(move || get(port, "/").status))
        .collect();
    let statuses: Vec<u16> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    eventually(Duration::from_secs(5), "max_children warning", || {
        fpm.log_text().contains("max_children").then_some(())
    });
    fpm.signal(libc::SIGUSR2); // graceful reload
    eventually(Duration::from_secs(10), "reloaded", || {
        (fpm.log_text()
            .matches("ready to handle connections")
            .count()
            >= 2)
            .then_some(())
    });
    fpm.signal(libc::SIGQUIT);
    eventually(Duration::from_secs(10), "stopped", || {
        fpm.log_text().contains("exiting, bye-bye").then_some(())
    });
    let text = one_shot(&format!(
        "logs:\n  - {{path: {}, format: phpfpm, name: fpm}}\n",
        fpm.log.display()
    ));
    let log = fpm.log_text();
    let event = |e: &str| {
        sum(
            &text,
            "gateway_server_events_total",
            &[("log", "fpm"), ("event", e)],
        )
    };
    let ctx = format!("statuses {statuses:?}\n{log}\n{}", nginx.error_log_text());
    assert!(event("max_children_reached") >= 1.0, "{ctx}");
    assert_eq!(
        event("max_children_reached") as usize,
        log.matches("max_children setting").count(),
        "{ctx}"
    );
    assert_eq!(event("reload"), 1.0, "{ctx}");
    assert_eq!(event("restart"), 2.0, "{ctx}");
    assert_eq!(event("pool_restart"), 2.0, "{ctx}");
    assert_eq!(event("shutdown"), 1.0, "{ctx}");
    assert_eq!(
        sample_value(
            &text,
            "gateway_log_lines_unrecognised_total",
            &[("log", "fpm")]
        ),
        Some(0.0),
        "{ctx}"
    );
}
