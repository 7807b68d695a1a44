//! docs/metrics.md is the contract alerts, dashboards and the chart are written against:
//! every family the exporter registers is documented there, and every documented family
//! exists, with the documented type.

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet};

/// `name -> type` from the `# TYPE` lines of a text 0.0.4 exposition.
fn emitted_families(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect()
}

/// Label names of every sample of `family` (histograms: without `le`), one set per series.
fn emitted_label_sets(text: &str, family: &str) -> BTreeSet<BTreeSet<String>> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' ').map(|(series, _)| series))
        .filter_map(|series| {
            let (name, labels) = series.split_once('{').unwrap_or((series, "}"));
            let ours = name == family
                || ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|suffix| name.strip_suffix(suffix) == Some(family));
            ours.then(|| {
                labels
                    .trim_end_matches('}')
                    .split("\",")
                    .filter_map(|pair| pair.split_once('=').map(|(k, _)| k.to_string()))
                    .filter(|k| k != "le")
                    .collect()
            })
        })
        .collect()
}

/// A recorded PHP-FPM `?json&full` status page (static pool, saturated), served over HTTP.
const FPM_STATUS: &str = r#"{"pool":"api","process manager":"static","start time":1795305389,"start since":32,"accepted conn":3,"listen queue":4,"max listen queue":4,"listen queue len":4096,"idle processes":0,"active processes":2,"total processes":2,"max active processes":2,"max children reached":1,"slow requests":2, "processes":[{"pid":12285,"state":"Running","start time":1795305389,"start since":32,"requests":1,"request duration":1516961,"request method":"GET","request uri":"/sleep.php","content length":0,"user":"-","script":"/var/www/html/sleep.php","last request cpu":0.00,"last request memory":0},{"pid":12286,"state":"Running","start time":1795305389,"start since":32,"requests":1,"request duration":1516961,"request method":"GET","request uri":"/sleep.php","content length":0,"user":"-","script":"/var/www/html/sleep.php","last request cpu":0.00,"last request memory":0}]}"#;

const ERROR_LINES: &str = "\
2026/11/21 23:57:38 [error] 15828#15828: *1 connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: a.test, request: \"GET / HTTP/1.1\", upstream: \"http://127.0.0.1:9/\", host: \"a.test\"
2026/11/21 23:57:39 [error] 15828#15828: *2 connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: b.test, request: \"GET / HTTP/1.1\", upstream: \"http://127.0.0.1:9/\", host: \"b.test\"
2026/11/21 23:57:40 [notice] 15827#15827: signal 1 (SIGHUP) received from 1, reconfiguring
2026/11/21 23:57:41 [error] 15828#15828: *3 FastCGI sent in stderr: \"PHP message: PHP Fatal error:  Allowed memory size of 4194304 bytes exhausted (tried to allocate 2097152 bytes) in /w/x.php on line 4\" while reading response header from upstream, client: 127.0.0.1, server: a.test, request: \"GET / HTTP/1.1\", upstream: \"fastcgi://127.0.0.1:9000\", host: \"a.test\"
this line is not an nginx error line at all
";

const ACCESS_LINE: &str = "127.0.0.1 - - [21/Nov/2026:23:57:38 +0000] \"GET / HTTP/1.1\" 502 157 \"-\" \"curl/7.88\" rt=0.001 ua=\"127.0.0.1:9, 127.0.0.1:10\" us=\"502, 200\" urt=\"0.000, 0.004\" host=a.test\n";

