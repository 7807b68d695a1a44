//! Probes against a real nginx in front of misbehaving upstreams, fixed-response servers
//! wearing each CDN/LB fingerprint, and hostile servers; through `/probe` and the schedule.

mod common;

use common::*;
use std::time::{Duration, Instant};

const MODULES: &str = "modules:\n  http_2xx: {prober: http, timeout: 3s}\n  short: {prober: http, timeout: 1500ms}\n  long: {prober: http, timeout: 10s}\n\
                       probe_endpoint:\n  allowed_targets: [\"127.0.0.1\"]\n";

/// `/probe` output as (status, layer, vendor, reason, success).
fn probe(
    exporter: &Exporter,
    target: &str,
    module: &str,
) -> (String, u16, String, String, String, f64) {
    let path = format!(
        "/probe?module={module}&target={}",
        target.replace('&', "%26")
    );
    let reply = get(exporter.port, &path);
    assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    let text = reply.body;
    let code = sample_value(&text, "probe_http_status_code", &[]).unwrap() as u16;
    let success = sample_value(&text, "probe_success", &[]).unwrap();
    let label = |name: &str| {
        text.lines()
            .find(|l| l.starts_with("probe_failure_info{"))
            .and_then(|l| l.split(&format!("{name}=\"")).nth(1))
            .and_then(|rest| rest.split('"').next())
            .unwrap_or("")
            .to_string()
    };
    let (layer, vendor, reason) = (label("layer"), label("vendor"), label("reason"));
    (text, code, layer, vendor, reason, success)
}

#[test]
fn nginx_in_front_of_broken_upstreams() {
    let _beside = run_beside_others();
    let reset = FakeUpstream::start(Behaviour::Reset);
    let hang = FakeUpstream::start(Behaviour::Hang);
    let app503 = FakeUpstream::respond(
        "503 Service Unavailable",
        &["Content-Type: application/json"],
        "{\"error\":\"db\"}",
    );
    let garbage = FakeUpstream::start(Behaviour::Raw("this is not http\r\n\r\n".into()));
    let dead = free_port();
    let port = free_port();
    let nginx = Nginx::start(
        &format!(
            "server {{ listen 127.0.0.1:{port}; server_name app.test;\n\
               location /refused {{ proxy_pass http://127.0.0.1:{dead}; }}\n\
               location /reset {{ proxy_pass http://127.0.0.1:{}; }}\n\
               location /hang {{ proxy_pass http://127.0.0.1:{}; proxy_read_timeout 1s; }}\n\
               location /app503 {{ proxy_pass http://127.0.0.1:{}; }}\n\
               location /garbage {{ proxy_pass http://127.0.0.1:{}; }}\n\
               location /ok {{ return 200 \"fine\\n\"; }}\n\
               location /moved {{ return 302 /ok; }}\n}}",
            reset.port, hang.port, app503.port, garbage.port
        ),
        port,
    );
    let exporter = Exporter::start(MODULES);
    #[rustfmt::skip]
    let table: &[(&str, u16, &str, &str, &str)] = &[
        ("/refused", 502, "proxy", "nginx", "http_status"),
        ("/reset", 502, "proxy", "nginx", "http_status"),
        ("/hang", 504, "proxy", "nginx", "http_status"),
        // nginx passes an upstream's HTTP/0.9-looking garbage through (access log status 009).
        ("/garbage", 0, "unknown", "unknown", "invalid_response"),
        ("/app503", 503, "app", "unknown", "http_status"),
        ("/ok", 200, "", "", ""),
        ("/moved", 200, "", "", ""),
    ];
    for (path, code, layer, vendor, reason) in table {
        let (text, got_code, got_layer, got_vendor, got_reason, success) = probe(
            &exporter,
            &format!("http://127.0.0.1:{port}{path}"),
            "http_2xx",
        );
        assert_eq!(
            (
                got_code,
                got_layer.as_str(),
                got_vendor.as_str(),
                got_reason.as_str()
            ),
            (*code, *layer, *vendor, *reason),
            "{path}: {text}"
        );
        assert_eq!(success, if *code == 200 { 1.0 } else { 0.0 }, "{path}");
        promtool_check_metrics(&text).unwrap_or_else(|e| panic!("{path}: promtool: {e}\n{text}"));
    }
    let (text, ..) = probe(
        &exporter,
        &format!("http://127.0.0.1:{port}/moved"),
        "http_2xx",
    );
    assert_eq!(sample_value(&text, "probe_http_redirects", &[]), Some(1.0));
    assert!(
        nginx.error_log_text().contains("Connection refused"),
        "nginx really proxied"
    );
}

