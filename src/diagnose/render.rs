//! A report as text for a terminal, or as JSON for scripts.

use super::Report;
use super::verdict::Finding;
use std::fmt::Write;

pub fn json(report: &Report) -> String {
    serde_json::to_string_pretty(report).expect("a report serialises") + "\n"
}

pub fn text(report: &Report) -> String {
    let mut out = String::new();
    let faults = report.findings.iter().filter(|f| !f.healthy).count();
    let head = match (report.findings.len(), faults) {
        (0, _) => "nothing to diagnose: no URL given, no probe configured or detected".into(),
        (_, 0) => "healthy".into(),
        (_, 1) => "1 fault".into(),
        (_, n) => format!("{n} faults"),
    };
    let _ = writeln!(
        out,
        "gateway-exporter diagnose: {head} ({} ms)",
        report.took_ms
    );
    for f in &report.findings {
        out.push('\n');
        finding(&mut out, f);
    }
    if !report.logs_read.is_empty() {
        out.push_str("\nlogs read:\n");
        for l in &report.logs_read {
            let _ = writeln!(out, "  {l}");
        }
    }
    out
}

fn finding(out: &mut String, f: &Finding) {
    let mark = if f.healthy { "OK   " } else { "FAULT" };
    let url = f
        .url
        .as_deref()
        .map(|u| format!("  {u}"))
        .unwrap_or_default();
    let _ = writeln!(out, "{mark} {}{url}", f.subject);
    let _ = writeln!(out, "  {}", f.summary);
    if f.healthy {
        return;
    }
    let mut field = |name: &str, value: &str| {
        let _ = writeln!(out, "  {name:<12}{value}");
    };
    if f.status != 0 || f.url.is_some() {
        field("status:", &f.status.to_string());
        field("layer:", &format!("{} (vendor {})", f.layer, f.vendor));
    }
    field("cause:", f.cause.as_str());
    if let Some(u) = &f.upstream {
        field("upstream:", u);
    }
    if let Some(p) = &f.pool {
        field("pool:", p);
    }
    if let Some(r) = f.runbook {
        field("runbook:", r);
    }
    list(out, "fingerprint", &f.fingerprint);
    list(out, "evidence", &f.evidence);
    list(out, "changed just before", &f.changes_before);
    list(out, "fix", &f.fix);
    if !f.walk.is_empty() {
        let steps: Vec<String> = f
            .walk
            .iter()
            .map(|s| {
                format!(
                    "{} {} ({})",
                    s.step,
                    if s.ok { "ok" } else { "FAIL" },
                    s.detail
                )
            })
            .collect();
        let _ = writeln!(out, "  walk:       {}", steps.join(" -> "));
    }
}

fn list(out: &mut String, name: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(out, "  {name}:");
    for item in items {
        let _ = writeln!(out, "    {item}");
    }
}