#[test]
fn every_family_is_documented_and_every_documented_family_exists() {
    let documented: BTreeMap<&str, &MetricDoc> = documented_metrics()
        .iter()
        .map(|doc| (doc.name.as_str(), doc))
        .collect();

    // One exporter with every source busy, so that every family has a series.
    let dir = tempdir();
    let d = dir.path();
    let (error_log, access_log, not_a_file, flag) = (
        d.join("error.log"),
        d.join("access.log"),
        d.join("dir.log"),
        d.join(".maintenance"),
    );
    std::fs::write(&error_log, "").unwrap();
    std::fs::write(&access_log, "").unwrap();
    std::fs::create_dir(&not_a_file).unwrap();
    std::fs::write(&flag, "").unwrap();
    let fpm = FakeUpstream::respond("200 OK", &["Content-Type: application/json"], FPM_STATUS);
    let port = free_port();
    let tls_port = free_port();
    let (cert, key, _) = self_signed_cert(d, "doc.example.test");
    let _nginx = Nginx::start(
        &format!(
            "server {{ listen 127.0.0.1:{port}; location /s {{ stub_status; }} \
             location /db {{ return 500 '<h1>Error establishing a database connection</h1>'; }} }}\n\
             server {{ listen 127.0.0.1:{tls_port} ssl; ssl_certificate {}; ssl_certificate_key {}; return 200; }}",
            cert.display(),
            key.display()
        ),
        port,
    );
    let dead = free_port();
    let config = format!(
        "probes:\n  - {{name: p, url: 'http://127.0.0.1:{dead}/', origin: '127.0.0.1:{dead}', interval: 100ms}}\n\
         \x20 - {{name: tls, url: 'https://127.0.0.1:{tls_port}/', interval: 100ms, tls_config: {{insecure_skip_verify: true}}}}\n\
         \x20 - {{name: app, url: 'http://127.0.0.1:{port}/db', interval: 100ms}}\n\
         logs:\n  - {{name: err, path: '{}', format: nginx_error}}\n\
         \x20 - {{name: acc, path: '{}', format: nginx_access, proxy_read_timeout: 60s,\n\
         \x20     log_format: '$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\" rt=$request_time ua=\"$upstream_addr\" us=\"$upstream_status\" urt=\"$upstream_response_time\" host=$host'}}\n\
         \x20 - {{name: broken, path: '{}', format: nginx_error}}\n\
         log_settings: {{max_label_values: 1, poll_interval: 50ms}}\n\
         workers:\n  - {{kind: phpfpm, name: api, address: 'http://127.0.0.1:{}/status'}}\n\
         \x20 - {{kind: nginx, name: edge, address: 'http://127.0.0.1:{port}/s', listen: '127.0.0.1:{port}', limit: 256}}\n\
         \x20 - {{kind: nginx, name: gone, address: 'http://127.0.0.1:{dead}/s'}}\n\
         upstreams:\n  - {{address: '127.0.0.1:{dead}'}}\n\
         maintenance_files: ['{}']\n",
        error_log.display(),
        access_log.display(),
        not_a_file.display(),
        fpm.port,
        flag.display(),
    );
    let exporter = Exporter::start(&config);
    // Logs are followed from their end: write once they are followed.
    exporter.wait_following("err", 1.0);
    exporter.wait_following("acc", 1.0);
    std::fs::write(&error_log, ERROR_LINES).unwrap();
    std::fs::write(&access_log, ACCESS_LINE).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let (text, emitted) = loop {
        let text = exporter.metrics();
        let emitted = emitted_families(&text);
        let missing: Vec<_> = documented
            .keys()
            .filter(|n| !emitted.contains_key(**n))
            .collect();
        if missing.is_empty() {
            break (text, emitted);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "documented but never emitted: {missing:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let undocumented: Vec<_> = emitted
        .keys()
        .filter(|n| !documented.contains_key(n.as_str()))
        .collect();
    assert!(
        undocumented.is_empty(),
        "emitted but not in docs/metrics.md: {undocumented:?}"
    );
    for (name, kind) in &emitted {
        let doc = documented[name.as_str()];
        assert_eq!(
            &doc.kind, kind,
            "{name}: documented type differs from the exposition"
        );
        let want: BTreeSet<String> = doc.labels.iter().cloned().collect();
        let series = emitted_label_sets(&text, name);
        assert!(!series.is_empty(), "{name}: no series read");
        for got in series {
            assert_eq!(got, want, "{name}: labels differ from docs/metrics.md");
        }
    }
}
