//! Scheduled probes take every HTTP setting a `/probe` module takes (body regexps,
//! `fail_if_ssl`, `fail_if_not_ssl`), judged against a real nginx over HTTP and HTTPS, and
//! name the site they watch (`vhost` of `gateway_probe_info`).

mod common;

use common::*;
use std::time::Duration;

/// The reason of the target's `gateway_probe_failure_info`, "" when it has none.
fn failure_reason(text: &str, target: &str) -> String {
    let needle = format!("target=\"{target}\"");
    text.lines()
        .find(|l| l.starts_with("gateway_probe_failure_info{") && l.contains(&needle))
        .and_then(|l| l.split("reason=\"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("")
        .to_string()
}

#[test]
fn scheduled_probes_judge_body_regexps_and_tls() {
    let dir = tempdir();
    let (cert, key, _) = self_signed_cert(dir.path(), "secure.example.test");
    let (plain, tls) = (free_port(), free_port());
    let _nginx = Nginx::start(
        &format!(
            "server {{ listen 127.0.0.1:{plain}; server_name plain.test;\n\
               location /ok {{ return 200 \"all good\\n\"; }}\n\
               location /fatal {{ return 200 \"PHP Fatal error: database gone\\n\"; }} }}\n\
             server {{ listen 127.0.0.1:{tls} ssl; server_name secure.example.test;\n\
               ssl_certificate {}; ssl_certificate_key {};\n\
               location / {{ return 200 \"all good\\n\"; }} }}",
            cert.display(),
            key.display()
        ),
        plain,
    );
    let base = format!("http://127.0.0.1:{plain}");
    let secure = format!("https://127.0.0.1:{tls}/");
    let config = format!(
        "probes:\n\
         - {{name: regexp_hit, url: '{base}/fatal', interval: 200ms, fail_if_body_matches_regexp: ['Fatal error']}}\n\
         - {{name: regexp_miss, url: '{base}/ok', interval: 200ms, fail_if_body_matches_regexp: ['Fatal error'], vhost: shop.example}}\n\
         - {{name: must_match, url: '{base}/fatal', interval: 200ms, fail_if_body_not_matches_regexp: ['all good']}}\n\
         - {{name: tls_forbidden, url: '{secure}', interval: 200ms, fail_if_ssl: true, tls_config: {{insecure_skip_verify: true}}}}\n\
         - {{name: tls_allowed, url: '{secure}', interval: 200ms, fail_if_not_ssl: true, tls_config: {{insecure_skip_verify: true}}}}\n\
         - {{name: tls_required, url: '{base}/ok', interval: 200ms, fail_if_not_ssl: true}}\n"
    );
    let exporter = Exporter::start(&config);
    let text = eventually(Duration::from_secs(10), "every probe ran", || {
        let text = exporter.metrics();
        let all = [
            "regexp_hit",
            "regexp_miss",
            "must_match",
            "tls_forbidden",
            "tls_allowed",
            "tls_required",
        ]
        .iter()
        .all(|t| sample_value(&text, "gateway_probe_success", &[("target", t)]).is_some());
        all.then_some(text)
    });
    let table = [
        ("regexp_hit", 0.0, "body_mismatch"),
        ("regexp_miss", 1.0, ""),
        ("must_match", 0.0, "body_mismatch"),
        ("tls_forbidden", 0.0, "ssl_forbidden"),
        ("tls_allowed", 1.0, ""),
        ("tls_required", 0.0, "ssl_required"),
    ];
    for (target, success, reason) in table {
        assert_eq!(
            sample_value(
                &text,
                "gateway_probe_success",
                &[("target", target), ("path", "public")]
            ),
            Some(success),
            "{target}:\n{text}"
        );
        assert_eq!(failure_reason(&text, target), reason, "{target}:\n{text}");
    }
    // The site a probe watches: the `vhost` key, else the URL's host.
    assert_eq!(
        sample_value(
            &text,
            "gateway_probe_info",
            &[("target", "regexp_miss"), ("vhost", "shop.example")]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample_value(
            &text,
            "gateway_probe_info",
            &[("target", "regexp_hit"), ("vhost", "127.0.0.1")]
        ),
        Some(1.0),
        "{text}"
    );
}