#[test]
fn connection_failures_have_reasons() {
    let _beside = run_beside_others();
    let exporter = Exporter::start(MODULES);
    let dead = free_port();
    let reset = FakeUpstream::start(Behaviour::Reset);
    let close = FakeUpstream::start(Behaviour::Close);
    let garbage = FakeUpstream::start(Behaviour::Raw("garbage\r\n\r\n".into()));
    let greeter = FakeUpstream::start(Behaviour::Greet("220 not a TLS server\r\n".into()));
    let table = [
        (format!("http://127.0.0.1:{dead}/"), "connect_refused"),
        (format!("http://127.0.0.1:{}/", reset.port), "reset"),
        (
            format!("http://127.0.0.1:{}/", close.port),
            "premature_close",
        ),
        (
            format!("http://127.0.0.1:{}/", garbage.port),
            "invalid_response",
        ),
        (format!("https://127.0.0.1:{}/", greeter.port), "tls"),
    ];
    for (target, reason) in table {
        let (text, code, layer, vendor, got, success) = probe(&exporter, &target, "http_2xx");
        assert_eq!(
            (code, got.as_str(), success),
            (0, reason, 0.0),
            "{target}: {text}"
        );
        assert_eq!(
            (layer.as_str(), vendor.as_str()),
            ("unknown", "unknown"),
            "{target}"
        );
    }
}

#[test]
fn fixed_responses_wearing_each_fingerprint() {
    let _beside = run_beside_others();
    let exporter = Exporter::start(MODULES);
    // Every vendor's pages are src/probe/fingerprint.rs's table; here, one row per way the
    // evidence travels over a real connection: headers only, body only, both, an odd reason
    // phrase, and an app's own error.
    #[rustfmt::skip]
    let table: &[(&str, &[&str], &str, &str, &str)] = &[
        ("521 Origin Down", &["Server: cloudflare", "CF-RAY: 8a1b2c3d4e5f6a7b-AMS", "cf-cache-status: DYNAMIC"],
         "<html><div id=\"cf-wrapper\"><div id=\"cf-error-details\">Web server is down</div></div></html>", "cdn", "cloudflare"),
        ("503 Service Unavailable", &["X-Azure-Ref: 0zxV+XAAAAAD"], "", "cdn", "azure_front_door"),
        ("503 Service Unavailable", &["Cache-Control: no-cache", "Content-Type: text/html"],
         "<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n",
         "load_balancer", "haproxy"),
        ("503 Backend fetch failed", &["X-Varnish: 32770", "Via: 1.1 varnish (Varnish/7.1)", "Retry-After: 5"],
         "<h1>Error 503 Backend fetch failed</h1><h3>Guru Meditation:</h3><p>XID: 32770</p>", "proxy", "varnish"),
        ("500 Internal Server Error", &["Server: gunicorn"], "Internal Server Error", "app", "unknown"),
    ];
    for (status, headers, body, layer, vendor) in table {
        let fake = FakeUpstream::respond(status, headers, body);
        let (text, code, got_layer, got_vendor, reason, _) = probe(
            &exporter,
            &format!("http://127.0.0.1:{}/", fake.port),
            "http_2xx",
        );
        assert_eq!(code.to_string(), status[..3], "{status}");
        assert_eq!(
            (got_layer.as_str(), got_vendor.as_str(), reason.as_str()),
            (*layer, *vendor, "http_status"),
            "{headers:?}: {text}"
        );
    }
}

