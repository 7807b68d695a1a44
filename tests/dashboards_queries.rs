//! Every dashboard query (panels, annotations, variables) runs against a real Prometheus
//! holding a failure scenario backfilled from OpenMetrics: it must parse and return data.
//! The scenario covers every metric of docs/metrics.md, so a dashboard query that returns
//! nothing uses a name, label or value the exporter does not produce.

mod common;
#[path = "common/dashboards.rs"]
mod dashboards;
#[path = "common/prometheus.rs"]
mod prometheus;

use dashboards::{MetricDoc, documented_metrics, load_all, queries, substitute};
use prometheus::Prometheus;
use std::fmt::Write;

const STEP: i64 = 15;
const SPAN: i64 = 2 * 3600;

/// Label values of the scenario: shop's public path fails at the CDN with a 502 while its
/// origin answers, nginx logs refused and timed-out upstream tries, the PHP-FPM pool is at
/// 90% of its limit with a queue, and the web server was reloaded.
fn label_values(metric: &str, label: &str) -> Vec<&'static str> {
    match (metric, label) {
        ("gateway_maintenance_mode", "path") => vec!["/srv/www/maintenance.flag"],
        (m, "reason") if m.starts_with("gateway_log_") => vec!["permission"],
        (m, "reason") if m.starts_with("gateway_probe_") => vec!["http_status"],
        (_, "reason") => vec!["connect_refused"],
        (_, "target") => vec!["shop", "api"],
        (_, "path") => vec!["public", "origin"],
        (_, "phase") => vec!["resolve", "connect", "tls", "processing", "transfer"],
        ("gateway_probe_responses_total", "code") => vec!["200", "502"],
        (_, "code") => vec!["502"],
        (_, "layer") => vec!["cdn"],
        (_, "vendor") => vec!["cloudflare"],
        (_, "url") => vec!["https://shop.example.com/"],
        (_, "origin") => vec!["10.0.0.7:443"],
        (_, "address") => vec!["127.0.0.1:9000"],
        (_, "group") => vec!["backend"],
        (_, "log") => vec!["nginx"],
        (_, "vhost") => vec!["shop.example.com"],
        (_, "upstream") => vec!["127.0.0.1:9000", "unix:/run/php/php8.2-fpm.sock"],
        (_, "cause") => vec!["connect_refused", "timeout"],
        (_, "status") => vec!["200", "502", "504"],
        (_, "event") => vec!["reload", "max_children_reached"],
        (_, "label") => vec!["vhost"],
        (_, "pool") => vec!["www"],
        (_, "kind") => vec!["phpfpm"],
        (_, "state") => vec!["active", "idle"],
        (_, "source") => vec!["status"],
        (_, "collector") => vec!["probes"],
        (_, "version") => vec!["0.1.0"],
        (_, "revision") => vec!["abc123"],
        (_, "rustversion") => vec!["1.89.0"],
        (m, l) => panic!("the scenario has no value for label {l:?} of {m}: add one"),
    }
}

