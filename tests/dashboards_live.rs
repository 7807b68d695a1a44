//! The probes dashboard against the real exporter: it probes a public address that answers
//! 502 like Cloudflare and an origin that answers 200, Debian's Prometheus scrapes it every
//! second, and every probe query of the dashboard must return data. This catches label names
//! and values the docs promise but the exporter does not emit.

mod common;
#[path = "common/dashboards.rs"]
mod dashboards;
#[path = "common/prometheus.rs"]
mod prometheus;

use common::{Exporter, FakeUpstream, eventually};
use dashboards::{load_all, queries, substitute};
use prometheus::Prometheus;
use std::time::Duration;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn probes_dashboard_shows_a_cdn_502_scraped_from_the_exporter() {
    let public = FakeUpstream::respond(
        "502 Bad Gateway",
        &[
            "Server: cloudflare",
            "CF-RAY: 8a1b2c3d4e5f6a7b-AMS",
            "Content-Type: text/html",
        ],
        "<html><head><title>502 Bad Gateway</title></head><body><center>cloudflare</center></body></html>",
    );
    let origin = FakeUpstream::respond("200 OK", &["Content-Type: text/plain"], "ok");
    let exporter = Exporter::start(&format!(
        "probes:\n  - name: shop\n    url: http://127.0.0.1:{}/\n    origin: 127.0.0.1:{}\n    interval: 1s\n    timeout: 1s\n",
        public.port, origin.port
    ));
    let prom = Prometheus::scraping(&format!("127.0.0.1:{}", exporter.port));
    // Rates need a few scrapes of a failing probe.
    eventually(
        Duration::from_secs(30),
        "five scrapes of a failing probe",
        || {
            let r = prom
                .query_at(
                    r#"count_over_time(gateway_probe_failures_total{path="public"}[1m]) >= 5"#,
                    now(),
                )
                .ok()?;
            (!r.is_empty()).then_some(())
        },
    );
    let end = now();
    let d = load_all()
        .into_iter()
        .find(|d| d.file == "gateway-probes.json")
        .expect("gateway-probes.json");
    let mut problems = Vec::new();
    let mut with_data = 0;
    for q in queries(&d) {
        let expr = substitute(&q.expr);
        let result = if q.instant {
            prom.query_at(&expr, end)
        } else {
            prom.query_range(&expr, end - 60, end, 5)
        };
        // Alerts and server events come from rules and logs, not from this scenario: they must parse.
        let needs_data = !expr.contains("ALERTS") && !expr.contains("gateway_server_events_total");
        match result {
            Err(e) => problems.push(format!("{}: {e}\n    {expr}", q.origin)),
            Ok(r) if r.is_empty() && needs_data => {
                problems.push(format!("{}: no data\n    {expr}", q.origin))
            }
            Ok(_) => with_data += usize::from(needs_data),
        }
    }
    assert!(
        problems.is_empty(),
        "{} queries failed on the real exporter:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(with_data >= 8, "only {with_data} probe queries checked");
    // The failing-now table names the failing path with a reason, not the healthy origin.
    let failing = prom
        .query_at("gateway_probe_failure_info == 1", end)
        .unwrap();
    assert!(!failing.is_empty());
    for row in &failing {
        assert_eq!(row["metric"]["path"], "public", "{row}");
        assert_eq!(row["metric"]["code"], "502", "{row}");
    }
}