/// Wall-clock bounds are asserted at twice the timeout, with no sibling test running.
#[test]
fn hostile_servers_finish_within_the_timeout() {
    let _alone = run_alone();
    let exporter = Exporter::start(MODULES);
    let hang = FakeUpstream::start(Behaviour::Hang);
    let trickle = FakeUpstream::start(Behaviour::Trickle(Duration::from_millis(300)));
    let endless = FakeUpstream::start(Behaviour::Endless);
    for (fake, reason, success) in [
        (&hang, "timeout", 0.0),
        (&trickle, "timeout", 0.0),
        (&endless, "", 1.0),
    ] {
        let started = Instant::now();
        let (text, _, _, _, got, ok) = probe(
            &exporter,
            &format!("http://127.0.0.1:{}/", fake.port),
            "short",
        );
        let took = started.elapsed();
        assert!(
            took < Duration::from_millis(3000),
            "the 1.5 s module took {took:?}: {text}"
        );
        assert_eq!((got.as_str(), ok), (reason, success), "{text}");
    }
    // The endless body is read up to the limit, not to the end.
    let (text, ..) = probe(
        &exporter,
        &format!("http://127.0.0.1:{}/", endless.port),
        "short",
    );
    let read = sample_value(&text, "probe_http_uncompressed_body_length", &[]).unwrap();
    assert!(
        read <= 64.0 * 1024.0 + 65536.0,
        "read {read} bytes of an endless body"
    );
    // Prometheus' scrape timeout header shortens the module's 10 s timeout.
    let started = Instant::now();
    let path = format!("/probe?module=long&target=http://127.0.0.1:{}/", hang.port);
    let reply = http(
        "GET",
        exporter.port,
        &path,
        &[("X-Prometheus-Scrape-Timeout-Seconds", "1.5")],
    );
    assert!(
        started.elapsed() < Duration::from_millis(3000),
        "a 1.5 s scrape timeout took {:?}",
        started.elapsed()
    );
    assert_eq!(sample_value(&reply.body, "probe_success", &[]), Some(0.0));
}

#[test]
fn probe_endpoint_refuses_what_it_must() {
    let _beside = run_beside_others();
    let exporter = Exporter::start(MODULES);
    for (path, status, text) in [
        ("/probe?target=http://10.0.0.1/", 403, "not allowed"),
        (
            "/probe?target=http://127.0.0.1/&module=dns",
            400,
            "Unknown module",
        ),
        ("/probe?module=http_2xx", 400, "Target parameter is missing"),
        ("/probe?target=http://%5B::1/", 400, "Invalid target"),
    ] {
        let reply = get(exporter.port, path);
        assert_eq!(reply.status, status, "{path}: {}", reply.body);
        assert!(reply.body.contains(text), "{path}: {}", reply.body);
    }
}

#[test]
fn hostname_parameter_sets_the_host_header() {
    let _beside = run_beside_others();
    let port = free_port();
    let _nginx = Nginx::start(
        &format!(
            "server {{ listen 127.0.0.1:{port} default_server; return 404; }}\n\
             server {{ listen 127.0.0.1:{port}; server_name www.example.test; return 200 \"site\\n\"; }}"
        ),
        port,
    );
    let exporter = Exporter::start(MODULES);
    let (_, code, ..) = probe(&exporter, &format!("http://127.0.0.1:{port}/"), "http_2xx");
    assert_eq!(code, 404);
    let reply = get(
        exporter.port,
        &format!(
            "/probe?module=http_2xx&target=http://127.0.0.1:{port}/&hostname=www.example.test"
        ),
    );
    assert_eq!(
        sample_value(&reply.body, "probe_http_status_code", &[]),
        Some(200.0),
        "{}",
        reply.body
    );
}

