//! Lints of the alert rules in the spirit of pint: names, labels, annotations, runbook links,
//! counters only inside rate/increase, template labels that the expression really outputs,
//! metric names from docs/metrics.md, inhibit rules that can match, tests for every alert.

mod common;
#[path = "common/prometheus.rs"]
mod prometheus;

use prometheus::{DASHBOARD_BASE, Matcher, RUNBOOK_BASE, Rule, load_yaml, repo_path, rules};
use promql_parser::label::Labels;
use promql_parser::parser::{self, Expr, LabelModifier, VectorMatchCardinality};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The always-firing alert: no silent case, severity `none`, routed to the heartbeat.
const WATCHDOG: &str = "GatewayWatchdog";

/// Labels every scraped series carries.
const TARGET_LABELS: [&str; 2] = ["job", "instance"];

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Counter,
    Gauge,
}

/// Metric name -> (type, labels), from the tables of docs/metrics.md, plus the few
/// node_exporter series the node rules join with. Histograms expand to their series.
fn metric_catalogue() -> BTreeMap<String, (Kind, BTreeSet<String>)> {
    // docs/alerts.md lists the series the rules read beyond docs/metrics.md (later rows of
    // the same name win: the exporter's new labels).
    let text = ["docs/metrics.md", "docs/alerts.md"]
        .map(|f| std::fs::read_to_string(repo_path(f)).unwrap())
        .join("\n");
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 5
            || !cells[1].starts_with('`')
            || !matches!(cells[2], "counter" | "gauge" | "histogram")
        {
            continue;
        }
        let name = cells[1].trim_matches('`');
        let labels: BTreeSet<String> = cells[3]
            .split(',')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        match cells[2] {
            "counter" => {
                out.insert(name.to_string(), (Kind::Counter, labels));
            }
            "gauge" => {
                out.insert(name.to_string(), (Kind::Gauge, labels));
            }
            "histogram" => {
                let mut bucket = labels.clone();
                bucket.insert("le".into());
                out.insert(format!("{name}_bucket"), (Kind::Counter, bucket));
                out.insert(format!("{name}_sum"), (Kind::Counter, labels.clone()));
                out.insert(format!("{name}_count"), (Kind::Counter, labels));
            }
            other => panic!("docs/metrics.md: unknown type {other} for {name}"),
        }
    }
    let set = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    let fs = set(&["device", "fstype", "mountpoint"]);
    out.insert(
        "node_filesystem_avail_bytes".into(),
        (Kind::Gauge, fs.clone()),
    );
    out.insert("node_filesystem_size_bytes".into(), (Kind::Gauge, fs));
    out.insert(
        "node_memory_MemAvailable_bytes".into(),
        (Kind::Gauge, set(&[])),
    );
    out.insert("node_memory_MemTotal_bytes".into(), (Kind::Gauge, set(&[])));
    out.insert(
        "node_cpu_seconds_total".into(),
        (Kind::Counter, set(&["cpu", "mode"])),
    );
    for (_, labels) in out.values_mut() {
        labels.extend(TARGET_LABELS.iter().map(|s| s.to_string()));
    }
    assert!(out.len() > 40, "docs/metrics.md tables not found");
    out
}

/// What an expression returns: a scalar or a vector with these label names.
#[derive(Debug, Clone, PartialEq)]
enum Out {
    Scalar,
    Vector(BTreeSet<String>),
}

impl Out {
    fn labels(&self) -> BTreeSet<String> {
        match self {
            Out::Scalar => BTreeSet::new(),
            Out::Vector(l) => l.clone(),
        }
    }
}

fn names(l: &Labels) -> BTreeSet<String> {
    l.labels.iter().cloned().collect()
}

/// Walks an expression: computes its output labels and collects problems.
struct Checker<'a> {
    metrics: &'a BTreeMap<String, (Kind, BTreeSet<String>)>,
    /// Recording rules defined so far -> their output labels.
    recorded: &'a BTreeMap<String, BTreeSet<String>>,
    problems: Vec<String>,
}

