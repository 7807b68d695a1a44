//! The guides' failures, each on real servers, and the verdict `diagnose` gives for it:
//! status code, layer, cause, upstream or pool, runbook. The stacks follow the cases of
//! tests/scenarios.rs (which judges the alerts); here only the diagnosis is judged, so no
//! Prometheus or Alertmanager runs.

mod common;
#[path = "common/prometheus.rs"]
mod prometheus;
#[path = "common/scenarios.rs"]
#[allow(dead_code)] // only App is used here
mod scenarios;
#[path = "common/servers.rs"]
mod servers;

use common::*;
use scenarios::App;
use serde_json::Value;
use servers::*;
use std::any::Any;
use std::process::Command;
use std::time::Duration;

/// What the verdict must say.
struct Want {
    code: u16,
    layer: &'static str,
    cause: &'static str,
    /// The upstream (or, for a pool, the pool) the verdict names.
    upstream: Option<String>,
    pool: Option<&'static str>,
    runbook: &'static str,
}

/// A broken stack: what keeps it alive, the exporter config that watches it, the verdict.
struct Case {
    name: &'static str,
    _keep: Vec<Box<dyn Any>>,
    config: String,
    want: Want,
}

fn nginx_site(port: u16, body: &str) -> Nginx {
    Nginx::start(
        &format!("server {{ listen 127.0.0.1:{port}; server_name site.test;\n{body}\n}}"),
        port,
    )
}

/// The exporter config: nginx's error log and a probe of the site (`extra` appended).
fn watching(nginx: &Nginx, port: u16, path: &str, extra: &str) -> String {
    format!(
        "logs:\n  - {{path: '{}', format: nginx_error, name: web}}\n\
         probes:\n  - {{name: site, url: 'http://127.0.0.1:{port}{path}', timeout: 4s}}\n{extra}",
        nginx.error_log.display()
    )
}

fn proxied(upstream: &str, extra: &str) -> (Nginx, u16) {
    let port = free_port();
    let nginx = nginx_site(
        port,
        &format!("location / {{ {extra} proxy_pass http://{upstream}; }}"),
    );
    (nginx, port)
}

fn app_crashed() -> Case {
    let app_port = free_port();
    let app = App::start(app_port, Duration::ZERO);
    wait_for_port(app_port, Duration::from_secs(10));
    let (nginx, port) = proxied(&format!("127.0.0.1:{app_port}"), "");
    assert_eq!(get(port, "/").status, 200);
    drop(app);
    let config = watching(&nginx, port, "/", "");
    Case {
        name: "app_crashed",
        _keep: vec![Box::new(nginx)],
        config,
        want: Want {
            code: 502,
            layer: "proxy",
            cause: "connect_refused",
            upstream: Some(format!("127.0.0.1:{app_port}")),
            pool: None,
            runbook: "GatewayUpstreamConnectionRefused",
        },
    }
}

fn wrong_port() -> Case {
    let (app_port, proxied_port) = (free_port(), free_port());
    let app = App::start(app_port, Duration::ZERO);
    wait_for_port(app_port, Duration::from_secs(10));
    let (nginx, port) = proxied(&format!("127.0.0.1:{proxied_port}"), "");
    let config = watching(&nginx, port, "/", "");
    Case {
        name: "wrong_port",
        _keep: vec![Box::new(nginx), Box::new(app)],
        config,
        want: Want {
            code: 502,
            layer: "proxy",
            cause: "connect_refused",
            upstream: Some(format!("127.0.0.1:{proxied_port}")),
            pool: None,
            runbook: "GatewayUpstreamConnectionRefused",
        },
    }
}

fn fastcgi_to(socket: &str) -> (Nginx, u16) {
    let port = free_port();
    let nginx = nginx_site(
        port,
        &format!(
            "location / {{ fastcgi_pass unix:{socket}; fastcgi_param SCRIPT_FILENAME /x.php; }}"
        ),
    );
    (nginx, port)
}

fn socket_missing() -> Case {
    let dir = open_dir();
    let socket = dir.path().join("gone.sock").display().to_string();
    let (nginx, port) = fastcgi_to(&socket);
    let config = watching(&nginx, port, "/", "");
    Case {
        name: "socket_missing",
        _keep: vec![Box::new(nginx), Box::new(dir)],
        config,
        want: Want {
            code: 502,
            layer: "proxy",
            cause: "socket_missing",
            upstream: Some(format!("unix:{socket}")),
            pool: None,
            runbook: "GatewayUpstreamSocketMissing",
        },
    }
}

