//! End to end: a real Prometheus evaluates the shipped rules (a copy with every `for:` set to
//! 0s) and sends to a real Alertmanager running the shipped routes and inhibit rules, which
//! delivers to a local webhook. One incident must page once, for its root cause.

mod common;
#[path = "common/prometheus.rs"]
mod prometheus;

use common::{Exporter, Nginx, free_port, get};
use prometheus::{
    Alertmanager, Prometheus, RULE_FILE, RUNBOOK_BASE, Webhook, alertmanager_config, load_yaml,
    repo_path,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// The shipped rules with every `for:` at 0s and every group at Prometheus's own 1s interval
/// (no slower groups), written as JSON (which is YAML) into `dir`.
fn fast_rules(dir: &std::path::Path) -> PathBuf {
    let mut doc = load_yaml(&repo_path(RULE_FILE));
    for group in doc["groups"].as_array_mut().unwrap() {
        group.as_object_mut().unwrap().remove("interval");
        for rule in group["rules"].as_array_mut().unwrap() {
            if rule.get("for").is_some() {
                rule["for"] = Value::from("0s");
            }
        }
    }
    let path = dir.join("rules.json");
    std::fs::write(&path, doc.to_string()).unwrap();
    path
}

/// A real Alertmanager (shipped routes and inhibitions, delivering to a webhook) and a real
/// Prometheus (the fast copy of the rules) scraping the exporter on `port`.
struct Alerting {
    prom: Prometheus,
    am: Alertmanager,
    webhook: Webhook,
    _rules: tempfile::TempDir,
}

impl Alerting {
    fn start(port: u16) -> Alerting {
        let webhook = Webhook::start();
        let am = Alertmanager::start(&alertmanager_config(&webhook));
        let rules = common::tempdir();
        let prom = Prometheus::start(
            &[("gateway", format!("127.0.0.1:{port}"))],
            &[fast_rules(rules.path())],
            Some(am.port),
        );
        Alerting {
            prom,
            am,
            webhook,
            _rules: rules,
        }
    }
}

/// Alert names in the notifications delivered to `receiver` (any receiver when None).
fn notified(webhook: &Webhook, receiver: Option<&str>) -> BTreeSet<String> {
    webhook
        .received()
        .iter()
        .filter(|n| receiver.is_none_or(|r| n["receiver"] == r))
        .flat_map(|n| n["alerts"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["labels"]["alertname"].as_str().map(str::to_string))
        .collect()
}

/// Waits until Prometheus fires every one of `expect_firing`, Alertmanager has paged
/// `expect_paged`, and holds every name of `expect_inhibited` as inhibited; then checks that
/// nothing else paged and that no inhibited alert reached any receiver.
fn assert_pages_once(
    prom: &Prometheus,
    am: &Alertmanager,
    webhook: &Webhook,
    expect_paged: &[&str],
    expect_inhibited: &[&str],
    mut keep_failing: impl FnMut(),
) {
    let paged: BTreeSet<String> = expect_paged.iter().map(|s| s.to_string()).collect();
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        keep_failing();
        let firing = prom.firing();
        let inhibited: BTreeSet<String> = am
            .alerts()
            .iter()
            .filter(|a| {
                a["status"]["inhibitedBy"]
                    .as_array()
                    .is_some_and(|v| !v.is_empty())
            })
            .filter_map(|a| a["labels"]["alertname"].as_str().map(str::to_string))
            .collect();
        let pages = notified(webhook, Some("pager"));
        assert!(
            pages.is_subset(&paged),
            "paged {pages:?}, expected only {paged:?}: {:#?}",
            webhook.received()
        );
        let all_fire = expect_paged
            .iter()
            .chain(expect_inhibited)
            .all(|n| firing.iter().any(|f| f == n));
        if all_fire && expect_inhibited.iter().all(|n| inhibited.contains(*n)) && pages == paged {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after 45s: firing in Prometheus {firing:?}, inhibited in Alertmanager {inhibited:?}, paged {pages:?}; \
             expected paged {paged:?} and inhibited {expect_inhibited:?}"
        );
        thread::sleep(Duration::from_millis(250));
    }
    // Past another group_wait: still nothing else, and no symptom notified anywhere.
    let settle = Instant::now() + Duration::from_secs(5);
    while Instant::now() < settle {
        keep_failing();
        thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(
        notified(webhook, Some("pager")),
        paged,
        "pages: {:#?}",
        webhook.received()
    );
    let all = notified(webhook, None);
    for name in expect_inhibited {
        assert!(
            !all.contains(*name),
            "{name} was notified although inhibited: {:#?}",
            webhook.received()
        );
    }
    // Each page carries its runbook link.
    for n in webhook
        .received()
        .iter()
        .filter(|n| n["receiver"] == "pager")
    {
        for a in n["alerts"].as_array().unwrap() {
            let name = a["labels"]["alertname"].as_str().unwrap();
            assert_eq!(
                a["annotations"]["runbook_url"],
                format!("{RUNBOOK_BASE}{name}.md"),
                "{a}"
            );
        }
    }
}

/// A fixed exposition whose counters grow 5 per second: the rules and Alertmanager
/// plumbing without depending on the exporter's sources.
struct Exposition {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Exposition {
    fn start(template: &'static str) -> Exposition {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let started = Instant::now();
        thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                let Ok((mut conn, _)) = listener.accept() else {
                    thread::sleep(Duration::from_millis(10));
                    continue;
                };
                conn.set_nonblocking(false).ok();
                conn.set_read_timeout(Some(Duration::from_secs(2))).ok();
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                let body = template.replace(
                    "COUNT",
                    &(started.elapsed().as_secs_f64() * 5.0).floor().to_string(),
                );
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes());
                let _ = conn.write_all(body.as_bytes());
            }
        });
        Exposition { port, stop }
    }
}

