//! docs/metrics.md is the contract alerts, dashboards and the chart are written against:
//! every family the exporter registers is documented there, and every documented family
//! exists, with the documented type.

mod common;

use common::*;
use std::collections::BTreeMap;

/// `name -> type` from the `# TYPE` lines of a text 0.0.4 exposition.
fn emitted_families(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect()
}

/// `name -> type` from the first two columns of every table row naming a `gateway_` or
/// `process_` metric.
fn documented_families(doc: &str) -> BTreeMap<String, String> {
    doc.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            (name.starts_with("gateway_") || name.starts_with("process_"))
                .then(|| (name.to_string(), cells.get(2).unwrap_or(&"").to_string()))
        })
        .collect()
}

/// A recorded PHP-FPM `?json&full` status page (static pool, saturated), served over HTTP.
const FPM_STATUS: &str = r#"{"pool":"api","process manager":"static","start time":1795305389,"start since":32,"accepted conn":3,"listen queue":4,"max listen queue":4,"listen queue len":4096,"idle processes":0,"active processes":2,"total processes":2,"max active processes":2,"max children reached":1,"slow requests":2, "processes":[{"pid":12285,"state":"Running","start time":1795305389,"start since":32,"requests":1,"request duration":1516961,"request method":"GET","request uri":"/sleep.php","content length":0,"user":"-","script":"/var/www/html/sleep.php","last request cpu":0.00,"last request memory":0},{"pid":12286,"state":"Running","start time":1795305389,"start since":32,"requests":1,"request duration":1516961,"request method":"GET","request uri":"/sleep.php","content length":0,"user":"-","script":"/var/www/html/sleep.php","last request cpu":0.00,"last request memory":0}]}"#;

const ERROR_LINES: &str = "\
2026/11/21 23:57:38 [error] 15828#15828: *1 connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: a.test, request: \"GET / HTTP/1.1\", upstream: \"http://127.0.0.1:9/\", host: \"a.test\"
2026/11/21 23:57:39 [error] 15828#15828: *2 connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: b.test, request: \"GET / HTTP/1.1\", upstream: \"http://127.0.0.1:9/\", host: \"b.test\"
2026/11/21 23:57:40 [notice] 15827#15827: signal 1 (SIGHUP) received from 1, reconfiguring
this line is not an nginx error line at all
";

const ACCESS_LINE: &str = "127.0.0.1 - - [21/Nov/2026:23:57:38 +0000] \"GET / HTTP/1.1\" 502 157 \"-\" \"curl/7.88\" rt=0.001 ua=\"127.0.0.1:9, 127.0.0.1:10\" us=\"502, 200\" urt=\"0.000, 0.004\" host=a.test\n";

#[test]
fn every_family_is_documented_and_every_documented_family_exists() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md")).unwrap();
    let documented = documented_families(&doc);
    assert!(
        documented.len() > 40,
        "the doc's tables were not read: {documented:?}"
    );

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
            "server {{ listen 127.0.0.1:{port}; location /s {{ stub_status; }} }}\n\
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
    std::thread::sleep(std::time::Duration::from_millis(300)); // logs followed from their end
    std::fs::write(&error_log, ERROR_LINES).unwrap();
    std::fs::write(&access_log, ACCESS_LINE).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let emitted = loop {
        let emitted = emitted_families(&exporter.metrics());
        let missing: Vec<_> = documented
            .keys()
            .filter(|n| !emitted.contains_key(*n))
            .collect();
        if missing.is_empty() {
            break emitted;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "documented but never emitted: {missing:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let undocumented: Vec<_> = emitted
        .keys()
        .filter(|n| !documented.contains_key(*n))
        .collect();
    assert!(
        undocumented.is_empty(),
        "emitted but not in docs/metrics.md: {undocumented:?}"
    );
    for (name, kind) in &emitted {
        assert_eq!(
            &documented[name], kind,
            "{name}: documented type differs from the exposition"
        );
    }
}