impl Checker<'_> {
    /// `in_rate`: the selector is the direct range argument of rate/increase/irate.
    fn selector(&mut self, name: Option<&String>, in_rate: bool) -> Out {
        let Some(name) = name else {
            self.problems.push("selector without a metric name".into());
            return Out::Vector(BTreeSet::new());
        };
        if let Some(labels) = self.recorded.get(name) {
            if in_rate {
                self.problems
                    .push(format!("rate/increase over the recorded series {name}"));
            }
            return Out::Vector(labels.clone());
        }
        let Some((kind, labels)) = self.metrics.get(name) else {
            self.problems.push(format!(
                "{name} is neither in docs/metrics.md nor a recording rule"
            ));
            return Out::Vector(BTreeSet::new());
        };
        match (kind, in_rate) {
            (Kind::Counter, false) => self
                .problems
                .push(format!("counter {name} used outside rate/increase/irate")),
            (Kind::Gauge, true) => self
                .problems
                .push(format!("rate/increase over the gauge {name}")),
            _ => {}
        }
        Out::Vector(labels.clone())
    }

    fn walk(&mut self, e: &Expr) -> Out {
        match e {
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Out::Scalar,
            Expr::Paren(p) => self.walk(&p.expr),
            Expr::Unary(u) => self.walk(&u.expr),
            Expr::Subquery(s) => self.walk(&s.expr),
            Expr::VectorSelector(vs) => self.selector(vs.name.as_ref(), false),
            Expr::MatrixSelector(ms) => self.selector(ms.vs.name.as_ref(), false),
            Expr::Aggregate(a) => {
                if let Some(p) = &a.param {
                    self.walk(p);
                }
                let inner = self.walk(&a.expr).labels();
                let op = a.op.to_string();
                if op == "topk" || op == "bottomk" {
                    return Out::Vector(inner);
                }
                match &a.modifier {
                    Some(LabelModifier::Include(l)) => {
                        for missing in names(l).difference(&inner) {
                            self.problems
                                .push(format!("{op} by ({missing}): the input has no such label"));
                        }
                        Out::Vector(names(l))
                    }
                    Some(LabelModifier::Exclude(l)) => {
                        Out::Vector(inner.difference(&names(l)).cloned().collect())
                    }
                    None => Out::Vector(BTreeSet::new()),
                }
            }
            Expr::Call(c) => {
                let f = c.func.name;
                let is_rate = matches!(f, "rate" | "increase" | "irate");
                let mut outs = Vec::new();
                for arg in &c.args.args {
                    let out = match (is_rate, arg.as_ref()) {
                        (true, Expr::MatrixSelector(ms)) => {
                            self.selector(ms.vs.name.as_ref(), true)
                        }
                        _ => self.walk(arg),
                    };
                    outs.push(out);
                }
                match f {
                    "time" | "vector" | "scalar" => Out::Scalar,
                    "histogram_quantile" => {
                        let mut l = outs[1].labels();
                        if !l.remove("le") {
                            self.problems
                                .push("histogram_quantile over series without `le`".into());
                        }
                        Out::Vector(l)
                    }
                    "label_replace" => {
                        let mut l = outs[0].labels();
                        if let Expr::StringLiteral(src) = c.args.args[3].as_ref()
                            && !src.val.is_empty()
                            && !l.contains(&src.val)
                        {
                            self.problems.push(format!(
                                "label_replace reads {}, which the input lacks",
                                src.val
                            ));
                        }
                        if let Expr::StringLiteral(dst) = c.args.args[1].as_ref() {
                            l.insert(dst.val.clone());
                        }
                        Out::Vector(l)
                    }
                    _ => outs
                        .into_iter()
                        .find(|o| matches!(o, Out::Vector(_)))
                        .unwrap_or(Out::Scalar),
                }
            }
            Expr::Binary(b) => {
                let lhs = self.walk(&b.lhs);
                let rhs = self.walk(&b.rhs);
                let (l, r) = match (&lhs, &rhs) {
                    (Out::Scalar, Out::Scalar) => return Out::Scalar,
                    (Out::Scalar, v) | (v, Out::Scalar) => return v.clone(),
                    (Out::Vector(l), Out::Vector(r)) => (l.clone(), r.clone()),
                };
                let op = b.op.to_string();
                let modifier = b.modifier.as_ref();
                let matching = modifier.and_then(|m| m.matching.as_ref());
                if let Some(m) = matching {
                    let wanted = names(m.labels());
                    if m.is_include() {
                        for side in [&l, &r] {
                            for missing in wanted.difference(side) {
                                self.problems.push(format!(
                                    "`{op} on ({missing})`: a side lacks that label"
                                ));
                            }
                        }
                    }
                }
                if op == "and" || op == "unless" {
                    return Out::Vector(l);
                }
                if op == "or" {
                    return Out::Vector(l.intersection(&r).cloned().collect());
                }
                match modifier.map(|m| &m.card) {
                    Some(VectorMatchCardinality::ManyToOne(extra)) => {
                        Out::Vector(l.union(&names(extra)).cloned().collect())
                    }
                    Some(VectorMatchCardinality::OneToMany(extra)) => {
                        Out::Vector(r.union(&names(extra)).cloned().collect())
                    }
                    _ => match matching {
                        Some(m) if m.is_include() => Out::Vector(names(m.labels())),
                        Some(m) => Out::Vector(l.difference(&names(m.labels())).cloned().collect()),
                        None => {
                            if l != r {
                                self.problems.push(format!(
                                    "`{op}` between vectors with different labels {l:?} / {r:?}"
                                ));
                            }
                            Out::Vector(l)
                        }
                    },
                }
            }
            Expr::Extension(_) => Out::Scalar,
        }
    }
}