impl Drop for Exposition {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Three incidents at once, as series: an upstream refusing connections (its log errors and
/// the vhost's 502s are symptoms), a saturated pool (the timeouts of the upstream it listens
/// on are symptoms) and a maintenance flag mapped to the probed site (its 503 is expected and
/// never becomes an alert). Two pages, no symptom notified, the info alert only in the
/// blackhole.
#[test]
fn each_incident_pages_once_for_its_root_cause() {
    const SERIES: &str = "\
gateway_upstream_up{upstream=\"127.0.0.1:8080\"} 0
gateway_upstream_down_info{upstream=\"127.0.0.1:8080\",reason=\"connect_refused\"} 1
gateway_upstream_errors_total{log=\"error\",vhost=\"shop.test\",upstream=\"127.0.0.1:8080\",cause=\"connect_refused\"} COUNT
gateway_http_responses_total{log=\"access\",vhost=\"shop.test\",status=\"502\"} COUNT
gateway_http_requests_total{log=\"access\",vhost=\"shop.test\"} COUNT
gateway_workers{pool=\"www\",kind=\"phpfpm\",state=\"active\"} 20
gateway_workers{pool=\"www\",kind=\"phpfpm\",state=\"idle\"} 0
gateway_workers_limit{pool=\"www\",kind=\"phpfpm\"} 20
gateway_worker_info{pool=\"www\",kind=\"phpfpm\",upstream=\"unix:/run/php/www.sock\"} 1
gateway_upstream_errors_total{log=\"error\",vhost=\"blog.test\",upstream=\"unix:/run/php/www.sock\",cause=\"timeout\"} COUNT
gateway_maintenance_mode{path=\"/srv/docs/.maintenance\"} 1
gateway_maintenance_info{path=\"/srv/docs/.maintenance\",vhost=\"docs.test\",target=\"docs\"} 1
gateway_probe_info{target=\"docs\",url=\"http://docs.test/\",origin=\"\"} 1
gateway_probe_success{target=\"docs\",path=\"public\"} 0
gateway_probe_failure_info{target=\"docs\",path=\"public\",reason=\"http_status\",layer=\"proxy\",vendor=\"nginx\",code=\"503\"} 1
";
    let exposition = Exposition::start(SERIES);
    let Alerting {
        prom,
        am,
        webhook,
        _rules,
    } = Alerting::start(exposition.port);
    assert_pages_once(
        &prom,
        &am,
        &webhook,
        &["GatewayUpstreamDown", "GatewayWorkerPoolSaturated"],
        &[
            "GatewayUpstreamConnectionRefused",
            "GatewayVhost5xxBurnRateFast",
            "GatewayUpstreamTimeout",
        ],
        || {},
    );
    assert!(
        prom.firing()
            .contains(&"GatewayMaintenanceMode".to_string())
    );
    assert!(!prom.firing().contains(&"GatewayProbe5xx".to_string()));
    // The test config wires the blackhole to the webhook, so this can fail: the info alert
    // reaches it and nothing else does.
    eventually_notified(&webhook, "blackhole", "GatewayMaintenanceMode");
    assert_eq!(
        notified(&webhook, Some("blackhole")),
        BTreeSet::from(["GatewayMaintenanceMode".to_string()])
    );
}

/// The real exporter follows a real nginx that proxies to a closed port and checks the same
/// port in `upstreams:`: the refused upstream pages once, with its runbook link, and the
/// refused-connection and 5xx-ratio alerts of the same upstream and vhost do not page.
#[test]
fn a_refused_upstream_pages_once_with_its_runbook() {
    let closed = free_port();
    let port = free_port();
    let log_format = r#"$remote_addr [$time_local] "$request" $status $server_name ua="$upstream_addr" us="$upstream_status" urt="$upstream_response_time""#;
    let nginx = Nginx::start(
        &format!(
            "log_format gw '{log_format}';\n\
             server {{ listen 127.0.0.1:{port}; server_name shop.test; access_log {{dir}}/gw.log gw;\n\
               location / {{ proxy_pass http://127.0.0.1:{closed}; }} }}"
        ),
        port,
    );
    let access_log = nginx.dir.path().join("gw.log");
    let config = format!(
        "upstreams:\n  - address: \"127.0.0.1:{closed}\"\n\
         logs:\n  - path: {err}\n    format: nginx_error\n    name: error\n\
         \x20 - path: {acc}\n    format: nginx_access\n    name: access\n    log_format: '{log_format}'\n",
        err = nginx.error_log.display(),
        acc = access_log.display(),
    );
    let exporter = Exporter::start(&config);
    let Alerting {
        prom,
        am,
        webhook,
        _rules,
    } = Alerting::start(exporter.port);
    assert_pages_once(
        &prom,
        &am,
        &webhook,
        &["GatewayUpstreamDown"],
        &[
            "GatewayUpstreamConnectionRefused",
            "GatewayVhost5xxBurnRateFast",
        ],
        || {
            for _ in 0..5 {
                assert_eq!(get(port, "/").status, 502);
            }
        },
    );
    drop(nginx);
}

/// The same setup with a healthy upstream and steady traffic: with every `for:` at 0s,
/// nothing fires (no division by zero, no alert on nginx's own start-up lines).
#[test]
fn a_healthy_host_fires_nothing() {
    let app = common::FakeUpstream::respond("200 OK", &[], "hello");
    let port = free_port();
    let log_format = r#"$remote_addr [$time_local] "$request" $status $server_name ua="$upstream_addr" us="$upstream_status" urt="$upstream_response_time""#;
    let nginx = Nginx::start(
        &format!(
            "log_format gw '{log_format}';\n\
             server {{ listen 127.0.0.1:{port}; server_name shop.test; access_log {{dir}}/gw.log gw;\n\
               location / {{ proxy_pass http://127.0.0.1:{app}; }} }}",
            app = app.port
        ),
        port,
    );
    let config = format!(
        "upstreams:\n  - address: \"127.0.0.1:{app}\"\n\
         logs:\n  - path: {err}\n    format: nginx_error\n    name: error\n\
         \x20 - path: {acc}\n    format: nginx_access\n    name: access\n    log_format: '{log_format}'\n    proxy_read_timeout: 60s\n",
        app = app.port,
        err = nginx.error_log.display(),
        acc = nginx.dir.path().join("gw.log").display(),
    );
    let exporter = Exporter::start(&config);
    let dir = common::tempdir();
    let rules = fast_rules(dir.path());
    let prom = Prometheus::start(
        &[("gateway", format!("127.0.0.1:{}", exporter.port))],
        &[rules],
        None,
    );
    let until = Instant::now() + Duration::from_secs(15);
    while Instant::now() < until {
        for _ in 0..5 {
            assert_eq!(get(port, "/").status, 200);
        }
        // Nothing but the always-firing Watchdog.
        let firing: Vec<String> = prom
            .firing()
            .into_iter()
            .filter(|a| a != "GatewayWatchdog")
            .collect();
        assert_eq!(firing, Vec::<String>::new(), "alerts on a healthy host");
        thread::sleep(Duration::from_millis(300));
    }
    // The rules really saw the exporter's series.
    assert!(
        !prom
            .query("job_vhost:gateway_http_responses:rate5m{vhost=\"shop.test\"} > 0")
            .is_empty()
    );
    assert!(!prom.query("gateway_upstream_up == 1").is_empty());
    for group in prom.rule_groups() {
        for rule in group["rules"].as_array().unwrap() {
            assert_eq!(rule["health"], "ok", "{rule}");
        }
    }
}

/// A real probe of a real nginx that serves 503 while a maintenance flag file mapped to the
/// probed site exists: the rules leave that 503 out, so nothing pages for it. A second site
/// on the same host answers 503 without a flag: that separate incident still pages.
#[test]
fn maintenance_silences_the_503_it_serves_and_only_that() {
    let port = free_port();
    let nginx = Nginx::start(
        &format!(
            "server {{ listen 127.0.0.1:{port}; server_name shop.test;\n\
               location /shop {{ if (-f {{dir}}/maintenance.flag) {{ return 503; }} return 200 ok; }}\n\
               location /blog {{ return 503; }} }}"
        ),
        port,
    );
    let flag = nginx.dir.path().join("maintenance.flag");
    std::fs::write(&flag, "deploy").unwrap();
    assert_eq!(get(port, "/shop").status, 503);
    let config = format!(
        "probes:\n  - {{name: shop, url: 'http://127.0.0.1:{port}/shop', vhost: shop.test, interval: 1s, timeout: 1s}}\n\
         \x20 - {{name: blog, url: 'http://127.0.0.1:{port}/blog', vhost: blog.test, interval: 1s, timeout: 1s}}\n\
         maintenance_files:\n  - {{path: '{flag}', vhost: shop.test, target: shop}}\n",
        flag = flag.display()
    );
    let exporter = Exporter::start(&config);
    let Alerting {
        prom,
        am,
        webhook,
        _rules,
    } = Alerting::start(exporter.port);
    // Every `for:` is 0s here: had the flag not explained shop's 503, its probe alert would
    // fire with blog's.
    assert_pages_once(&prom, &am, &webhook, &["GatewayProbe5xx"], &[], || {});
    eventually_notified(&webhook, "blackhole", "GatewayMaintenanceMode");
    let pages: Vec<String> = webhook
        .received()
        .iter()
        .filter(|n| n["receiver"] == "pager")
        .flat_map(|n| n["alerts"].as_array().cloned().unwrap_or_default())
        .map(|a| a["labels"]["target"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        !pages.is_empty() && pages.iter().all(|t| t == "blog"),
        "pages for targets {pages:?}: {:#?}",
        webhook.received()
    );
    assert!(
        prom.query("ALERTS{alertname=\"GatewayProbe5xx\",target=\"shop\"}")
            .is_empty()
    );
}

/// Waits (at most 30s) until `receiver` got a notification for `alert`.
fn eventually_notified(webhook: &Webhook, receiver: &str, alert: &str) {
    common::eventually(Duration::from_secs(30), "notification", || {
        notified(webhook, Some(receiver))
            .contains(alert)
            .then_some(())
    });
}