#[test]
fn https_reports_certificate_expiry_and_tls_version() {
    let _beside = run_beside_others();
    let dir = tempdir();
    let (cert, key, not_after) = self_signed_cert(dir.path(), "secure.example.test");
    let port = free_port();
    let _nginx = Nginx::start(
        &format!(
            "server {{ listen 127.0.0.1:{port} ssl; server_name secure.example.test;\n\
             ssl_certificate {}; ssl_certificate_key {};\n\
             location / {{ return 200 \"tls\\n\"; }} location /down {{ return 503; }} }}",
            cert.display(),
            key.display()
        ),
        port,
    );
    let exporter = Exporter::start(
        "modules:\n  trusting: {prober: http, timeout: 3s, http: {tls_config: {insecure_skip_verify: true}, fail_if_not_ssl: true}}\n\
         \x20 verifying: {prober: http, timeout: 3s}\nprobe_endpoint:\n  allowed_targets: ['127.0.0.1']\n",
    );
    let (text, code, _, _, reason, success) =
        probe(&exporter, &format!("https://127.0.0.1:{port}/"), "trusting");
    assert_eq!((code, reason.as_str(), success), (200, "", 1.0), "{text}");
    assert_eq!(
        sample_value(&text, "probe_ssl_earliest_cert_expiry", &[]),
        Some(not_after as f64),
        "{text}"
    );
    assert_eq!(sample_value(&text, "probe_http_ssl", &[]), Some(1.0));
    // nginx 1.22 enables TLS 1.3 only when ssl_protocols says so; its default tops out at 1.2.
    assert_eq!(
        sample_value(&text, "probe_tls_version_info", &[("version", "TLS 1.2")]),
        Some(1.0),
        "{text}"
    );
    promtool_check_metrics(&text).unwrap();
    // A self-signed certificate fails verification: a TLS failure, before any HTTP.
    let (text, code, layer, _, reason, _) = probe(
        &exporter,
        &format!("https://127.0.0.1:{port}/"),
        "verifying",
    );
    assert_eq!(
        (code, reason.as_str(), layer.as_str()),
        (0, "tls", "unknown"),
        "{text}"
    );
    // The nginx error page over TLS is fingerprinted like any other.
    let (_, code, layer, vendor, reason, _) = probe(
        &exporter,
        &format!("https://127.0.0.1:{port}/down"),
        "trusting",
    );
    assert_eq!(
        (code, layer.as_str(), vendor.as_str(), reason.as_str()),
        (503, "proxy", "nginx", "http_status")
    );
}

#[test]
fn body_checks_fail_with_body_mismatch() {
    let _beside = run_beside_others();
    let port = free_port();
    let _nginx = Nginx::start(
        &format!(
            "server {{ listen 127.0.0.1:{port}; location / {{ return 200 \"all systems fine\\n\"; }} }}"
        ),
        port,
    );
    let exporter = Exporter::start(
        "modules:\n\
         \x20 wants_fine: {prober: http, http: {fail_if_body_not_matches_regexp: ['systems? fine']}}\n\
         \x20 wants_down: {prober: http, http: {fail_if_body_not_matches_regexp: ['down']}}\n\
         \x20 hates_fine: {prober: http, http: {fail_if_body_matches_regexp: ['fi+ne']}}\n\
         probe_endpoint:\n  allowed_targets: ['127.0.0.1']\n",
    );
    let target = format!("http://127.0.0.1:{port}/");
    for (module, reason, success) in [
        ("wants_fine", "", 1.0),
        ("wants_down", "body_mismatch", 0.0),
        ("hates_fine", "body_mismatch", 0.0),
    ] {
        let (text, code, _, _, got, ok) = probe(&exporter, &target, module);
        assert_eq!(
            (code, got.as_str(), ok),
            (200, reason, success),
            "{module}: {text}"
        );
        assert_eq!(
            sample_value(&text, "probe_failed_due_to_regex", &[]),
            Some(1.0 - success),
            "{module}"
        );
    }
}