/// Every combination of the metric's label values.
fn label_sets(m: &MetricDoc) -> Vec<Vec<(String, &'static str)>> {
    let mut sets = vec![vec![]];
    for l in &m.labels {
        let mut next = Vec::new();
        for set in &sets {
            for v in label_values(&m.name, l) {
                let mut s: Vec<(String, &'static str)> = set.clone();
                s.push((l.clone(), v));
                next.push(s);
            }
        }
        sets = next;
    }
    sets
}

fn gauge_value(name: &str, labels: &[(String, &str)], t: i64) -> f64 {
    let has = |k: &str, v: &str| labels.iter().any(|(a, b)| a == k && *b == v);
    match name {
        n if n.ends_with("_timestamp_seconds") => t as f64,
        "gateway_probe_success" if has("path", "public") && has("target", "shop") => 0.0,
        "gateway_probe_http_status_code" => 502.0,
        "gateway_workers" if has("state", "active") => 9.0,
        "gateway_workers_limit" => 10.0,
        "gateway_worker_queue" => 3.0,
        "gateway_worker_queue_limit" => 511.0,
        "gateway_upstream_timeout_seconds" => 60.0,
        n if n.ends_with("_seconds") => 0.25,
        _ => 1.0,
    }
}

fn series(name: &str, labels: &[(String, &str)], extra: &[(&str, String)]) -> String {
    let mut parts = vec![
        r#"job="gateway""#.to_string(),
        r#"instance="web-1:10211""#.to_string(),
    ];
    parts.extend(labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")));
    parts.extend(extra.iter().map(|(k, v)| format!("{k}=\"{v}\"")));
    format!("{name}{{{}}}", parts.join(","))
}

/// The scenario as OpenMetrics text (families contiguous, samples timestamped), and its end.
fn scenario() -> (String, i64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let end = (now - 60) / STEP * STEP;
    let start = end - SPAN;
    let times: Vec<i64> = (start..=end).step_by(STEP as usize).collect();
    let mut om = String::new();
    for m in documented_metrics() {
        let sets = label_sets(&m);
        match m.kind.as_str() {
            "counter" => {
                let family = m
                    .name
                    .strip_suffix("_total")
                    .expect("counters end in _total");
                writeln!(om, "# TYPE {family} counter").unwrap();
                for set in &sets {
                    let s = series(&m.name, set, &[]);
                    for &t in &times {
                        writeln!(om, "{s} {} {t}", 0.5 * (t - start) as f64).unwrap();
                    }
                }
            }
            "histogram" => {
                writeln!(om, "# TYPE {} histogram", m.name).unwrap();
                let buckets = [
                    (0.05, 0.1),
                    (0.1, 0.3),
                    (0.5, 0.6),
                    (1.0, 0.8),
                    (5.0, 0.95),
                    (10.0, 1.0),
                ];
                for set in &sets {
                    for &t in &times {
                        let n = (t - start) as f64;
                        for (le, share) in buckets {
                            writeln!(
                                om,
                                "{} {} {t}",
                                series(
                                    &format!("{}_bucket", m.name),
                                    set,
                                    &[("le", le.to_string())]
                                ),
                                share * n
                            )
                            .unwrap();
                        }
                        writeln!(
                            om,
                            "{} {n} {t}",
                            series(&format!("{}_bucket", m.name), set, &[("le", "+Inf".into())])
                        )
                        .unwrap();
                        writeln!(
                            om,
                            "{} {} {t}",
                            series(&format!("{}_sum", m.name), set, &[]),
                            0.4 * n
                        )
                        .unwrap();
                        writeln!(
                            om,
                            "{} {n} {t}",
                            series(&format!("{}_count", m.name), set, &[])
                        )
                        .unwrap();
                    }
                }
            }
            "gauge" => {
                writeln!(om, "# TYPE {} gauge", m.name).unwrap();
                for set in &sets {
                    let s = series(&m.name, set, &[]);
                    for &t in &times {
                        writeln!(om, "{s} {} {t}", gauge_value(&m.name, set, t)).unwrap();
                    }
                }
            }
            other => panic!("{}: unknown type {other:?} in docs/metrics.md", m.name),
        }
    }
    // ALERTS as Prometheus stores it for a firing rule of alerts/ (rule labels, no annotations).
    let alert = &dashboards::alert_names()[0];
    writeln!(om, "# TYPE ALERTS gauge").unwrap();
    for &t in &times {
        writeln!(
            om,
            r#"ALERTS{{alertname="{alert}",alertstate="firing",severity="warning",job="gateway",instance="web1:10211"}} 1 {t}"#
        )
        .unwrap();
    }
    // The recording rules the error-budget panels read, as Prometheus would have recorded them.
    for (series, value) in [
        (
            r#"job_vhost:gateway_slo_error_budget:ratio_remaining30d{job="gateway",vhost="shop.example.com"}"#,
            0.4,
        ),
        (
            r#"job_vhost:gateway_slo_errors:ratio_rate5m{job="gateway",vhost="shop.example.com"}"#,
            0.02,
        ),
        (
            r#"job_vhost:gateway_slo_errors:ratio_rate1h{job="gateway",vhost="shop.example.com"}"#,
            0.015,
        ),
        (
            r#"job_vhost:gateway_slo_errors:ratio_rate6h{job="gateway",vhost="shop.example.com"}"#,
            0.004,
        ),
        (
            r#"job_vhost:gateway_slo_errors:ratio_rate3d{job="gateway",vhost="shop.example.com"}"#,
            0.001,
        ),
        ("global:gateway_slo_objective:ratio", 0.999),
    ] {
        let name = series.split('{').next().unwrap();
        writeln!(om, "# TYPE {name} gauge").unwrap();
        for &t in &times {
            writeln!(om, "{series} {value} {t}").unwrap();
        }
    }
    om.push_str("# EOF\n");
    (om, end)
}

#[test]
fn every_dashboard_query_returns_data_from_a_real_prometheus() {
    let (om, end) = scenario();
    let prom = Prometheus::with_backfill(&om);
    // The harness can fail: a parse error and an unknown metric are both told apart.
    assert!(prom.query_at("sum(", end).is_err());
    assert!(
        prom.query_at("gateway_no_such_metric", end)
            .unwrap()
            .is_empty()
    );
    assert!(
        !prom.query_at("gateway_build_info", end).unwrap().is_empty(),
        "the backfill is not visible"
    );

    let mut problems = Vec::new();
    let mut ran = 0;
    let label_values = regex::Regex::new(r"^label_values\((.+), *([a-z_]+)\)$").unwrap();
    for d in load_all() {
        for q in queries(&d) {
            let expr = substitute(&q.expr);
            let result = if q.instant {
                prom.query_at(&expr, end)
            } else {
                prom.query_range(&expr, end - 3600, end, 60)
            };
            ran += 1;
            match result {
                Err(e) => problems.push(format!("{}: {e}\n    {expr}", q.origin)),
                Ok(r) if r.is_empty() => {
                    problems.push(format!("{}: no data\n    {expr}", q.origin))
                }
                Ok(_) => {}
            }
        }
        for v in d.json["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["type"] == "query")
        {
            let def = v["definition"].as_str().unwrap();
            let c = label_values.captures(def).unwrap_or_else(|| {
                panic!(
                    "{}: variable {def}: not label_values(selector, label)",
                    d.file
                )
            });
            let selector = substitute(&c[1]);
            let (s, e) = ((end - 3600).to_string(), end.to_string());
            ran += 1;
            match prom.api(
                &format!("/api/v1/label/{}/values", &c[2]),
                &[("match[]", &selector), ("start", &s), ("end", &e)],
            ) {
                Err(err) => problems.push(format!("{}: variable {}: {err}", d.file, v["name"])),
                Ok(vals) if vals.as_array().is_none_or(|a| a.is_empty()) => problems.push(format!(
                    "{}: variable {} has no values: {def}",
                    d.file, v["name"]
                )),
                Ok(_) => {}
            }
        }
    }
    assert!(ran > 50, "only {ran} queries found");
    assert!(
        problems.is_empty(),
        "{} of {ran} queries failed:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
