//! The runbooks of alerts/runbooks, embedded at build time (build.rs): looked up by alert
//! name, their Mitigation steps quoted in verdicts, rendered as HTML for /runbooks/<alert>.

/// `(alert name, markdown)`, sorted by name.
static RUNBOOKS: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/runbooks.rs"));

/// Every embedded runbook's alert name.
pub fn names() -> impl Iterator<Item = &'static str> {
    RUNBOOKS.iter().map(|(name, _)| *name)
}

/// The markdown of `alert`'s runbook.
pub fn markdown(alert: &str) -> Option<&'static str> {
    RUNBOOKS
        .binary_search_by(|(name, _)| name.cmp(&alert))
        .ok()
        .map(|i| RUNBOOKS[i].1)
}

/// The first-level items of the runbook's `## Mitigation` list, each as one line of text
/// (code spans keep their backticks): the fix steps a verdict quotes.
pub fn mitigation(alert: &str) -> Vec<String> {
    let Some(text) = markdown(alert) else {
        return Vec::new();
    };
    let Some(start) = text.find("\n## Mitigation") else {
        return Vec::new();
    };
    let section = &text[start + 1..];
    let section = section[2..]
        .find("\n## ")
        .map_or(section, |end| &section[..end + 2]);
    let mut steps: Vec<String> = Vec::new();
    for line in section.lines().skip(1) {
        if let Some(item) = line.strip_prefix("- ") {
            steps.push(item.trim().to_string());
        } else if let Some(last) = steps.last_mut()
            && line.starts_with("  ")
            && !line.trim().is_empty()
            && !line.starts_with("      ")
        {
            // A wrapped item: its continuation lines are indented by two.
            last.push(' ');
            last.push_str(line.trim());
        }
    }
    steps
}

/// The runbook as an HTML fragment.
pub fn html(alert: &str) -> Option<String> {
    let text = markdown(alert)?;
    let mut out = String::new();
    pulldown_cmark::html::push_html(&mut out, pulldown_cmark::Parser::new(text));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_runbook_is_embedded_and_found_by_name() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("alerts/runbooks");
        let on_disk = std::fs::read_dir(dir).unwrap().count();
        assert_eq!(names().count(), on_disk);
        for name in names() {
            assert!(markdown(name).unwrap().starts_with(&format!("# {name}")));
        }
        assert_eq!(markdown("GatewayNoSuchAlert"), None);
    }

    #[test]
    fn mitigation_steps_are_the_items_of_that_section_only() {
        let steps = mitigation("GatewayUpstreamConnectionRefused");
        assert_eq!(steps.len(), 3, "{steps:?}");
        assert!(steps[0].starts_with("Start the app"), "{steps:?}");
        assert!(
            steps[1].ends_with("`nginx -t && systemctl reload nginx`."),
            "wrapped item joined: {steps:?}"
        );
        for name in names() {
            assert!(
                !mitigation(name).is_empty(),
                "{name} has no Mitigation items"
            );
        }
    }

    #[test]
    fn renders_markdown_as_html() {
        let html = html("GatewayUpstreamConnectionRefused").unwrap();
        assert!(html.contains("<h2>Mitigation</h2>"), "{html}");
        assert!(html.contains("<code>"), "{html}");
    }
}
