//! Reading dashboards/, docs/metrics.md and the alert rules for the dashboard tests.
#![allow(dead_code)] // each dashboard test binary uses a different part

use serde_json::Value;
use std::path::{Path, PathBuf};

/// The prefix every runbook link is written with (the chart's `runbookUrl` replaces it).
pub const RUNBOOK_BASE: &str =
    "https://github.com/gateway-exporter/gateway-exporter/blob/main/alerts/runbooks/";

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub struct Dashboard {
    pub file: String,
    pub text: String,
    pub json: Value,
}

pub fn load_all() -> Vec<Dashboard> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(repo().join("dashboards"))
        .expect("dashboards/ is missing")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no dashboards/*.json");
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let json =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            Dashboard {
                file: p.file_name().unwrap().to_string_lossy().into_owned(),
                text,
                json,
            }
        })
        .collect()
}

/// Every panel, rows' nested panels included (rows themselves excluded).
pub fn panels(d: &Dashboard) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in d.json["panels"].as_array().unwrap() {
        if p["type"] == "row" {
            out.extend(p["panels"].as_array().into_iter().flatten());
        } else {
            out.push(p);
        }
    }
    out
}

/// One PromQL expression of a dashboard: a panel target, an annotation or a variable.
pub struct Query {
    pub origin: String,
    pub expr: String,
    pub instant: bool,
}

pub fn queries(d: &Dashboard) -> Vec<Query> {
    let mut out = Vec::new();
    for p in panels(d) {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push(Query {
                origin: format!(
                    "{} panel {:?} {}",
                    d.file,
                    p["title"].as_str().unwrap_or(""),
                    t["refId"]
                ),
                expr: t["expr"].as_str().unwrap_or("").to_string(),
                instant: t["instant"] == true && t["range"] != true,
            });
        }
    }
    for a in d.json["annotations"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(expr) = a["expr"].as_str() {
            out.push(Query {
                origin: format!("{} annotation {}", d.file, a["name"]),
                expr: expr.to_string(),
                instant: false,
            });
        }
    }
    out
}

/// `$__rate_interval` -> 5m and every dashboard variable -> `.+` (what "All" selects).
pub fn substitute(expr: &str) -> String {
    let re = regex::Regex::new(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?").unwrap();
    re.replace_all(expr, |c: &regex::Captures| match &c[0] {
        "$__rate_interval" | "${__rate_interval}" | "$__interval" | "$__range" => "5m".to_string(),
        _ => ".+".to_string(),
    })
    .into_owned()
}

/// A metric of docs/metrics.md's tables.
pub struct MetricDoc {
    pub name: String,
    pub kind: String,
    pub labels: Vec<String>,
}

pub fn documented_metrics() -> Vec<MetricDoc> {
    let text = std::fs::read_to_string(repo().join("docs/metrics.md")).unwrap();
    let out: Vec<MetricDoc> = text
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            let labels = cells[3]
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            Some(MetricDoc {
                name: name.to_string(),
                kind: cells[2].to_string(),
                labels,
            })
        })
        .collect();
    assert!(out.len() > 30, "docs/metrics.md tables not found");
    out
}

/// The alert names of the rule files in alerts/ (files with `groups:`).
pub fn alert_names() -> Vec<String> {
    rule_names("alert")
}

/// The recorded series of the rule files in alerts/.
pub fn recorded_names() -> Vec<String> {
    rule_names("record")
}

/// The `alert` or `record` names of the rule files in alerts/.
fn rule_names(kind: &str) -> Vec<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(repo().join("alerts")).expect("alerts/ is missing") {
        let path = entry.unwrap().path();
        if !matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yml" | "yaml")
        ) {
            continue;
        }
        let v: Value = serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        if v.get("tests").is_some() {
            continue;
        }
        for g in v["groups"].as_array().into_iter().flatten() {
            for r in g["rules"].as_array().into_iter().flatten() {
                if let Some(a) = r[kind].as_str() {
                    names.push(a.to_string());
                }
            }
        }
    }
    names.sort();
    names.dedup();
    assert!(!names.is_empty(), "no {kind} rule in alerts/*.yml");
    names
}