fn socket_permission() -> Case {
    let dir = open_dir();
    let path = dir.path().join("root-only.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let socket = path.display().to_string();
    let port = free_port();
    let nginx = Nginx::start_as(
        "nobody nogroup",
        &format!(
            "server {{ listen 127.0.0.1:{port}; location / {{ fastcgi_pass unix:{socket}; fastcgi_param SCRIPT_FILENAME /x.php; }} }}"
        ),
        port,
    );
    let config = watching(&nginx, port, "/", "");
    Case {
        name: "socket_permission",
        _keep: vec![Box::new(nginx), Box::new(listener), Box::new(dir)],
        config,
        want: Want {
            code: 502,
            layer: "proxy",
            cause: "socket_permission",
            upstream: Some(format!("unix:{socket}")),
            pool: None,
            runbook: "GatewayUpstreamSocketPermission",
        },
    }
}

fn backlog_full() -> Case {
    let dir = open_dir();
    let full = FullUnixSocket::bind(&dir.path().join("full.sock"));
    let socket = full.path.display().to_string();
    let (nginx, port) = fastcgi_to(&socket);
    let config = watching(&nginx, port, "/", "");
    Case {
        name: "backlog_full",
        _keep: vec![Box::new(nginx), Box::new(full), Box::new(dir)],
        config,
        want: Want {
            code: 502,
            layer: "proxy",
            cause: "backlog_full",
            upstream: Some(format!("unix:{socket}")),
            pool: None,
            runbook: "GatewayUpstreamBacklogFull",
        },
    }
}

fn fake_behind_nginx(
    name: &'static str,
    fake: FakeUpstream,
    extra: &str,
    code: u16,
    cause: &'static str,
    runbook: &'static str,
) -> Case {
    let (nginx, port) = proxied(&fake.addr().to_string(), extra);
    let config = watching(&nginx, port, "/", "");
    let upstream = Some(fake.addr().to_string());
    Case {
        name,
        _keep: vec![Box::new(nginx), Box::new(fake)],
        config,
        want: Want {
            code,
            layer: "proxy",
            cause,
            upstream,
            pool: None,
            runbook,
        },
    }
}

fn firewall_drop() -> Case {
    let hole = BlackholePort::bind();
    let upstream = format!("127.0.0.1:{}", hole.port);
    let (nginx, port) = proxied(&upstream, "proxy_connect_timeout 1s;");
    let config = watching(&nginx, port, "/", "");
    Case {
        name: "firewall_drop",
        _keep: vec![Box::new(nginx), Box::new(hole)],
        config,
        want: Want {
            code: 504,
            layer: "proxy",
            cause: "connect_timeout",
            upstream: Some(upstream),
            pool: None,
            runbook: "GatewayUpstreamConnectTimeout",
        },
    }
}

fn maintenance() -> Case {
    let port = free_port();
    let nginx = nginx_site(
        port,
        "location / { if (-f {dir}/maintenance.flag) { return 503; } return 200 ok; }",
    );
    let flag = nginx.dir.path().join("maintenance.flag");
    std::fs::write(&flag, "deploy in progress").unwrap();
    let config = watching(
        &nginx,
        port,
        "/",
        &format!("maintenance_files:\n  - '{}'\n", flag.display()),
    );
    Case {
        name: "maintenance",
        _keep: vec![Box::new(nginx)],
        config,
        want: Want {
            code: 503,
            layer: "proxy",
            cause: "maintenance",
            upstream: None,
            pool: None,
            runbook: "GatewayMaintenanceMode",
        },
    }
}

fn rate_limited() -> Case {
    let app = FakeUpstream::respond("200 OK", &[], "ok");
    let port = free_port();
    let nginx = Nginx::start(
        &format!(
            "limit_req_zone $binary_remote_addr zone=perip:1m rate=1r/m;\n\
             server {{ listen 127.0.0.1:{port}; server_name site.test;\n\
               location / {{ limit_req zone=perip; proxy_pass http://{}; }} }}",
            app.addr()
        ),
        port,
    );
    assert_eq!(
        get(port, "/").status,
        200,
        "the first request of the minute passes"
    );
    let config = watching(&nginx, port, "/", "");
    Case {
        name: "rate_limited",
        _keep: vec![Box::new(nginx), Box::new(app)],
        config,
        want: Want {
            code: 503,
            layer: "proxy",
            cause: "rate_limited",
            upstream: None,
            pool: None,
            runbook: "GatewayRateLimiting",
        },
    }
}

fn pool_exhausted() -> Case {
    let pools = fpm_pool(
        "busy",
        "{dir}/busy.sock",
        "pm = static\npm.max_children = 1\npm.status_path = /status\npm.status_listen = {dir}/busy-status.sock",
    );
    let fpm = PhpFpm::start(&pools, &["{dir}/busy.sock", "{dir}/busy-status.sock"]);
    let sock = fpm.path("busy.sock");
    let port = free_port();
    let nginx = nginx_site(
        port,
        &format!(
            "location = /sleep.php {{ fastcgi_pass unix:{sock}; fastcgi_read_timeout 1s;\n\
               fastcgi_param QUERY_STRING $query_string; fastcgi_param REQUEST_METHOD GET;\n\
               fastcgi_param SCRIPT_FILENAME {}; }}",
            fpm.path("sleep.php")
        ),
    );
    let config = watching(
        &nginx,
        port,
        "/sleep.php?s=0",
        &format!(
            "workers:\n  - {{kind: phpfpm, name: busy, address: 'unix:{}', listen: 'unix:{sock}', config_file: '{}'}}\n",
            fpm.path("busy-status.sock"),
            fpm.conf.display()
        ),
    );
    let clients = fire_requests(port, "/sleep.php?s=5", 3);
    std::thread::sleep(Duration::from_millis(300));
    Case {
        name: "pool_exhausted",
        _keep: vec![Box::new(nginx), Box::new(fpm), Box::new(clients)],
        config,
        want: Want {
            code: 504,
            layer: "proxy",
            cause: "pool_saturated",
            upstream: Some(format!("unix:{sock}")),
            pool: Some("busy"),
            runbook: "GatewayWorkerPoolSaturated",
        },
    }
}

fn apache_app_crashed() -> Case {
    let app_port = free_port();
    let apache = Apache::start(
        4,
        &format!("ProxyPass /app http://127.0.0.1:{app_port}/ retry=0\n"),
    );
    let config = format!(
        "logs:\n  - {{path: '{}', format: apache_error, name: error}}\n\
         probes:\n  - {{name: site, url: 'http://127.0.0.1:{}/app', timeout: 4s}}\n",
        apache.error_log.display(),
        apache.port
    );
    Case {
        name: "apache_app_crashed",
        _keep: vec![Box::new(apache)],
        config,
        want: Want {
            code: 503,
            layer: "proxy",
            cause: "connect_refused",
            upstream: Some(format!("127.0.0.1:{app_port}")),
            pool: None,
            runbook: "GatewayUpstreamConnectionRefused",
        },
    }
}

/// Run `diagnose --output json` on the case; the mismatches, if any.
fn judge(case: &Case) -> Result<(), String> {
    let dir = tempdir();
    let path = dir.path().join("config.yml");
    std::fs::write(&path, &case.config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gateway-exporter"))
        .args(["diagnose", "--output", "json", "--config.file"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(&stdout)
        .map_err(|e| format!("{}: not JSON ({e}): {stdout}", case.name))?;
    let v = &report["findings"][0];
    let w = &case.want;
    let got = (
        out.status.code(),
        v["status"].as_u64(),
        v["layer"].as_str(),
        v["cause"].as_str(),
        v["upstream"].as_str(),
        v["pool"].as_str(),
        v["runbook"].as_str(),
    );
    let want = (
        Some(1),
        Some(u64::from(w.code)),
        Some(w.layer),
        Some(w.cause),
        w.upstream.as_deref(),
        w.pool,
        Some(w.runbook),
    );
    if got == want {
        println!(
            "{:<20} {} {} {} {}",
            case.name, w.code, w.layer, w.cause, w.runbook
        );
        Ok(())
    } else {
        Err(format!(
            "{}: got {got:?}\n  want {want:?}\n  summary: {}\n  evidence: {}",
            case.name, v["summary"], v["evidence"]
        ))
    }
}

#[test]
fn every_guide_failure_gets_the_right_verdict() {
    let _alone = run_alone();
    let cases: [fn() -> Case; 14] = [
        app_crashed,
        wrong_port,
        socket_missing,
        socket_permission,
        backlog_full,
        || {
            fake_behind_nginx(
                "mid_request_reset",
                FakeUpstream::start(Behaviour::Reset),
                "",
                502,
                "reset",
                "GatewayUpstreamConnectionReset",
            )
        },
        || {
            fake_behind_nginx(
                "invalid_response",
                FakeUpstream::start(Behaviour::Raw(
                    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nthis is no header\r\n\r\nok".into(),
                )),
                "",
                502,
                "invalid_response",
                "GatewayUpstreamInvalidResponse",
            )
        },
        || {
            fake_behind_nginx(
                "header_too_big",
                FakeUpstream::respond(
                    "200 OK",
                    &[&format!("Set-Cookie: s={}", "a".repeat(10000))],
                    "x",
                ),
                "",
                502,
                "header_too_big",
                "GatewayUpstreamHeaderTooBig",
            )
        },
        || {
            fake_behind_nginx(
                "slow_app",
                FakeUpstream::start(Behaviour::Hang),
                "proxy_read_timeout 1s;",
                504,
                "timeout",
                "GatewayUpstreamTimeout",
            )
        },
        firewall_drop,
        maintenance,
        rate_limited,
        pool_exhausted,
        apache_app_crashed,
    ];
    let failures: Vec<String> = cases
        .into_iter()
        .filter_map(|make| judge(&make()).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