/// Every rule with the labels its expression outputs; panics with all lint problems.
fn checked_rules() -> Vec<(Rule, BTreeSet<String>)> {
    let metrics = metric_catalogue();
    let mut recorded = BTreeMap::new();
    let mut problems = Vec::new();
    let mut out = Vec::new();
    for rule in rules() {
        let expr = match parser::parse(&rule.expr) {
            Ok(e) => e,
            Err(e) => {
                problems.push(format!("{}: does not parse: {e}", rule.name()));
                continue;
            }
        };
        let mut checker = Checker {
            metrics: &metrics,
            recorded: &recorded,
            problems: Vec::new(),
        };
        let labels = checker.walk(&expr).labels();
        problems.extend(
            checker
                .problems
                .into_iter()
                .map(|p| format!("{}: {p}", rule.name())),
        );
        if let Some(name) = &rule.record {
            assert!(
                !recorded.contains_key(name),
                "recording rule {name} defined twice"
            );
            recorded.insert(name.clone(), labels.clone());
        }
        out.push((rule, labels));
    }
    assert!(
        problems.is_empty(),
        "lint problems:\n{}",
        problems.join("\n")
    );
    out
}

fn alert_rules() -> Vec<(Rule, BTreeSet<String>)> {
    checked_rules()
        .into_iter()
        .filter(|(r, _)| r.alert.is_some())
        .collect()
}

/// `$labels.x` names used in a template.
fn template_labels(text: &str) -> Vec<String> {
    let re = regex::Regex::new(r"\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)").unwrap();
    re.captures_iter(text).map(|c| c[1].to_string()).collect()
}

#[test]
fn expressions_parse_use_documented_metrics_and_counters_only_in_rate() {
    let all = checked_rules();
    assert!(all.iter().filter(|(r, _)| r.alert.is_some()).count() >= 40);
    for (rule, _) in &all {
        if let Some(name) = &rule.record {
            assert_eq!(
                name.matches(':').count(),
                2,
                "{name}: recording rules are named level:metric:operations"
            );
        }
    }
}

