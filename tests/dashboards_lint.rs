//! Structural lint of dashboards/ (grafana/dashboard-linter's rules, reimplemented) plus the
//! project's own: metric names from docs/metrics.md, alert annotations and runbook links.

mod common;
#[path = "common/dashboards.rs"]
mod dashboards;

use dashboards::{Dashboard, RUNBOOK_BASE, documented_metrics, load_all, panels, queries};
use serde_json::{Value, json};
use std::collections::HashSet;

fn datasource_ref() -> Value {
    json!({"type": "prometheus", "uid": "${datasource}"})
}

/// Collects every problem instead of stopping at the first one.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }

    fn assert_none(mut self) {
        self.0.sort();
        self.0.dedup();
        assert!(
            self.0.is_empty(),
            "{} problem(s):\n  {}",
            self.0.len(),
            self.0.join("\n  ")
        );
    }
}

fn lint_dashboard(d: &Dashboard, p: &mut Problems) {
    let f = &d.file;
    let j = &d.json;
    for key in ["uid", "title", "description"] {
        p.check(j[key].as_str().is_some_and(|s| !s.is_empty()), || {
            format!("{f}: no {key}")
        });
    }
    p.check(j["schemaVersion"].as_u64().is_some_and(|v| v >= 36), || {
        format!("{f}: schemaVersion < 36")
    });
    p.check(
        j["tags"]
            .as_array()
            .is_some_and(|t| t.contains(&json!("gateway-exporter"))),
        || format!("{f}: tag gateway-exporter missing"),
    );
    p.check(d.text.ends_with("}\n") && !d.text.ends_with("\n\n"), || {
        format!("{f}: must end with one newline")
    });
    // Import placeholders only work through the UI import, not with file or sidecar provisioning.
    p.check(
        !d.text.contains("${DS_") && j.get("__inputs").is_none(),
        || format!("{f}: uses ${{DS_...}} / __inputs"),
    );

    let vars = j["templating"]["list"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ds: Vec<&Value> = vars.iter().filter(|v| v["type"] == "datasource").collect();
    p.check(
        ds.len() == 1 && ds[0]["name"] == "datasource" && ds[0]["query"] == "prometheus",
        || format!("{f}: needs exactly one datasource variable `datasource` of type prometheus"),
    );
    for name in ["job", "instance"] {
        p.check(vars.iter().any(|v| v["name"] == name), || {
            format!("{f}: no {name} variable")
        });
    }
    for v in vars.iter().filter(|v| v["type"] == "query") {
        let n = v["name"].as_str().unwrap_or("?");
        p.check(v["datasource"] == datasource_ref(), || {
            format!("{f}: variable {n} not on $datasource")
        });
        p.check(
            v["multi"] == true && v["includeAll"] == true && v["allValue"] == ".+",
            || format!("{f}: variable {n} must be multi-select with All = .+"),
        );
        p.check(
            v["definition"]
                .as_str()
                .is_some_and(|q| q.starts_with("label_values(")),
            || format!("{f}: variable {n}: not label_values()"),
        );
        // The tests run `definition`; Grafana runs `query`.
        p.check(v["query"] == v["definition"], || {
            format!("{f}: variable {n}: query and definition differ")
        });
    }

    let mut ids = HashSet::new();
    for row in j["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["type"] == "row")
    {
        p.check(ids.insert(row["id"].as_u64()), || {
            format!("{f}: duplicate panel id {}", row["id"])
        });
    }
    for panel in panels(d) {
        let t = panel["title"].as_str().unwrap_or("");
        p.check(ids.insert(panel["id"].as_u64()), || {
            format!("{f}: duplicate panel id {}", panel["id"])
        });
        p.check(!t.is_empty(), || {
            format!("{f}: panel {} has no title", panel["id"])
        });
        p.check(
            panel["description"].as_str().is_some_and(|s| s.len() >= 30),
            || format!("{f}: panel {t:?}: description missing or too short"),
        );
        p.check(panel["datasource"] == datasource_ref(), || {
            format!("{f}: panel {t:?} not on $datasource")
        });
        let needs_unit = [
            "timeseries",
            "stat",
            "gauge",
            "bargauge",
            "heatmap",
            "state-timeline",
        ];
        if needs_unit.contains(&panel["type"].as_str().unwrap_or("")) {
            p.check(
                panel["fieldConfig"]["defaults"]["unit"]
                    .as_str()
                    .is_some_and(|u| !u.is_empty()),
                || format!("{f}: panel {t:?} has no unit"),
            );
        }
        let targets = panel["targets"].as_array().cloned().unwrap_or_default();
        p.check(!targets.is_empty(), || {
            format!("{f}: panel {t:?} has no query")
        });
        let mut refs = HashSet::new();
        for target in &targets {
            p.check(target["datasource"] == datasource_ref(), || {
                format!("{f}: panel {t:?} target not on $datasource")
            });
            p.check(refs.insert(target["refId"].to_string()), || {
                format!("{f}: panel {t:?}: duplicate refId")
            });
            p.check(
                target["expr"]
                    .as_str()
                    .is_some_and(|e| !e.trim().is_empty()),
                || format!("{f}: panel {t:?}: empty query"),
            );
        }
    }
}

#[test]
fn dashboards_pass_the_linter_rules() {
    let all = load_all();
    let mut p = Problems::default();
    let mut uids = HashSet::new();
    for d in &all {
        p.check(uids.insert(d.json["uid"].to_string()), || {
            format!("{}: uid used twice", d.file)
        });
        lint_dashboard(d, &mut p);
    }
    for wanted in ["overview", "probes", "upstream-errors", "workers"] {
        p.check(all.iter().any(|d| d.file.contains(wanted)), || {
            format!("no {wanted} dashboard")
        });
    }
    p.assert_none();
}

/// The range of every range selector in `expr`.
fn ranges(expr: &str) -> Vec<String> {
    regex::Regex::new(r"\[([^\]]*)\]")
        .unwrap()
        .captures_iter(expr)
        .map(|c| c[1].to_string())
        .collect()
}

/// For each use of `metric` in `expr`: the function whose argument list encloses it.
fn enclosing_functions(expr: &str, metric: &str) -> Vec<String> {
    let re = regex::Regex::new(&format!(r"\b{metric}\b")).unwrap();
    re.find_iter(expr)
        .map(|m| {
            let before = &expr[..m.start()];
            let mut depth = 0;
            for (i, c) in before.char_indices().rev() {
                match c {
                    ')' => depth += 1,
                    '(' if depth == 0 => return function_name(&before[..i]),
                    '(' => depth -= 1,
                    _ => {}
                }
            }
            String::new()
        })
        .collect()
}

/// The function name that ends `head` (the text before its argument list), skipping an
/// aggregation's `by (...)` / `without (...)` clause.
fn function_name(head: &str) -> String {
    let mut head = head.trim_end();
    if head.ends_with(')') {
        let open = head.rfind('(').unwrap_or(0);
        head = head[..open].trim_end();
        head = head
            .strip_suffix("by")
            .or_else(|| head.strip_suffix("without"))
            .unwrap_or(head)
            .trim_end();
    }
    let name: String = head
        .chars()
        .rev()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    name.chars().rev().collect()
}

#[test]
fn queries_use_rate_interval_and_counters_only_in_rates() {
    let docs = documented_metrics();
    let counters: Vec<String> = docs
        .iter()
        .flat_map(|m| match m.kind.as_str() {
            "counter" => vec![m.name.clone()],
            "histogram" => ["_bucket", "_sum", "_count"]
                .iter()
                .map(|s| format!("{}{s}", m.name))
                .collect(),
            _ => vec![],
        })
        .collect();
    let mut p = Problems::default();
    for d in load_all() {
        for q in queries(&d) {
            for r in ranges(&q.expr) {
                p.check(r == "$__rate_interval", || {
                    format!("{}: range [{r}] instead of [$__rate_interval]", q.origin)
                });
            }
            for c in &counters {
                for f in enclosing_functions(&q.expr, c) {
                    p.check(["rate", "irate", "increase"].contains(&f.as_str()), || {
                        format!("{}: counter {c} inside {f:?}, not rate/increase", q.origin)
                    });
                }
            }
        }
    }
    p.assert_none();
}

#[test]
fn lint_rules_catch_what_they_claim() {
    assert_eq!(
        enclosing_functions("sum(rate(x_total[5m]))", "x_total"),
        ["rate"]
    );
    assert_eq!(
        enclosing_functions("sum by (a) (x_total)", "x_total"),
        ["sum"]
    );
    assert_eq!(
        enclosing_functions("sum without (a) (x_total)", "x_total"),
        ["sum"]
    );
    assert_eq!(enclosing_functions("x_total > 0", "x_total"), [""]);
    assert_eq!(
        enclosing_functions("sum by (a) (rate(x_total[5m])) / x_total", "x_total"),
        ["rate", ""]
    );
    assert_eq!(
        ranges("rate(a[5m]) / rate(b[$__rate_interval])"),
        ["5m", "$__rate_interval"]
    );
    let bad: Value = json!({"uid": "u", "title": "t", "description": "d", "schemaVersion": 39, "tags": [],
        "templating": {"list": [{"name": "job", "type": "query", "multi": false}]},
        "panels": [{"id": 1, "type": "timeseries", "title": "", "targets": [{"expr": ""}]}]});
    let d = Dashboard {
        file: "bad.json".into(),
        text: bad.to_string(),
        json: bad,
    };
    let mut p = Problems::default();
    lint_dashboard(&d, &mut p);
    let text = p.0.join("\n");
    for expected in [
        "datasource variable",
        "no instance variable",
        "multi-select",
        "no title",
        "no unit",
        "empty query",
        "one newline",
    ] {
        assert!(text.contains(expected), "lint missed {expected:?}:\n{text}");
    }
}

#[test]
fn every_metric_name_is_documented_or_recorded() {
    let docs: HashSet<String> = documented_metrics().into_iter().map(|m| m.name).collect();
    let recorded: HashSet<String> = dashboards::recorded_names().into_iter().collect();
    let re = regex::Regex::new(r"\bgateway_[a-z0-9_]+").unwrap();
    // A recording rule's name (`level:metric:operations`) is checked against alerts/.
    let rule_name = regex::Regex::new(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+").unwrap();
    let mut p = Problems::default();
    for d in load_all() {
        for q in queries(&d) {
            for m in rule_name.find_iter(&q.expr) {
                p.check(recorded.contains(m.as_str()), || {
                    format!("{}: {} is not recorded in alerts/", q.origin, m.as_str())
                });
            }
            for m in re.find_iter(&rule_name.replace_all(&q.expr, "")) {
                let name = m.as_str();
                let base = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .unwrap_or(name);
                p.check(docs.contains(name) || docs.contains(base), || {
                    format!("{}: {name} is not in docs/metrics.md", q.origin)
                });
            }
        }
        for v in d.json["templating"]["list"].as_array().unwrap() {
            for m in re.find_iter(v["definition"].as_str().unwrap_or("")) {
                p.check(docs.contains(m.as_str()), || {
                    format!("{}: variable uses undocumented {}", d.file, m.as_str())
                });
            }
        }
    }
    p.assert_none();
}

#[test]
fn alerts_and_changes_are_annotated_with_runbook_links() {
    let alerts = dashboards::alert_names();
    let mut p = Problems::default();
    let names = regex::Regex::new(r"\bGateway[A-Z][A-Za-z0-9]+").unwrap();
    for d in load_all() {
        let f = &d.file;
        let list = d.json["annotations"]["list"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for a in &list {
            p.check(
                a["datasource"] == datasource_ref() && a["enable"] == true,
                || format!("{f}: annotation {} not enabled on $datasource", a["name"]),
            );
        }
        let firing = list.iter().find(|a| {
            a["expr"]
                .as_str()
                .is_some_and(|e| e.contains("ALERTS{") && e.contains(r#"alertstate="firing""#))
        });
        match firing {
            None => p.0.push(format!(
                "{f}: no ALERTS{{alertstate=\"firing\"}} annotation"
            )),
            Some(a) => {
                let expr = a["expr"].as_str().unwrap();
                p.check(
                    expr.contains(r#"job=~"$job""#) && expr.contains(r#"instance=~"$instance"#),
                    || format!("{f}: the alert annotation ignores $job / $instance: {expr}"),
                );
                let text = a["textFormat"].as_str().unwrap_or("");
                let link = format!(r#"<a href="{RUNBOOK_BASE}{{{{alertname}}}}.md""#);
                p.check(text.contains(&link), || {
                    format!("{f}: alert annotation text has no runbook link {link}: {text}")
                });
            }
        }
        p.check(
            list.iter().any(|a| {
                a["expr"]
                    .as_str()
                    .is_some_and(|e| e.contains("gateway_server_events_total"))
            }),
            || format!("{f}: no change-marker annotation from gateway_server_events_total"),
        );
        // The firing-alerts table: its rows link to the runbook named by the row's alertname.
        let table = panels(&d).into_iter().find(|x| {
            x["type"] == "table"
                && x["targets"][0]["expr"]
                    .as_str()
                    .is_some_and(|e| e.starts_with("ALERTS{"))
        });
        match table {
            None => p.0.push(format!("{f}: no firing-alerts table")),
            Some(t) => {
                let expr = t["targets"][0]["expr"].as_str().unwrap();
                p.check(
                    expr.contains(r#"job=~"$job""#) && expr.contains(r#"instance=~"$instance"#),
                    || format!("{f}: the firing-alerts table ignores $job / $instance: {expr}"),
                );
                let s = t["fieldConfig"].to_string();
                p.check(
                    s.contains(&format!("{RUNBOOK_BASE}${{__data.fields.alertname}}.md")),
                    || format!("{f}: firing-alerts table rows do not link to runbooks"),
                );
            }
        }
        // Every runbook link resolves to a file: dynamic ones for every alert the rules define,
        // literal ones (in descriptions or links) as they are.
        let re =
            regex::Regex::new(&format!(r"{}([^\s\x22<\\]*)", regex::escape(RUNBOOK_BASE))).unwrap();
        for c in re.captures_iter(&d.text) {
            let rest = &c[1];
            let files: Vec<String> = if rest.contains("alertname") {
                alerts.iter().map(|a| format!("{a}.md")).collect()
            } else if rest.is_empty() {
                vec![]
            } else {
                vec![rest.to_string()]
            };
            for file in files {
                p.check(
                    dashboards::repo()
                        .join("alerts/runbooks")
                        .join(&file)
                        .is_file(),
                    || {
                        format!(
                            "{f}: runbook link {RUNBOOK_BASE}{file} has no alerts/runbooks/{file}"
                        )
                    },
                );
            }
        }
        // Alert names in panel descriptions are alerts that exist.
        for panel in panels(&d) {
            for n in names.find_iter(panel["description"].as_str().unwrap_or("")) {
                p.check(alerts.iter().any(|a| a == n.as_str()), || {
                    format!("{f}: description names unknown alert {}", n.as_str())
                });
            }
        }
    }
    p.assert_none();
}

/// A maintenance flag's 1 means "on" (503s on purpose), never a green "up".
#[test]
fn maintenance_mode_reads_on_not_up() {
    let mut seen = 0;
    for d in load_all() {
        for panel in panels(&d) {
            let queries_maintenance = panel["targets"].as_array().into_iter().flatten().any(|t| {
                t["expr"]
                    .as_str()
                    .is_some_and(|e| e.contains("gateway_maintenance_mode"))
            });
            if !queries_maintenance {
                continue;
            }
            seen += 1;
            let one = &panel["fieldConfig"]["defaults"]["mappings"][0]["options"]["1"];
            assert!(
                one["text"].as_str().is_some_and(|t| t.starts_with("on"))
                    && one["color"] != "green",
                "{}: {} maps 1 to {one}",
                d.file,
                panel["title"]
            );
        }
    }
    assert!(seen > 0, "no maintenance panel");
}
