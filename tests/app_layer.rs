//! The app layer named (issue 18), on real servers: PHP-FPM 8.2 running scripts whose
//! database port is closed (mysqli and PDO), that exhaust a small memory_limit, overrun
//! max_execution_time or request_terminate_timeout, die on SIGSEGV; behind real nginx and
//! real Apache (mod_proxy_fcgi). Every log counts each failed request once, under its
//! cause, and no stack-trace line is unrecognised. Probes name the cause from error pages
//! served by a real nginx, and a real WordPress whose database is down is counted and named.

mod common;
use gateway_exporter::workers::db_detect;
#[path = "common/servers.rs"]
mod servers;

use common::*;
use servers::{Apache, PhpFpm, fpm_pool, one_shot};
use std::path::Path;
use std::time::Duration;

/// The scripts every pool serves. The database is a port nothing listens on.
fn write_scripts(dir: &Path, closed_port: u16) {
    let scripts = [
        (
            "mysqli.php",
            format!("<?php $db = new mysqli('127.0.0.1', 'shop', 'secret', 'shop', {closed_port}); echo 'never';\n"),
        ),
        (
            "pdo.php",
            format!("<?php $db = new PDO('mysql:host=127.0.0.1;port={closed_port};dbname=shop', 'shop', 'secret'); echo 'never';\n"),
        ),
        (
            "memory.php",
            "<?php ini_set('memory_limit', '4M'); $a = []; while (true) { $a[] = str_repeat('x', 100000); }\n".into(),
        ),
        // max_execution_time counts CPU time on Linux: burn it.
        (
            "timeout.php",
            "<?php set_time_limit(1); $x = ''; while (true) { $x = sha1($x); }\n".into(),
        ),
        (
            "fatal.php",
            "<?php function f() { undefined_function_here(); }\nf();\n".into(),
        ),
        (
            "warn.php",
            "<?php trigger_error('just a warning', E_USER_WARNING); echo $undefined; echo 'ok';\n"
                .into(),
        ),
        // A real signal death of the worker; a genuine segfault would need a buggy extension.
        ("segv.php", "<?php posix_kill(getmypid(), 11); sleep(5);\n".into()),
    ];
    for (name, text) in scripts {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

/// A pool over TCP. PHP writes its messages to the pool's error_log when it sets one (and
/// can open it); otherwise FPM sends them to the web server and, with catch_workers_output,
/// to its own log.
fn pool(name: &str, port: u16, extra: &str) -> String {
    fpm_pool(
        name,
        &format!("127.0.0.1:{port}"),
        &format!("pm = static\npm.max_children = 2\n{extra}"),
    )
}

fn fastcgi_location(fpm_port: u16, root: &str) -> String {
    format!(
        "location / {{ fastcgi_pass 127.0.0.1:{fpm_port}; fastcgi_read_timeout 60s; \
         fastcgi_param SCRIPT_FILENAME {root}$fastcgi_script_name; fastcgi_param REQUEST_METHOD GET; \
         fastcgi_param QUERY_STRING $query_string; }}"
    )
}

/// `gateway_app_errors_total` of `log` by (vhost, cause), every sample, zeros included.
fn app_errors(text: &str, log: &str) -> Vec<(String, String, f64)> {
    let mut found: Vec<(String, String, f64)> = text
        .lines()
        .filter(|l| l.starts_with("gateway_app_errors_total{"))
        .filter(|l| l.contains(&format!("log=\"{log}\"")))
        .map(|l| {
            let label = |name: &str| {
                let at = l.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                l[at..at + l[at..].find('"').unwrap()].to_string()
            };
            let value = l.rsplit(' ').next().unwrap().parse().unwrap();
            (label("vhost"), label("cause"), value)
        })
        .collect();
    found.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    found
}

fn counts(v: &[(&str, &str, f64)]) -> Vec<(String, String, f64)> {
    let mut v: Vec<_> = v
        .iter()
        .map(|(vh, c, n)| (vh.to_string(), c.to_string(), *n))
        .collect();
    v.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    v
}

fn assert_every_line_understood(text: &str, log: &str, at_least: f64) {
    let read = sample_value(text, "gateway_log_lines_read_total", &[("log", log)]).unwrap();
    let unrecognised = sample_value(
        text,
        "gateway_log_lines_unrecognised_total",
        &[("log", log)],
    )
    .unwrap();
    assert!(read >= at_least, "{log}: {read} lines read");
    assert_eq!(
        unrecognised, 0.0,
        "{log}: stack-trace lines are part of their entry"
    );
}

#[test]
fn nginx_and_php_fpm_count_each_app_cause_once_per_request() {
    let _guard = run_beside_others();
    let (web, logged, strict) = (free_port(), free_port(), free_port());
    let pools = [
        pool("web", web, ""),
        pool(
            "logged",
            logged,
            "php_admin_value[error_log] = {dir}/php-error.log\nphp_admin_flag[log_errors] = on",
        ),
        pool("strict", strict, "request_terminate_timeout = 1s"),
    ]
    .concat();
    let fpm = PhpFpm::start(
        &pools,
        &[
            &format!("127.0.0.1:{web}"),
            &format!("127.0.0.1:{logged}"),
            &format!("127.0.0.1:{strict}"),
        ],
    );
    let root = fpm.dir.path().display().to_string();
    write_scripts(fpm.dir.path(), free_port());
    // The workers (www-data) append to it; they may not create files in the prefix dir.
    let php_error_log = fpm.dir.path().join("php-error.log");
    std::fs::write(&php_error_log, "").unwrap();
    std::fs::set_permissions(
        &php_error_log,
        std::os::unix::fs::PermissionsExt::from_mode(0o666),
    )
    .unwrap();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let nginx = Nginx::start(
        &format!(
            "server {{ listen 127.0.0.1:{}; server_name web.test; {} }}\n\
             server {{ listen 127.0.0.1:{}; server_name logged.test; {} }}\n\
             server {{ listen 127.0.0.1:{}; server_name strict.test; {} }}",
            ports[0],
            fastcgi_location(web, &root),
            ports[1],
            fastcgi_location(logged, &root),
            ports[2],
            fastcgi_location(strict, &root),
        ),
        ports[0],
    );
    let request = |host: &str, path: &str| {
        let port = match host {
            "web.test" => ports[0],
            "logged.test" => ports[1],
            _ => ports[2],
        };
        get(port, path).status
    };
    for path in [
        "/mysqli.php",
        "/mysqli.php",
        "/pdo.php",
        "/memory.php",
        "/timeout.php",
        "/fatal.php",
    ] {
        assert_eq!(request("web.test", path), 500, "{path}");
    }
    assert_eq!(request("web.test", "/warn.php"), 200);
    assert_eq!(request("web.test", "/segv.php"), 502);
    assert_eq!(request("logged.test", "/pdo.php"), 500);
    assert_eq!(request("logged.test", "/memory.php"), 500);
    // sleep.php does not burn CPU: only FPM's wall-clock limit stops it.
    assert_eq!(request("strict.test", "/sleep.php?s=5"), 502);
    eventually(
        Duration::from_secs(10),
        "FPM logged the crash and the kill",
        || {
            let log = fpm.log_text();
            (log.contains("SIGSEGV") && log.contains("execution timed out")).then_some(())
        },
    );
    let text = one_shot(&format!(
        "logs:\n  - {{path: {}, format: nginx_error, name: nginx}}\n  \
         - {{path: {}, format: phpfpm, name: fpm}}\n  \
         - {{path: {}, format: php_error, name: php}}\n",
        nginx.error_log.display(),
        fpm.log.display(),
        php_error_log.display(),
    ));
    assert_eq!(
        app_errors(&text, "nginx"),
        counts(&[
            ("web.test", "database", 3.0),
            ("web.test", "execution_timeout", 1.0),
            ("web.test", "memory_exhausted", 1.0),
            ("web.test", "php_fatal", 1.0),
        ]),
        "nginx:\n{}",
        nginx.error_log_text()
    );
    assert_eq!(
        app_errors(&text, "fpm"),
        counts(&[
            // The strict pool's kill is the second time limit.
            ("-", "database", 3.0),
            ("-", "execution_timeout", 2.0),
            ("-", "memory_exhausted", 1.0),
            ("-", "php_fatal", 1.0),
            ("-", "worker_crash", 1.0),
        ]),
        "fpm:\n{}",
        fpm.log_text()
    );
    assert_eq!(
        app_errors(&text, "php"),
        counts(&[
            ("-", "database", 1.0),
            ("-", "execution_timeout", 0.0),
            ("-", "memory_exhausted", 1.0),
            ("-", "php_fatal", 0.0),
        ]),
        "php error_log:\n{}",
        std::fs::read_to_string(&php_error_log).unwrap_or_default()
    );
    // The crashed worker and the killed one are nginx's upstream errors, not app errors.
    assert_eq!(
        sum(
            &text,
            "gateway_upstream_errors_total",
            &[("log", "nginx"), ("vhost", "web.test")]
        ),
        1.0
    );
    // Stack traces: 5 lines per uncaught exception.
    assert_every_line_understood(&text, "nginx", 20.0);
    assert_every_line_understood(&text, "fpm", 20.0);
    assert_every_line_understood(&text, "php", 6.0);
}

#[test]
fn apache_mod_proxy_fcgi_counts_each_app_cause_once_per_request() {
    let _guard = run_beside_others();
    let fpm_port = free_port();
    let fpm = PhpFpm::start(
        &pool("web", fpm_port, ""),
        &[&format!("127.0.0.1:{fpm_port}")],
    );
    write_scripts(fpm.dir.path(), free_port());
    let apache = Apache::start(
        4,
        &format!(
            "ProxyTimeout 60\nProxyPassMatch \"^/(.*\\.php)$\" \"fcgi://127.0.0.1:{fpm_port}{}/$1\"",
            fpm.dir.path().display()
        ),
    );
    for path in [
        "/mysqli.php",
        "/pdo.php",
        "/pdo.php",
        "/memory.php",
        "/timeout.php",
        "/fatal.php",
    ] {
        assert_eq!(get(apache.port, path).status, 500, "{path}");
    }
    assert_eq!(get(apache.port, "/warn.php").status, 200);
    let text = one_shot(&format!(
        "logs:\n  - {{path: {}, format: apache_error, name: apache}}\n",
        apache.error_log.display()
    ));
    assert_eq!(
        app_errors(&text, "apache"),
        counts(&[
            ("-", "database", 3.0),
            ("-", "execution_timeout", 1.0),
            ("-", "memory_exhausted", 1.0),
            ("-", "php_fatal", 1.0),
            ("-", "resource_limit", 0.0),
        ]),
        "apache:\n{}",
        apache.error_log_text()
    );
    assert_every_line_understood(&text, "apache", 6.0);
}

/// The pages under tests/data/app_pages: (name, status, expected cause or "none", body).
fn pages() -> Vec<(String, u16, String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/app_pages");
    let mut pages: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let (head, body) = text.split_once("\n\n").unwrap();
            let field = |k: &str| {
                head.lines()
                    .find_map(|l| l.strip_prefix(&format!("# {k}: ")))
                    .unwrap()
                    .to_string()
            };
            let name = path.file_stem().unwrap().to_str().unwrap().to_string();
            (
                name,
                field("status").parse().unwrap(),
                field("expect"),
                body.to_string(),
            )
        })
        .collect();
    pages.sort();
    pages
}