#[test]
fn every_alert_has_name_severity_and_annotations() {
    let mut seen = BTreeSet::new();
    let duration = regex::Regex::new(r"^\d+[smh]$").unwrap();
    for (rule, _) in alert_rules() {
        let name = rule.alert.clone().unwrap();
        assert!(seen.insert(name.clone()), "alert {name} defined twice");
        assert!(
            name.starts_with("Gateway") && name.chars().all(|c| c.is_ascii_alphanumeric()),
            "{name}: CamelCase Gateway*"
        );
        let severity = rule.labels.get("severity").map(String::as_str);
        assert!(
            matches!(severity, Some("critical" | "warning" | "info"))
                || (name == WATCHDOG && severity == Some("none")),
            "{name}: severity {severity:?}"
        );
        let keys: BTreeSet<&str> = rule.annotations.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            BTreeSet::from(["summary", "description", "runbook_url", "dashboard_url"]),
            "{name}"
        );
        let summary = &rule.annotations["summary"];
        assert!(
            summary.ends_with('.') && !summary.contains("{{"),
            "{name}: summary is a static sentence: {summary}"
        );
        assert!(
            rule.annotations["description"].contains("{{"),
            "{name}: description is templated"
        );
        if let Some(f) = &rule.for_ {
            assert!(duration.is_match(f), "{name}: for: {f}");
        }
    }
}

#[test]
fn descriptions_name_the_thing_and_templates_use_existing_labels() {
    const THINGS: [&str; 6] = ["target", "vhost", "upstream", "pool", "log", "host"];
    for (rule, labels) in alert_rules() {
        let name = rule.alert.as_deref().unwrap();
        let available: BTreeSet<String> = labels
            .iter()
            .cloned()
            .chain(rule.labels.keys().cloned())
            .collect();
        for (key, text) in &rule.annotations {
            for l in template_labels(text) {
                assert!(
                    available.contains(&l),
                    "{name}: {key} uses $labels.{l}, but the expression outputs only {labels:?}"
                );
            }
        }
        let desc = &rule.annotations["description"];
        let used = template_labels(desc);
        let things: Vec<&&str> = THINGS.iter().filter(|t| labels.contains(**t)).collect();
        assert!(
            things.is_empty() || things.iter().any(|t| used.iter().any(|u| u == **t)),
            "{name}: the description names none of {things:?}"
        );
        // A flag alert (`x == 0`, `x == 1`) has a constant value; the others must say it.
        let expr = rule.expr.trim_end().trim_end_matches(')');
        let flag = expr.ends_with("== 0") || expr.ends_with("== 1") || name == WATCHDOG;
        // A template query (`| query`) looks the volatile reason or code up at notification time.
        let says_value = desc.contains("$value")
            || desc.contains("| query")
            || ["reason", "cause", "code"]
                .iter()
                .any(|l| used.iter().any(|u| u == l));
        assert!(
            says_value || flag,
            "{name}: the description gives no value or reason"
        );
    }
}

#[test]
fn runbook_urls_resolve_and_every_runbook_has_an_alert() {
    let names: BTreeSet<String> = alert_rules()
        .iter()
        .map(|(r, _)| r.alert.clone().unwrap())
        .collect();
    for (rule, _) in alert_rules() {
        let name = rule.alert.as_deref().unwrap();
        assert_eq!(
            rule.annotations["runbook_url"],
            format!("{RUNBOOK_BASE}{name}.md"),
            "{name}: runbook_url"
        );
        assert!(
            rule.annotations["dashboard_url"].starts_with(DASHBOARD_BASE),
            "{name}: dashboard_url"
        );
        let path = repo_path(&format!("alerts/runbooks/{name}.md"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{name}: no runbook {}", path.display()));
        let headings: Vec<&str> = text.lines().filter(|l| l.starts_with('#')).collect();
        let title = format!("# {name}");
        assert_eq!(
            headings,
            [
                title.as_str(),
                "## Meaning",
                "## Impact",
                "## Diagnosis",
                "## Mitigation"
            ],
            "{name}: runbook sections"
        );
        for section in text.split("\n## ").skip(1) {
            assert!(
                section.lines().skip(1).any(|l| !l.trim().is_empty()),
                "{name}: empty section {section}"
            );
        }
    }
    for entry in std::fs::read_dir(repo_path("alerts/runbooks")).unwrap() {
        let file = entry.unwrap().file_name().into_string().unwrap();
        let stem = file
            .strip_suffix(".md")
            .unwrap_or_else(|| panic!("alerts/runbooks/{file} is not a .md"));
        assert!(names.contains(stem), "alerts/runbooks/{file} has no alert");
    }
}

/// One promtool test group: the metric names of its input series and what each
/// `alert_rule_test` expects (alert, eval_time in seconds, firing or silent).
#[derive(Debug, Clone)]
struct TestGroup {
    file: String,
    inputs: BTreeSet<String>,
    cases: Vec<(String, u64, bool)>,
}

/// `5m`, `1h30m`, `90s`, `1d` -> seconds.
fn duration_seconds(d: &str) -> u64 {
    let re = regex::Regex::new(r"(\d+)(ms|s|m|h|d|w)").unwrap();
    let mut total = 0;
    let mut matched = 0;
    for c in re.captures_iter(d) {
        matched += c[0].len();
        let n: u64 = c[1].parse().unwrap();
        total += match &c[2] {
            "ms" => 0,
            "s" => n,
            "m" => n * 60,
            "h" => n * 3600,
            "d" => n * 86400,
            _ => n * 7 * 86400,
        };
    }
    assert_eq!(matched, d.len(), "not a duration: {d}");
    total
}

/// The test groups of one promtool test file.
fn test_groups(file: &str, doc: &Value) -> Vec<TestGroup> {
    doc["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|test| TestGroup {
            file: file.to_string(),
            inputs: test["input_series"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| {
                    let series = s["series"].as_str().unwrap();
                    series.split('{').next().unwrap().trim().to_string()
                })
                .collect(),
            cases: test["alert_rule_test"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    let firing = t["exp_alerts"].as_array().is_some_and(|a| !a.is_empty());
                    (
                        t["alertname"].as_str().unwrap().to_string(),
                        duration_seconds(t["eval_time"].as_str().unwrap()),
                        firing,
                    )
                })
                .collect(),
        })
        .collect()
}

