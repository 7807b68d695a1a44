//! `/probe` agrees with Debian's blackbox_exporter: the same modules (one blackbox.yml, read
//! by both), the same targets served by a real nginx over HTTP and HTTPS (self-signed), and
//! every value a user alerts on compared side by side.

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

/// A blackbox.yml as users write it; both exporters read these lines unchanged.
const MODULES: &str = r#"modules:
  http_2xx:
    prober: http
    timeout: 5s
  http_2xx_no_follow:
    prober: http
    timeout: 5s
    http:
      follow_redirects: false
  http_302_no_follow:
    prober: http
    timeout: 5s
    http:
      follow_redirects: false
      valid_status_codes: [302]
  http_302_no_follow_regexp:
    prober: http
    timeout: 5s
    http:
      follow_redirects: false
      valid_status_codes: [302]
      fail_if_body_not_matches_regexp: ["Found"]
  http_302_any:
    prober: http
    timeout: 5s
    http:
      valid_status_codes: [200, 302]
  http_404:
    prober: http
    timeout: 5s
    http:
      valid_status_codes: [404]
  http_head:
    prober: http
    timeout: 5s
    http:
      method: HEAD
  http_post_sees_post:
    prober: http
    timeout: 5s
    http:
      method: POST
      headers:
        Content-Type: application/json
      body: '{"ping": true}'
      fail_if_body_not_matches_regexp: ["^POST"]
  http_post_sees_get:
    prober: http
    timeout: 5s
    http:
      method: POST
      body: '{"ping": true}'
      fail_if_body_not_matches_regexp: ["^GET"]
  http_body_no_error:
    prober: http
    timeout: 5s
    http:
      fail_if_body_matches_regexp: ["(?i)error"]
  http_body_healthy:
    prober: http
    timeout: 5s
    http:
      fail_if_body_not_matches_regexp: ["healthy", "version: [0-9]+"]
  https_verified:
    prober: http
    timeout: 5s
    http:
      fail_if_not_ssl: true
  https_insecure:
    prober: http
    timeout: 5s
    http:
      fail_if_not_ssl: true
      tls_config:
        insecure_skip_verify: true
  tls_insecure_any:
    prober: http
    timeout: 5s
    http:
      tls_config:
        insecure_skip_verify: true
  http_with_credentials:
    prober: http
    timeout: 5s
    http:
      headers:
        Authorization: Bearer not-for-other-hosts
  http_header_checks:
    prober: http
    timeout: 5s
    http:
      fail_if_header_matches:
        - header: X-Debug
          regexp: ".+"
          allow_missing: true
      fail_if_header_not_matches:
        - header: Content-Type
          regexp: "^text/plain"
  http_needs_version_header:
    prober: http
    timeout: 5s
    http:
      fail_if_header_not_matches:
        - header: X-Version
          regexp: "[0-9]"
  http_small_body:
    prober: http
    timeout: 5s
    http:
      body_size_limit: 1KB
  http_small_body_regexp:
    prober: http
    timeout: 5s
    http:
      body_size_limit: 1KB
      fail_if_body_matches_regexp: ["never there"]
  http_slow_body_regexp:
    prober: http
    timeout: 1s
    http:
      fail_if_body_not_matches_regexp: ["x"]
  http_host_a:
    prober: http
    timeout: 5s
    http:
      fail_if_body_not_matches_regexp: ["host=a\\.test"]
  plain_only:
    prober: http
    timeout: 5s
    http:
      fail_if_ssl: true
      tls_config:
        insecure_skip_verify: true
"#;

/// The values alerts are written on; `probe_ssl_earliest_cert_expiry` is absent without TLS.
const COMPARED: [&str; 6] = [
    "probe_success",
    "probe_http_status_code",
    "probe_http_redirects",
    "probe_failed_due_to_regex",
    "probe_http_ssl",
    "probe_ssl_earliest_cert_expiry",
];

fn start_blackbox(dir: &std::path::Path) -> (Daemon, u16) {
    let config = dir.join("blackbox.yml");
    std::fs::write(&config, MODULES).unwrap();
    let port = free_port();
    let mut cmd = Command::new(require("prometheus-blackbox-exporter"));
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let daemon = Daemon::spawn("blackbox", cmd, dir);
    wait_for_port(port, Duration::from_secs(10));
    (daemon, port)
}

/// The compared values of one `/probe` answer, `None` for an absent series. A target
/// written `URL hostname=H` is probed with `&hostname=H`.
fn values(port: u16, module: &str, target: &str) -> [Option<f64>; 6] {
    let (url, hostname) = target.split_once(" hostname=").unwrap_or((target, ""));
    let reply = get(
        port,
        &format!(
            "/probe?module={module}&target={}&hostname={hostname}",
            url.replace('&', "%26")
        ),
    );
    assert_eq!(reply.status, 200, "{module} {target}: {}", reply.body);
    COMPARED.map(|name| sample_value(&reply.body, name, &[]))
}