#[test]
fn probes_name_the_app_cause_of_real_error_pages() {
    let _guard = run_beside_others();
    let port = free_port();
    let pages = pages();
    let site = tempdir();
    std::fs::set_permissions(
        site.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut locations = String::new();
    for (name, status, _, body) in &pages {
        std::fs::write(site.path().join(format!("{name}.html")), body).unwrap();
        // A page PHP displayed with 200 is served as it was; the others with their status.
        if *status == 200 {
            locations.push_str(&format!(
                "location = /p/{name} {{ default_type text/html; alias {}/{name}.html; }}\n",
                site.path().display()
            ));
        } else {
            locations.push_str(&format!(
                "location = /p/{name} {{ error_page {status} /body/{name}.html; return {status}; }}\n"
            ));
        }
    }
    // A page that changes: the cause lasts while the page says it.
    let wordpress = pages
        .iter()
        .find(|p| p.0 == "wordpress-database-down")
        .unwrap();
    std::fs::write(site.path().join("switch.html"), &wordpress.3).unwrap();
    locations.push_str("location = /p/switch { error_page 500 /body/switch.html; return 500; }\n");
    let _nginx = Nginx::start(
        &format!(
            "server {{ listen 127.0.0.1:{port}; {locations} location /body/ {{ internal; default_type text/html; alias {}/; }} }}",
            site.path().display()
        ),
        port,
    );
    let mut config = String::from(
        "modules:\n  http_2xx: {prober: http, timeout: 5s}\nprobe_endpoint: {allowed_targets: ['127.0.0.1']}\nprobes:\n",
    );
    for (name, status, _, _) in &pages {
        // Blackbox users catch PHP's displayed errors (served with 200) with a regexp.
        let regexp = if *status == 200 {
            ", fail_if_body_matches_regexp: ['Fatal error']"
        } else {
            ""
        };
        config.push_str(&format!(
            "  - {{name: {name}, url: 'http://127.0.0.1:{port}/p/{name}', interval: 200ms{regexp}}}\n"
        ));
    }
    config.push_str(&format!(
        "  - {{name: switch, url: 'http://127.0.0.1:{port}/p/switch', interval: 200ms}}\n"
    ));
    let exporter = Exporter::start(&config);
    let text = eventually(Duration::from_secs(20), "every page probed", || {
        let text = exporter.metrics();
        pages
            .iter()
            .all(|(name, ..)| {
                sample_value(&text, "gateway_probes_total", &[("target", name)]).is_some()
            })
            .then_some(text)
    });
    for (name, _, expect, _) in &pages {
        let failure = sample_value(
            &text,
            "gateway_probe_success",
            &[("target", name), ("path", "public")],
        );
        if expect == "none" {
            assert_absent(&text, "gateway_probe_app_cause_info", &[("target", name)]);
            continue;
        }
        assert_eq!(failure, Some(0.0), "{name} fails the probe");
        assert_eq!(
            sample_value(
                &text,
                "gateway_probe_app_cause_info",
                &[("target", name), ("path", "public"), ("cause", expect)]
            ),
            Some(1.0),
            "{name} names {expect}"
        );
        assert_eq!(
            sample_value(
                &text,
                "gateway_probe_failure_info",
                &[("target", name), ("layer", "app")]
            ),
            Some(1.0),
            "{name}: the app layer"
        );
    }
    // The page changes to nginx's own: the cause goes with it.
    eventually(Duration::from_secs(5), "switch names the database", || {
        exporter
            .value(
                "gateway_probe_app_cause_info",
                &[("target", "switch"), ("cause", "database")],
            )
            .map(|_| ())
    });
    let nginx_page = pages
        .iter()
        .find(|p| p.0 == "nginx-502-names-no-app-cause")
        .unwrap();
    std::fs::write(site.path().join("switch.html"), &nginx_page.3).unwrap();
    eventually(Duration::from_secs(5), "the cause is gone", || {
        let text = exporter.metrics();
        let gone = !text.contains("gateway_probe_app_cause_info{target=\"switch\"");
        let probed = sample_value(
            &text,
            "gateway_probe_failure_info",
            &[("target", "switch"), ("layer", "proxy")],
        );
        (gone && probed == Some(1.0)).then_some(())
    });
    // /probe: blackbox's names, plus the cause.
    let reply = get(
        exporter.port,
        &format!("/probe?target=127.0.0.1:{port}/p/cloudlinux-508-entry-processes"),
    );
    assert!(
        reply
            .body
            .contains("probe_app_cause_info{cause=\"resource_limit\"} 1"),
        "{}",
        reply.body
    );
    let reply = get(
        exporter.port,
        &format!("/probe?target=127.0.0.1:{port}/p/nginx-502-names-no-app-cause"),
    );
    assert!(reply.body.contains("probe_success 0"), "{}", reply.body);
    assert!(
        !reply.body.contains("probe_app_cause_info"),
        "{}",
        reply.body
    );
}

/// The "must show": a real WordPress (Debian's package) on PHP-FPM behind nginx,
/// its database down. The exporter counts `database` once per request and the probe
/// names it, in the app layer.
#[test]
fn wordpress_with_its_database_down_is_counted_and_named() {
    let _guard = run_beside_others();
    let wordpress = Path::new("/usr/share/wordpress/wp-settings.php");
    assert!(
        wordpress.is_file(),
        "install Debian's wordpress package (scripts/test.sh does)"
    );
    let fpm_port = free_port();
    let fpm = PhpFpm::start(
        &pool("wp", fpm_port, ""),
        &[&format!("127.0.0.1:{fpm_port}")],
    );
    // WP_DEBUG makes WordPress log its failed connect (it is silent without it: then only
    // the probe can name the database).
    std::fs::write(
        fpm.dir.path().join("index.php"),
        format!(
            "<?php\ndefine('DB_NAME', 'wordpress');\ndefine('DB_USER', 'wordpress');\n\
             define('DB_PASSWORD', 'secret');\ndefine('DB_HOST', '127.0.0.1:{}');\n\
             $table_prefix = 'wp_';\ndefine('WP_DEBUG', true);\ndefine('WP_DEBUG_DISPLAY', false);\n\
             define('ABSPATH', '/usr/share/wordpress/');\ndefine('WP_USE_THEMES', true);\n\
             require ABSPATH . 'wp-settings.php';\n",
            free_port()
        ),
    )
    .unwrap();
    let port = free_port();
    let nginx = Nginx::start(
        &format!(
            "server {{ listen 127.0.0.1:{port}; server_name wp.test; location / {{ fastcgi_pass 127.0.0.1:{fpm_port}; \
             fastcgi_param SCRIPT_FILENAME {}/index.php; fastcgi_param REQUEST_METHOD GET; \
             fastcgi_param HTTP_HOST wp.test; fastcgi_param SERVER_NAME wp.test; fastcgi_param REQUEST_URI $request_uri; }} }}",
            fpm.dir.path().display()
        ),
        port,
    );
    let exporter = Exporter::start(&format!(
        "probes:\n  - {{name: blog, url: 'http://127.0.0.1:{port}/', interval: 200ms}}\n"
    ));
    let text = eventually(
        Duration::from_secs(10),
        "the probe names the database",
        || {
            let text = exporter.metrics();
            sample_value(
                &text,
                "gateway_probe_app_cause_info",
                &[
                    ("target", "blog"),
                    ("path", "public"),
                    ("cause", "database"),
                ],
            )
            .map(|_| text)
        },
    );
    assert_eq!(
        sample_value(
            &text,
            "gateway_probe_failure_info",
            &[("target", "blog"), ("layer", "app"), ("code", "500")]
        ),
        Some(1.0),
        "{text}"
    );
    for _ in 0..4 {
        let reply = get(port, "/");
        assert_eq!(reply.status, 500);
        assert!(
            reply
                .body
                .contains("Error establishing a database connection")
        );
    }
    drop(exporter); // no more probe requests; let the last one finish
    std::thread::sleep(Duration::from_secs(1));
    let requests = std::fs::read_to_string(&nginx.access_log)
        .unwrap()
        .lines()
        .filter(|l| l.contains("\" 500 "))
        .count();
    assert!(requests >= 5, "{requests} requests");
    let text = one_shot(&format!(
        "logs:\n  - {{path: {}, format: nginx_error, name: nginx}}\n",
        nginx.error_log.display()
    ));
    assert_eq!(
        app_errors(&text, "nginx"),
        counts(&[
            ("wp.test", "database", requests as f64),
            ("wp.test", "execution_timeout", 0.0),
            ("wp.test", "memory_exhausted", 0.0),
            ("wp.test", "php_fatal", 0.0),
        ]),
        "once per request:\n{}",
        nginx.error_log_text()
    );
}

/// Zero-config database checks offered from this host's real listening sockets: something
/// listens on MySQL's port (our listener, or a MySQL already there).
#[test]
fn local_databases_from_the_real_proc_net_tcp() {
    let _listener = std::net::TcpListener::bind("127.0.0.1:3306").ok();
    let tcp = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let tcp6 = std::fs::read_to_string("/proc/net/tcp6").unwrap_or_default();
    let found = db_detect::local_databases(&tcp, &tcp6, |p| {
        std::fs::symlink_metadata(p)
            .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()))
    });
    assert!(
        found
            .iter()
            .any(|d| d.kind == "mysql" && d.address.ends_with(":3306")),
        "{found:?}"
    );
}