/// Every test group of alerts/tests, after checking that each firing expectation names its
/// runbook, description and severity.
fn promtool_groups() -> Vec<TestGroup> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(repo_path("alerts/tests")).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        let doc = load_yaml(&path);
        for test in doc["tests"].as_array().unwrap() {
            for t in test["alert_rule_test"].as_array().into_iter().flatten() {
                let name = t["alertname"].as_str().unwrap();
                for a in t["exp_alerts"].as_array().into_iter().flatten() {
                    let ann = &a["exp_annotations"];
                    assert_eq!(
                        ann["runbook_url"].as_str(),
                        Some(format!("{RUNBOOK_BASE}{name}.md").as_str()),
                        "{file}: {name} test checks no runbook_url"
                    );
                    assert!(
                        ann["description"].is_string() && a["exp_labels"]["severity"].is_string(),
                        "{file}: {name}"
                    );
                }
            }
        }
        out.extend(test_groups(&file, &doc));
    }
    out
}

type SeriesSets = Vec<BTreeSet<String>>;

/// The raw series an expression reads, as alternatives: the expression can only return
/// something when every metric of one alternative is present. `or` adds alternatives,
/// `unless` needs only its left side, recording rules are expanded.
fn needed_series(e: &Expr, recorded: &BTreeMap<String, SeriesSets>) -> SeriesSets {
    fn product(a: SeriesSets, b: SeriesSets) -> SeriesSets {
        let mut out: SeriesSets = Vec::new();
        for x in &a {
            for y in &b {
                let u: BTreeSet<String> = x.union(y).cloned().collect();
                if !out.contains(&u) {
                    out.push(u);
                }
            }
        }
        out
    }
    let name = |n: Option<&String>| match n {
        Some(n) => recorded
            .get(n)
            .cloned()
            .unwrap_or_else(|| vec![BTreeSet::from([n.clone()])]),
        None => vec![BTreeSet::new()],
    };
    match e {
        Expr::VectorSelector(vs) => name(vs.name.as_ref()),
        Expr::MatrixSelector(ms) => name(ms.vs.name.as_ref()),
        Expr::Paren(p) => needed_series(&p.expr, recorded),
        Expr::Unary(u) => needed_series(&u.expr, recorded),
        Expr::Subquery(s) => needed_series(&s.expr, recorded),
        Expr::Aggregate(a) => needed_series(&a.expr, recorded),
        Expr::Call(c) => c
            .args
            .args
            .iter()
            .map(|a| needed_series(a, recorded))
            .fold(vec![BTreeSet::new()], product),
        Expr::Binary(b) => {
            let lhs = needed_series(&b.lhs, recorded);
            match b.op.to_string().as_str() {
                "unless" => lhs,
                "or" => {
                    let mut out = lhs;
                    out.extend(needed_series(&b.rhs, recorded));
                    out
                }
                _ => product(lhs, needed_series(&b.rhs, recorded)),
            }
        }
        _ => vec![BTreeSet::new()],
    }
}

