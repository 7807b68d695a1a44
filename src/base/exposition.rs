//! The two exposition formats: OpenMetrics (what prometheus-client writes) and the
//! Prometheus text format 0.0.4 (what older scrapers and promtool 2.42 read), negotiated on
//! the `Accept` header.

use prometheus_client::registry::Registry;

/// The exposition format a scraper asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    Text004,
}

impl Format {
    /// Content negotiation on the `Accept` header: OpenMetrics only when asked for.
    pub fn from_accept(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text004,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Text004 => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

pub fn encode_registry(registry: &Registry, format: Format) -> String {
    let mut om = String::with_capacity(16 * 1024);
    prometheus_client::encoding::text::encode(&mut om, registry)
        .expect("encoding into a String cannot fail");
    match format {
        Format::OpenMetrics => om,
        Format::Text004 => openmetrics_to_text004(&om),
    }
}

/// Rewrite prometheus-client's OpenMetrics output as Prometheus text format 0.0.4.
///
/// The differences that matter to promtool 2.42 and older scrapers: a counter family is
/// named after its `_total` samples, `info` becomes a gauge named `<name>_info`, `unknown`
/// is `untyped`, and `# UNIT`, `_created` samples, exemplars and `# EOF` do not exist.
pub fn openmetrics_to_text004(om: &str) -> String {
    let mut out = String::with_capacity(om.len());
    // Family renames decided by the TYPE line; HELP comes before TYPE, so buffer it.
    let mut pending_help: Option<(&str, &str)> = None;
    let mut created_suffix: Option<String> = None;
    for line in om.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
            pending_help = Some((name, text));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let (family, kind) = match kind {
                "counter" => (format!("{name}_total"), "counter"),
                "info" => (format!("{name}_info"), "gauge"),
                "unknown" => (name.to_string(), "untyped"),
                "gaugehistogram" | "stateset" => (name.to_string(), "untyped"),
                other => (name.to_string(), other),
            };
            created_suffix = (kind == "counter" || kind == "histogram" || kind == "summary")
                .then(|| format!("{name}_created"));
            if let Some((help_name, text)) = pending_help.take()
                && help_name == name
            {
                out.push_str("# HELP ");
                out.push_str(&family);
                out.push(' ');
                out.push_str(text);
                out.push('\n');
            }
            out.push_str("# TYPE ");
            out.push_str(&family);
            out.push(' ');
            out.push_str(kind);
            out.push('\n');
            continue;
        }
        if line.starts_with('#') {
            continue; // # UNIT, # EOF
        }
        if let Some(created) = &created_suffix
            && line.starts_with(created.as_str())
            && matches!(line.as_bytes().get(created.len()), Some(b'{') | Some(b' '))
        {
            continue;
        }
        // Exemplars follow the value as ` # {...}`; label values never contain a bare
        // ` # ` outside quotes, but search after the closing brace to be safe.
        let sample = match line.rfind('}') {
            Some(brace) => match line[brace..].find(" # ") {
                Some(ex) => &line[..brace + ex],
                None => line,
            },
            None => line.split(" # ").next().unwrap_or(line),
        };
        out.push_str(sample);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::metrics::FGauge;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::registry::Unit;

    #[test]
    fn counters_and_units_become_text004() {
        let mut registry = Registry::with_prefix("gateway");
        let c = Counter::<u64>::default();
        c.inc_by(3);
        registry.register("things", "Things seen", c);
        let g = FGauge::default();
        g.set(0.25);
        registry.register_with_unit("wait", "Time waited", Unit::Seconds, g);
        let text = encode_registry(&registry, Format::Text004);
        assert_eq!(
            text,
            "# HELP gateway_things_total Things seen.\n# TYPE gateway_things_total counter\n\
             gateway_things_total 3\n# HELP gateway_wait_seconds Time waited.\n\
             # TYPE gateway_wait_seconds gauge\ngateway_wait_seconds 0.25\n"
        );
        let om = encode_registry(&registry, Format::OpenMetrics);
        assert!(om.ends_with("# EOF\n"));
        assert!(om.contains("# TYPE gateway_things counter"));
    }

    #[test]
    fn negotiation_prefers_openmetrics_only_when_asked() {
        let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::from_accept(Some(prom)), Format::OpenMetrics);
        assert_eq!(Format::from_accept(Some("*/*")), Format::Text004);
        assert_eq!(Format::from_accept(None), Format::Text004);
    }
}