/// A database as an `upstreams:` connect check, by TCP and by unix socket: a real
/// PostgreSQL (Debian's postgresql package) up, then stopped.
#[test]
fn a_real_postgresql_as_an_upstream_check_by_tcp_and_unix_socket() {
    let _guard = run_beside_others();
    let bin = std::fs::read_dir("/usr/lib/postgresql")
        .expect("install Debian's postgresql package (scripts/test.sh does)")
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .find(|b| b.join("postgres").is_file())
        .expect("no /usr/lib/postgresql/*/bin/postgres");
    let dir = servers::open_dir();
    let data = dir.path().join("data");
    let chown = std::process::Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(chown.success());
    let initdb = std::process::Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(bin.join("initdb"))
        .args(["-A", "trust", "-D"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(initdb.status.success(), "{initdb:?}");
    let port = free_port();
    let mut cmd = std::process::Command::new("runuser");
    cmd.args(["-u", "postgres", "--"])
        .arg(bin.join("postgres"))
        .arg("-D")
        .arg(&data)
        .arg("-k")
        .arg(dir.path())
        .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"]);
    let mut postgres = Daemon::spawn("postgres", cmd, dir.path());
    servers::wait_listening(
        &mut postgres,
        &format!("127.0.0.1:{port}"),
        Duration::from_secs(30),
    );
    let socket = dir.path().join(format!(".s.PGSQL.{port}"));
    let tcp = db_detect::LocalDatabase {
        kind: "postgresql",
        address: format!("127.0.0.1:{port}"),
    };
    let unix = db_detect::LocalDatabase {
        kind: "postgresql",
        address: format!("unix:{}", socket.display()),
    };
    let exporter = Exporter::start(&format!(
        "upstreams:\n  - {{address: '{}', name: '{}'}}\n  - {{address: '{}', name: '{}'}}\n",
        tcp.address,
        tcp.upstream_name(),
        unix.address,
        unix.upstream_name()
    ));
    let (tcp_name, unix_name) = (tcp.upstream_name(), unix.upstream_name());
    for name in [&tcp_name, &unix_name] {
        assert_eq!(
            exporter.value("gateway_upstream_up", &[("upstream", name)]),
            Some(1.0),
            "{name}"
        );
    }
    drop(postgres);
    eventually(Duration::from_secs(10), "both checks down", || {
        let text = exporter.metrics();
        let refused = sample_value(
            &text,
            "gateway_upstream_down_info",
            &[("upstream", &tcp_name), ("reason", "connect_refused")],
        );
        // PostgreSQL removes its socket when it stops; killed, it leaves a dead one.
        let socket_gone = ["socket_missing", "connect_refused"].iter().any(|reason| {
            sample_value(
                &text,
                "gateway_upstream_down_info",
                &[("upstream", &unix_name), ("reason", reason)],
            )
            .is_some()
        });
        (refused == Some(1.0) && socket_gone).then_some(())
    });
}