/// Files whose silent cases are smoke tests of whole hosts, not an alert's near miss.
const SMOKE_FILES: [&str; 2] = ["healthy.test.yml", "idle.test.yml"];

/// Per alert (the Watchdog aside): a firing case; a near-miss silent case (outside the smoke
/// files) whose input holds one full set of the series the alert reads; and, for an alert
/// with `for:`, a silent case inside the pending window of a firing case of the same group
/// (eval_time after the firing one minus `for:`), which fails if `for:` is removed.
fn alert_test_problems(rules: &[Rule], groups: &[TestGroup]) -> Vec<String> {
    let mut recorded: BTreeMap<String, SeriesSets> = BTreeMap::new();
    let mut problems = Vec::new();
    for rule in rules {
        let expr = parser::parse(&rule.expr).unwrap();
        let needed = needed_series(&expr, &recorded);
        if let Some(name) = &rule.record {
            recorded.insert(name.clone(), needed);
            continue;
        }
        let name = rule.alert.as_deref().unwrap();
        if name == WATCHDOG {
            continue;
        }
        let cases = || {
            groups.iter().flat_map(move |g| {
                g.cases
                    .iter()
                    .filter(move |(a, _, _)| a == name)
                    .map(move |(_, t, firing)| (g, *t, *firing))
            })
        };
        if !cases().any(|(_, _, firing)| firing) {
            problems.push(format!("{name}: no firing case"));
        }
        let near_miss = cases().any(|(g, _, firing)| {
            !firing
                && !SMOKE_FILES.contains(&g.file.as_str())
                && needed.iter().any(|set| set.is_subset(&g.inputs))
        });
        if !near_miss {
            problems.push(format!(
                "{name}: no silent case whose input holds its series (one of {needed:?})"
            ));
        }
        if let Some(f) = &rule.for_ {
            let window = duration_seconds(f);
            let pending_seen = cases().any(|(g, t_fire, firing)| {
                firing
                    && g.cases
                        .iter()
                        .any(|(a, t, f)| a == name && !f && *t < t_fire && *t + window > t_fire)
            });
            if !pending_seen {
                problems.push(format!(
                    "{name}: no silent case inside its `for: {f}` window before a firing case"
                ));
            }
        }
    }
    let names: BTreeSet<&str> = rules.iter().filter_map(|r| r.alert.as_deref()).collect();
    for g in groups {
        for (a, _, _) in &g.cases {
            if !names.contains(a.as_str()) {
                problems.push(format!("{}: a test names the unknown alert {a}", g.file));
            }
        }
    }
    problems
}