fn show(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

#[test]
fn probe_reports_what_blackbox_reports() {
    let www = tempdir();
    let (cert, key, not_after) = self_signed_cert(www.path(), "127.0.0.1");
    std::fs::write(www.path().join("static.html"), "<p>a static page</p>\n").unwrap();
    std::fs::write(www.path().join("big.txt"), "z".repeat(3000)).unwrap();
    std::fs::write(www.path().join("exact.txt"), "z".repeat(1024)).unwrap();
    let (http, https, refused) = (free_port(), free_port(), free_port());
    let nginx = Nginx::start(
        &format!(
            "server {{ listen 127.0.0.1:{http}; listen 127.0.0.1:{https} ssl;\n\
               ssl_certificate {cert}; ssl_certificate_key {key};\n\
               root {www};\n\
               location = /ok {{ return 200 \"ok\\n\"; }}\n\
               location = /fail {{ return 500 \"failed\\n\"; }}\n\
               location = /r1 {{ return 302 /ok; }}\n\
               location = /r2 {{ return 301 /r1; }}\n\
               location = /r3 {{ return 307 /r2; }}\n\
               location = /where {{ return 200 \"host=$host\\n\"; }}\n\
               location = /relative {{ absolute_redirect off; return 302 /where; }}\n\
               location = /absolute {{ return 302 http://127.0.0.1:{http}/where; }}\n\
               location = /no-location {{ return 302; }}\n\
               location = /loop {{ return 302 /loop; }}\n\
               location = /method {{ return 200 \"$request_method\\n\"; }}\n\
               location = /post302 {{ return 302 /method; }}\n\
               location = /post303 {{ return 303 /method; }}\n\
               location = /post307 {{ return 307 /method; }}\n\
               location = /post308 {{ return 308 /method; }}\n\
               location = /to-https {{ return 302 https://127.0.0.1:{https}/ok; }}\n\
               location = /to-http {{ return 302 http://127.0.0.1:{http}/ok; }}\n\
               location = /healthy {{ return 200 \"status: healthy\\nversion: 42\\n\"; }}\n\
               location = /auth {{ if ($http_authorization = \"\") {{ return 401 \"none\\n\"; }} return 200 \"credentials\\n\"; }}\n\
               location = /to-auth {{ return 302 /auth; }}\n\
               location = /to-localhost-auth {{ return 302 http://localhost:{http}/auth; }}\n\
               location = /debug {{ add_header X-Debug on; return 200 \"ok\\n\"; }}\n\
               location = /versioned {{ add_header X-Version 3; return 200 \"ok\\n\"; }}\n\
               location = /degraded {{ return 200 \"status: healthy\\nlast Error: disk full\\n\"; }}\n\
             }}",
            cert = cert.display(),
            key = key.display(),
            www = www.path().display(),
        ),
        http,
    );
    // An app that sends its head, then one byte of body a second.
    let trickle = FakeUpstream::start(Behaviour::Trickle(Duration::from_secs(1)));
    // An app whose redirect points nowhere a URL can.
    let bad_location = FakeUpstream::respond("302 Found", &["Location: http://[::1"], "");
    let dir = tempdir();
    let (_blackbox, blackbox) = start_blackbox(dir.path());
    let ours = Exporter::start(&format!(
        "{MODULES}probe_endpoint:\n  allowed_targets: [\"127.0.0.1\", \"localhost\"]\n"
    ));
    let h = |path: &str| format!("http://127.0.0.1:{http}{path}");
    let s = |path: &str| format!("https://127.0.0.1:{https}{path}");
    #[rustfmt::skip]
    let table: Vec<(&str, String, [Option<f64>; 6])> = vec![
        // module, target, what both must report (success, code, redirects, regex, ssl, expiry)
        ("http_2xx", h("/ok"), [Some(1.0), Some(200.0), Some(0.0), Some(0.0), Some(0.0), None]),
        ("http_2xx", h("/missing"), [Some(0.0), Some(404.0), Some(0.0), Some(0.0), Some(0.0), None]),
        ("http_2xx", h("/fail"), [Some(0.0), Some(500.0), Some(0.0), Some(0.0), Some(0.0), None]),
        ("http_404", h("/missing"), [Some(1.0), Some(404.0), Some(0.0), Some(0.0), Some(0.0), None]),
        ("http_2xx", h("/r3"), [Some(1.0), Some(200.0), Some(3.0), Some(0.0), Some(0.0), None]),
        ("http_2xx_no_follow", h("/r1"), [Some(0.0), Some(302.0), Some(1.0), Some(0.0), Some(0.0), None]),
        ("http_2xx_no_follow", h("/ok"), [Some(1.0), Some(200.0), Some(0.0), Some(0.0), Some(0.0), None]),
        ("http_302_no_follow", h("/r1"), [Some(1.0), Some(302.0), Some(1.0), Some(0.0), Some(0.0), None]),
        // blackbox closes the body of a redirect it does not follow: its regexps always fail.
        ("http_302_no_follow_regexp", h("/r1"), [Some(0.0), Some(302.0), Some(1.0), Some(1.0), Some(0.0), None]),
        ("http_2xx", h("/no-location"), [Some(0.0), Some(302.0), Some(0.0), Some(0.0), Some(0.0), None]),
        ("http_302_any", h("/no-location"), [Some(1.0), Some(302.0), Some(0.0), Some(0.0), Some(0.0), None]),
        ("http_2xx", format!("http://127.0.0.1:{}/", bad_location.port), [Some(0.0), Some(0.0), Some(0.0), Some(0.0), Some(0.0), None]),
        ("http_2xx", h("/loop"), [Some(0.0), Some(302.0), Some(11.0), Some(0.0), Some(0.0), None]),
        // ... and counts the 11th redirect of a loop a success when 302 is a valid code.
        ("http_302_any", h("/loop"), [Some(1.0), Some(302.0), Some(11.0), Some(0.0), Some(0.0), None]),
        ("http_head", h("/ok"), [Some(1.0), Some(200.0), Some(0.0), Some(0.0), Some(0.0), None]),
        ("http_head", h("/r2"), [Some(1.0), Some(200.0), Some(2.0), Some(0.0), Some(0.0), None]),
        ("http_post_sees_post", h("/method"), [Some(1.0), Some(200.0), Some(0.0), Some(0.0), Some(0.0), None]),
        ("http_post_sees_get", h("/post302"), [Some(1.0), Some(200.0), Some(1.0), Some(0.0), Some(0.0), None]),
        ("http_post_sees_get", h("/post303"), [Some(1.0), Some(200.0), Some(1.0), Some(0.0), Some(0.0), None]),
        ("http_post_sees_post", h("/post307"), [Some(1.0), Some(200.0), Some(1.0), Some(0.0), Some(0.0), None]),
        ("http_post_sees_post", h("/post308"), [Some(1.0), Some(200.0), Some(1.0), Some(0.0), Some(0.0), None]),
        ("http_post_sees_post", h("/static.html"), [Some(0.0), Some(405.0), Some(0.0), Some(0.0), Some(0.0), None]),
        ("http_body_no_error", h("/healthy"), [Some(1.0), Some(200.0), Some(0.0), Some(0.0), Some(0.0), None]),
        ("http_body_no_error", h("/degraded"), [Some(0.0), Some(200.0), Some(0.0), Some(1.0), Some(0.0), None]),
        ("http_body_no_error", h("/fail"), [Some(0.0), Some(500.0), Some(0.0), Some(0.0), Some(0.0), None]),
        ("http_body_healthy", h("/healthy"), [Some(1.0), Some(200.0), Some(0.0), Some(0.0), Some(0.0), None]),
        ("http_body_healthy", h("/degraded"), [Some(0.0), Some(200.0), Some(0.0), Some(1.0), Some(0.0), None]),
        ("http_body_healthy", h("/static.html"), [Some(0.0), Some(200.0), Some(0.0), Some(1.0), Some(0.0), None]),
        ("https_verified", s("/ok"), [Some(0.0), Some(0.0), Some(0.0), Some(0.0), Some(0.0), None]),
        ("https_insecure", s("/ok"), [Some(1.0), Some(200.0), Some(0.0), Some(0.0), Some(1.0), Some(not_after as f64)]),
        ("https_insecure", s("/r3"), [Some(1.0), Some(200.0), Some(3.0), Some(0.0), Some(1.0), Some(not_after as f64)]),
        ("https_insecure", h("/ok"), [Some(0.0), Some(200.0), Some(0.0), Some(0.0), Some(0.0), None]),
        ("https_insecure", h("/to-https"), [Some(1.0), Some(200.0), Some(1.0), Some(0.0), Some(1.0), Some(not_after as f64)]),
        ("tls_insecure_any", s("/to-http"), [Some(1.0), Some(200.0), Some(1.0), Some(0.0), Some(0.0), None]),
        ("http_header_checks", h("/ok"), [Some(1.0), Some(200.0), Some(0.0), Some(0.0), Some(0.0), None]),
        ("http_header_checks", h("/debug"), [Some(0.0), Some(200.0), Some(0.0), Some(1.0), Some(0.0), None]),
        ("http_header_checks", h("/static.html"), [Some(0.0), Some(200.0), Some(0.0), Some(1.0), Some(0.0), None]),
        ("http_needs_version_header", h("/ok"), [Some(0.0), Some(200.0), Some(0.0), Some(1.0), Some(0.0), None]),
        ("http_needs_version_header", h("/versioned"), [Some(1.0), Some(200.0), Some(0.0), Some(0.0), Some(0.0), None]),
        ("http_small_body", h("/exact.txt"), [Some(1.0), Some(200.0), Some(0.0), Some(0.0), Some(0.0), None]),
        ("http_small_body", h("/big.txt"), [Some(0.0), Some(200.0), Some(0.0), Some(0.0), Some(0.0), None]),
        ("http_small_body_regexp", h("/big.txt"), [Some(0.0), Some(200.0), Some(0.0), Some(1.0), Some(0.0), None]),
        // A body cut by the deadline fails the body regexps.
        ("http_slow_body_regexp", format!("http://127.0.0.1:{}/", trickle.port), [Some(0.0), Some(200.0), Some(0.0), Some(1.0), Some(0.0), None]),
        // hostname= is the Host of the first request and of relative redirects only.
        ("http_host_a", format!("{} hostname=a.test", h("/where")), [Some(1.0), Some(200.0), Some(0.0), Some(0.0), Some(0.0), None]),
        ("http_host_a", format!("{} hostname=a.test", h("/relative")), [Some(1.0), Some(200.0), Some(1.0), Some(0.0), Some(0.0), None]),
        ("http_host_a", format!("{} hostname=a.test", h("/absolute")), [Some(0.0), Some(200.0), Some(1.0), Some(1.0), Some(0.0), None]),
        // Credentials follow a redirect on the same host, not to another one (Go's rule).
        ("http_with_credentials", h("/to-auth"), [Some(1.0), Some(200.0), Some(1.0), Some(0.0), Some(0.0), None]),
        ("http_with_credentials", h("/to-localhost-auth"), [Some(0.0), Some(401.0), Some(1.0), Some(0.0), Some(0.0), None]),
        ("plain_only", s("/ok"), [Some(0.0), Some(200.0), Some(0.0), Some(0.0), Some(1.0), Some(not_after as f64)]),
        ("plain_only", h("/ok"), [Some(1.0), Some(200.0), Some(0.0), Some(0.0), Some(0.0), None]),
        // A handshake with a server that speaks plain HTTP fails: no TLS, no certificate.
        ("https_insecure", format!("https://127.0.0.1:{http}/ok"), [Some(0.0), Some(0.0), Some(0.0), Some(0.0), Some(0.0), None]),
        ("http_2xx", format!("http://127.0.0.1:{refused}/"), [Some(0.0), Some(0.0), Some(0.0), Some(0.0), Some(0.0), None]),
        ("https_insecure", format!("https://127.0.0.1:{refused}/"), [Some(0.0), Some(0.0), Some(0.0), Some(0.0), Some(0.0), None]),
    ];
    let mut report = format!(
        "| module | target | {} |\n|---|---|{}\n",
        COMPARED.join(" | "),
        "---|".repeat(COMPARED.len())
    );
    let mut disagreements = Vec::new();
    for (module, target, expected) in &table {
        let theirs = values(blackbox, module, target);
        let mine = values(ours.port, module, target);
        let cells: Vec<String> = theirs
            .iter()
            .zip(&mine)
            .map(|(t, m)| format!("{} / {}", show(*t), show(*m)))
            .collect();
        // Ports by role, so the table reads the same on every run.
        let shown = [
            (http, "http-port"),
            (https, "https-port"),
            (refused, "refused-port"),
            (trickle.port, "trickling-app"),
            (bad_location.port, "bad-location-app"),
        ]
        .iter()
        .fold(target.clone(), |t, (port, role)| {
            t.replace(&format!("127.0.0.1:{port}"), role)
        });
        report.push_str(&format!("| {module} | {shown} | {} |\n", cells.join(" | ")));
        if theirs != mine || &theirs != expected {
            disagreements.push(format!(
                "{module} {target}: blackbox {theirs:?}, ours {mine:?}, expected {expected:?}"
            ));
        }
    }
    // The table of the report (blackbox / ours per cell): `--nocapture` shows it.
    eprintln!("{report}");
    assert!(
        disagreements.is_empty(),
        "{}\n{report}",
        disagreements.join("\n")
    );
    assert!(
        std::fs::read_to_string(&nginx.access_log)
            .unwrap()
            .contains("\"POST /post307 HTTP/1.1\" 307"),
        "nginx really served the probes"
    );
}
