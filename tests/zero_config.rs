//! Zero-config must not page a healthy host: the probes found in a real nginx's and a real
//! Apache's own config, run by the real scheduler. A default server that redirects to https,
//! sites answering 403 and 404, a `return 444` catch-all and a certbot-style https site are
//! all healthy; only the sites that really answer 5xx fail, and each probe reached its own
//! site (its Host header and SNI), not the default server.

mod common;
#[path = "common/servers.rs"]
mod servers;

use common::*;
use gateway_exporter::probe::detect::{ConfigRoots, detect_in};
use gateway_exporter::registry::Registry;
use servers::Apache;
use std::time::Duration;

#[test]
fn detected_sites_fail_only_on_5xx() {
    let dead = free_port(); // nothing listens: the 5xx sites' upstream
    let http = free_port();
    let tls = free_port();
    let closed = free_port();
    let certs = tempdir();
    let (cert, key, _) = self_signed_cert(certs.path(), "secure.test");
    let nginx = Nginx::start(
        &format!(
            "server {{ listen 127.0.0.1:{http} default_server; server_name _; return 301 https://$host$request_uri; }}\n\
             server {{ listen 127.0.0.1:{http}; server_name forbidden.test; return 403; }}\n\
             server {{ listen 127.0.0.1:{http}; server_name missing.test; root {{dir}}/nothing; }}\n\
             server {{ listen 127.0.0.1:{http}; server_name secure.test; return 301 https://secure.test:{tls}$request_uri; }}\n\
             server {{ listen 127.0.0.1:{tls} ssl; server_name secure.test; ssl_certificate {cert}; ssl_certificate_key {key}; return 200 'secure\\n'; }}\n\
             server {{ listen 127.0.0.1:{closed} default_server; return 444; }}\n\
             server {{ listen 127.0.0.1:{http}; server_name broken.test; location / {{ proxy_pass http://127.0.0.1:{dead}; }} }}\n",
            cert = cert.display(),
            key = key.display(),
        ),
        http,
    );
    let apache = Apache::start(
        4,
        &format!(
            "<VirtualHost *>\n  ServerName vhost.test\n</VirtualHost>\n\
             <VirtualHost *>\n  ServerName broken-apache.test\n  ProxyPass / http://127.0.0.1:{dead}/\n</VirtualHost>\n"
        ),
    );
    let probes = detect_in(&ConfigRoots {
        nginx: nginx.dir.path().to_path_buf(),
        apache: apache.dir.path().to_path_buf(),
    });
    let mut names: Vec<&str> = probes.iter().map(|p| p.name.as_str()).collect();
    names.sort();
    let default_site = format!("localhost:{http}");
    let apache_default = format!("localhost:{}", apache.port);
    assert_eq!(
        names,
        [
            "broken-apache.test",
            "broken.test",
            "forbidden.test",
            default_site.as_str(),
            "missing.test",
            "secure.test",
            "vhost.test",
        ],
        "one probe per site, none for the 444 catch-all; Apache's main server ({apache_default}) has no port of its own"
    );

    let registry = Registry::new();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tasks = runtime
        .block_on(async { gateway_exporter::probe::schedule::start(&probes, &registry.probes) });
    // (target, status code, success): each site's own answer proves its Host header (and
    // SNI) reached it; Apache's first vhost is its default, whatever it serves under 500.
    let want: [(&str, Option<f64>, f64); 7] = [
        (default_site.as_str(), Some(301.0), 1.0),
        ("forbidden.test", Some(403.0), 1.0),
        ("missing.test", Some(404.0), 1.0),
        ("secure.test", Some(200.0), 1.0),
        ("vhost.test", None, 1.0),
        ("broken.test", Some(502.0), 0.0),
        ("broken-apache.test", Some(503.0), 0.0),
    ];
    let text = eventually(Duration::from_secs(10), "every site probed once", || {
        let text = registry.encode(gateway_exporter::base::exposition::Format::Text004);
        want.iter()
            .all(|(target, _, _)| {
                sample_value(&text, "gateway_probe_success", &[("target", target)]).is_some()
            })
            .then_some(text)
    });
    for (target, code, success) in want {
        let l = [("target", target)];
        let got = sample_value(&text, "gateway_probe_http_status_code", &l).unwrap();
        match code {
            Some(code) => assert_eq!(got, code, "{target}: {text}\n{}", nginx.error_log_text()),
            None => assert!((100.0..500.0).contains(&got), "{target}: {got}"),
        }
        assert_eq!(
            sample_value(&text, "gateway_probe_success", &l),
            Some(success),
            "{target}"
        );
    }
    // The probe and log alerts name the same site.
    assert!(
        text.contains(r#"gateway_probe_info{target="secure.test",url="https://127.0.0.1:"#)
            && text.contains(r#"vhost="secure.test""#),
        "{text}"
    );
    // The sites saw the probes' own User-Agent (what the access-log parser can leave out).
    let access = std::fs::read_to_string(&nginx.access_log).unwrap();
    assert!(access.contains("gateway-exporter/"), "{access}");
    for task in tasks {
        task.abort();
    }
}