#[test]
fn every_alert_has_a_firing_case_a_near_miss_and_its_pending_window_tested() {
    let problems = alert_test_problems(&rules(), &promtool_groups());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The lint itself fails on the two defects it exists for.
#[test]
fn the_alert_test_lint_catches_a_silent_case_without_series_and_an_untested_for() {
    let rule = |alert: &str, expr: &str, for_: Option<&str>| Rule {
        alert: Some(alert.into()),
        record: None,
        expr: expr.into(),
        for_: for_.map(str::to_string),
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
    };
    let rules = vec![
        Rule {
            alert: None,
            record: Some("instance:errors:rate5m".into()),
            ..rule("", "sum by (instance) (rate(errors_total[5m]))", None)
        },
        rule("ErrorsHigh", "instance:errors:rate5m > 1", Some("5m")),
        rule("QueueHigh", "queue > 3 unless maintenance == 1", None),
    ];
    let group = |file: &str, inputs: &[&str], cases: &[(&str, u64, bool)]| TestGroup {
        file: file.into(),
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
        cases: cases
            .iter()
            .map(|(a, t, f)| (a.to_string(), *t, *f))
            .collect(),
    };
    // Good: near misses hold the series (through the recording rule; the left side of
    // `unless` alone), and ErrorsHigh is silent 4 minutes before it fires with `for: 5m`.
    let good = vec![
        group(
            "logs.test.yml",
            &["errors_total"],
            &[("ErrorsHigh", 240, false), ("ErrorsHigh", 480, true)],
        ),
        group("queue.test.yml", &["queue"], &[("QueueHigh", 60, false)]),
        group("queue.test.yml", &["queue"], &[("QueueHigh", 60, true)]),
    ];
    assert_eq!(alert_test_problems(&rules, &good), Vec::<String>::new());
    // The only silent case of QueueHigh lacks the `queue` series; the one in a smoke file
    // does not count either.
    let bad = vec![
        good[0].clone(),
        group(
            "queue.test.yml",
            &["maintenance"],
            &[("QueueHigh", 60, false)],
        ),
        group("healthy.test.yml", &["queue"], &[("QueueHigh", 60, false)]),
        good[2].clone(),
    ];
    let problems = alert_test_problems(&rules, &bad);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("QueueHigh: no silent case whose input holds its series"));
    // ErrorsHigh's silent case comes before its `for:` window (the condition may not even
    // hold yet): removing `for: 5m` would keep such a test green.
    let bad = vec![
        group(
            "logs.test.yml",
            &["errors_total"],
            &[("ErrorsHigh", 120, false), ("ErrorsHigh", 480, true)],
        ),
        good[1].clone(),
        good[2].clone(),
    ];
    assert_eq!(
        alert_test_problems(&rules, &bad),
        ["ErrorsHigh: no silent case inside its `for: 5m` window before a firing case"]
    );
}

/// The smoke files name every alert (the Watchdog aside): nothing fires on a busy healthy
/// host nor on an idle one with every series present. Only groups with input count.
#[test]
fn the_healthy_and_idle_hosts_check_every_alert() {
    let names: BTreeSet<String> = alert_rules()
        .iter()
        .map(|(r, _)| r.alert.clone().unwrap())
        .filter(|n| n != WATCHDOG)
        .collect();
    let groups = promtool_groups();
    for file in SMOKE_FILES {
        let silent: BTreeSet<String> = groups
            .iter()
            .filter(|g| g.file == file && !g.inputs.is_empty())
            .flat_map(|g| g.cases.iter().filter(|c| !c.2).map(|c| c.0.clone()))
            .collect();
        let missing: Vec<_> = names.difference(&silent).collect();
        assert!(missing.is_empty(), "{file} does not check {missing:?}");
    }
}

/// The value an expression pins a label to: its selectors all say `{label="value"}`
/// (the cause alerts' `{cause="timeout"}`).
fn pinned_value(rule: &Rule, label: &str) -> Option<String> {
    let re = regex::Regex::new(&format!(r#"\{{{label}="([^"]+)"\}}"#)).unwrap();
    let values: BTreeSet<String> = re
        .captures_iter(&rule.expr)
        .map(|c| c[1].to_string())
        .collect();
    (values.len() == 1).then(|| values.into_iter().next().unwrap())
}

/// The alerts whose labels can satisfy every matcher (static labels are known, labels from
/// the expression may take any value).
fn matching_alerts<'a>(
    matchers: &Value,
    alerts: &'a [(Rule, BTreeSet<String>)],
) -> Vec<&'a (Rule, BTreeSet<String>)> {
    let matchers = Matcher::list(matchers);
    alerts
        .iter()
        .filter(|(rule, out)| {
            matchers.iter().all(|m| match m.label.as_str() {
                "alertname" => m.is_match(rule.alert.as_deref().unwrap()),
                l => match rule
                    .labels
                    .get(l)
                    .cloned()
                    .or_else(|| pinned_value(rule, l))
                {
                    Some(v) => m.is_match(&v),
                    None => out.contains(l),
                },
            })
        })
        .collect()
}

#[test]
fn inhibit_rules_match_alerts_that_carry_the_equal_labels() {
    let alerts = alert_rules();
    let config = load_yaml(&repo_path("alertmanager/alertmanager.yml"));
    for rule in config["inhibit_rules"].as_array().unwrap() {
        let sources = matching_alerts(&rule["source_matchers"], &alerts);
        let targets = matching_alerts(&rule["target_matchers"], &alerts);
        assert!(
            !sources.is_empty() && !targets.is_empty(),
            "inhibit rule matches no alert: {rule}"
        );
        for (r, out) in sources.iter().chain(targets.iter()) {
            for eq in rule["equal"].as_array().unwrap() {
                let eq = eq.as_str().unwrap();
                assert!(
                    out.contains(eq) || r.labels.contains_key(eq),
                    "inhibit rule {rule}: {} has no label {eq} (an absent label equals every other absent one)",
                    r.name()
                );
            }
        }
        // A rule that can inhibit its own source would silence the root cause too.
        for (s, _) in &sources {
            assert!(
                !targets.iter().any(|(t, _)| t.name() == s.name()),
                "{} inhibits itself: {rule}",
                s.name()
            );
        }
    }
}

fn severity_rank(rule: &Rule) -> u8 {
    match rule.labels["severity"].as_str() {
        "critical" => 3,
        "warning" => 2,
        "info" => 1,
        _ => 0,
    }
}

/// (source, target) alert names of every inhibit rule that can apply.
fn inhibitions() -> Vec<(Rule, Rule, Value)> {
    let alerts = alert_rules();
    let config = load_yaml(&repo_path("alertmanager/alertmanager.yml"));
    let mut out = Vec::new();
    for rule in config["inhibit_rules"].as_array().unwrap() {
        let sources = matching_alerts(&rule["source_matchers"], &alerts);
        let targets = matching_alerts(&rule["target_matchers"], &alerts);
        for (s, _) in &sources {
            for (t, _) in &targets {
                if s.name() != t.name() {
                    out.push((s.clone(), t.clone(), rule.clone()));
                }
            }
        }
    }
    out
}

#[test]
fn a_lower_severity_never_silences_a_higher_one_and_nothing_is_inhibited_job_wide() {
    let config = load_yaml(&repo_path("alertmanager/alertmanager.yml"));
    for rule in config["inhibit_rules"].as_array().unwrap() {
        let equal: Vec<&str> = rule["equal"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(
            equal.iter().any(|l| *l != "job"),
            "inhibit rule silences a whole job: {rule}"
        );
    }
    for (source, target, rule) in inhibitions() {
        assert!(
            severity_rank(&source) >= severity_rank(&target),
            "{} ({}) silences the higher {} ({}): {rule}",
            source.name(),
            source.labels["severity"],
            target.name(),
            target.labels["severity"]
        );
    }
}

/// The alert names after `**label:**` in a runbook, up to the next `.`; "nothing" is none.
fn runbook_list(text: &str, label: &str) -> BTreeSet<String> {
    let marker = format!("**{label}:** ");
    let start = text.find(&marker).unwrap_or_else(|| panic!("no {marker}")) + marker.len();
    let list = &text[start..start + text[start..].find('.').unwrap()];
    list.split(", ")
        .filter(|n| *n != "nothing")
        .map(str::to_string)
        .collect()
}

#[test]
fn runbooks_state_what_each_alert_inhibits_and_is_inhibited_by() {
    let pairs = inhibitions();
    for (rule, _) in alert_rules() {
        let name = rule.name();
        let text =
            std::fs::read_to_string(repo_path(&format!("alerts/runbooks/{name}.md"))).unwrap();
        let inhibits: BTreeSet<String> = pairs
            .iter()
            .filter(|(s, _, _)| s.name() == name)
            .map(|(_, t, _)| t.name().to_string())
            .collect();
        let inhibited_by: BTreeSet<String> = pairs
            .iter()
            .filter(|(_, t, _)| t.name() == name)
            .map(|(s, _, _)| s.name().to_string())
            .collect();
        assert_eq!(
            runbook_list(&text, "Inhibits"),
            inhibits,
            "{name}: runbook's Inhibits"
        );
        assert_eq!(
            runbook_list(&text, "Inhibited by"),
            inhibited_by,
            "{name}: runbook's Inhibited by"
        );
    }
}
