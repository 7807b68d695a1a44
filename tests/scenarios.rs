//! The guides' failures (../shared/seeds), reproduced end to end. Each scenario stands up real
//! servers from Debian (nginx, php-fpm, Apache, HAProxy) with a small app, runs the
//! exporter against them, breaks something, and checks through public surfaces only: the
//! status code the client sees, what `/probe` says (layer, vendor), the log cause and the
//! saturation signal in `/metrics`, the alert Prometheus fires, and what Alertmanager pages
//! (through the shipped routes and inhibit rules) with its runbook link.
//!
//! One Prometheus (1s scrape and evaluation) runs the shipped rules with every `for:`,
//! range and offset divided by 10, and one Alertmanager sends to a webhook; each scenario's
//! exporter is its own `job`, so inhibition never crosses scenarios. Scenarios run in
//! parallel threads. `cargo test --test scenarios -- --nocapture` prints the table.

mod common;
#[path = "common/prometheus.rs"]
mod prometheus;
#[path = "common/scenarios.rs"]
mod scenarios;
#[path = "common/servers.rs"]
mod servers;

use common::{Behaviour, Exporter, FakeUpstream, Nginx, free_port, get, tempdir};
use prometheus::{Alertmanager, Prometheus, RUNBOOK_BASE, Webhook, alertmanager_config};
use scenarios::{App, ProbeVerdict, compressed_rules, probe};
use servers::{Apache, BlackholePort, FullUnixSocket, Haproxy, PhpFpm, fpm_pool, sum};
use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

type Keep = Vec<Box<dyn Any + Send>>;

/// The scrape's and /probe's modules, shared by every exporter.
const MODULES: &str = "modules:\n  http_2xx: {prober: http, timeout: 3s, http: {valid_status_codes: []}}\n\
     probe_endpoint: {allowed_targets: ['127.0.0.1']}\n";
/// A combined-like access log with the vhost and upstream variables.
const LOG_FORMAT: &str = r#"$remote_addr [$time_local] "$request" $status $server_name ua="$upstream_addr" us="$upstream_status" urt="$upstream_response_time""#;

/// A saturation or reachability signal: what it is, and its check on `/metrics` text.
type Signal = (&'static str, fn(&str) -> bool);

/// What a scenario must show.
#[derive(Default)]
struct Expect {
    /// The status code clients see after the breakage.
    code: u16,
    /// `/probe`'s (layer, vendor) for the site's URL.
    probe: Option<(&'static str, &'static str)>,
    /// Log causes that must be counted.
    causes: &'static [&'static str],
    /// A saturation / reachability signal: (description, check on /metrics text).
    signal: Option<Signal>,
    /// Alerts that must fire in Prometheus; the first is the one the table reports.
    fires: &'static [&'static str],
    /// Exactly the alerts that page (receiver `pager`).
    pages: &'static [&'static str],
    /// Alerts Alertmanager must hold as inhibited.
    inhibited: &'static [&'static str],
    /// Alerts that must reach the `tickets` receiver.
    tickets: &'static [&'static str],
    /// Alerts that must never go pending or fire while the scenario is watched (at
    /// least `watch_for` from the breakage: longer than their compressed `for:`).
    never_fires: &'static [&'static str],
    watch_for: Duration,
    /// Quiet scenario: nothing may page during this long, and the site must answer 200 again.
    quiet_for: Option<Duration>,
}

struct Case {
    name: &'static str,
    /// The port users reach and the paths their clients request.
    port: u16,
    paths: &'static [&'static str],
    /// Concurrent clients and their pause between requests.
    clients: usize,
    pause: Duration,
    exporter: Exporter,
    keep: Keep,
    breakage: Box<dyn FnOnce() -> Keep + Send>,
    expect: Expect,
}

/// One line of the table.
#[derive(Debug)]
struct Row {
    name: &'static str,
    code: u16,
    probe: ProbeVerdict,
    causes: String,
    alert: String,
    fired_after: Option<f64>,
    /// Seconds from the breakage to the first page (the webhook received it).
    paged_after: Option<f64>,
    paged: String,
}

/// The nginx `server_name` of a scenario's site: the `vhost` its logs carry, and the probes'
/// `vhost:` so that probe and log alerts of the site can be matched.
fn vhost(name: &str) -> String {
    format!("{}.test", name.replace('_', "-"))
}

fn site(name: &str, port: u16, body: &str) -> String {
    format!(
        "server {{ listen 127.0.0.1:{port}; server_name {};\n{body}\n}}",
        vhost(name)
    )
}

fn error_log(nginx: &Nginx) -> String {
    format!(
        "  - {{path: '{}', format: nginx_error, name: error}}\n",
        nginx.error_log.display()
    )
}

/// For a stack that is broken from the start (the app resets, hangs, sends huge headers):
/// the clock starts with the first request.
fn no_breakage() -> Box<dyn FnOnce() -> Keep + Send> {
    Box::new(Vec::new)
}

/// The app behind nginx crashes: 502, connections refused. The exporter's connect test of
/// the same address is the root cause that pages; the log alert, the vhost's burn rate and
/// the probe's 502 are its symptoms.
fn app_crashed() -> Case {
    let app_port = free_port();
    let app = App::start(app_port, Duration::ZERO);
    common::wait_for_port(app_port, Duration::from_secs(10));
    let port = free_port();
    let nginx = Nginx::start(
        &format!(
            "log_format gw '{LOG_FORMAT}';\n{}",
            site(
                "app_crashed",
                port,
                &format!(
                    "access_log {{dir}}/gw.log gw;\nlocation / {{ proxy_pass http://127.0.0.1:{app_port}; }}"
                )
            )
        ),
        port,
    );
    let exporter = Exporter::start(&format!(
        "logs:\n{err}  - {{path: '{acc}', format: nginx_access, name: access, log_format: '{LOG_FORMAT}'}}\n\
         upstreams:\n  - {{address: '127.0.0.1:{app_port}', timeout: 500ms}}\n\
         probes:\n  - {{name: site, url: 'http://127.0.0.1:{port}/', vhost: {vhost}, interval: 1s, timeout: 2s}}\n{MODULES}",
        err = error_log(&nginx),
        acc = nginx.dir.path().join("gw.log").display(),
        vhost = vhost("app_crashed"),
    ));
    Case {
        name: "app_crashed",
        port,
        paths: &["/"],
        clients: 1,
        pause: Duration::from_millis(200),
        exporter,
        keep: vec![Box::new(nginx)],
        breakage: Box::new(move || {
            drop(app);
            Vec::new()
        }),
        expect: Expect {
            code: 502,
            probe: Some(("proxy", "nginx")),
            causes: &["connect_refused"],
            signal: Some(("upstream down: connect_refused", |m| {
                sum(
                    m,
                    "gateway_upstream_down_info",
                    &[("reason", "connect_refused")],
                ) == 1.0
            })),
            fires: &[
                "GatewayUpstreamDown",
                "GatewayUpstreamConnectionRefused",
                "GatewayProbe5xx",
                "GatewayVhost5xxBurnRateFast",
            ],
            pages: &["GatewayUpstreamDown"],
            inhibited: &[
                "GatewayUpstreamConnectionRefused",
                "GatewayProbe5xx",
                "GatewayVhost5xxBurnRateFast",
            ],
            ..Default::default()
        },
    }
}

/// A PHP app behind nginx, and an exporter following nginx's error log, checking the app's
/// port and probing the site: the stack of the app-lifecycle scenarios.
fn proxied_app(name: &str) -> (App, u16, Nginx, u16, Exporter) {
    let app_port = free_port();
    let app = App::start(app_port, Duration::ZERO);
    common::wait_for_port(app_port, Duration::from_secs(10));
    let port = free_port();
    let nginx = Nginx::start(
        &site(
            name,
            port,
            &format!("location / {{ proxy_pass http://127.0.0.1:{app_port}; }}"),
        ),
        port,
    );
    let exporter = Exporter::start(&format!(
        "logs:\n{err}upstreams:\n  - {{address: '127.0.0.1:{app_port}', timeout: 500ms}}\n\
         probes:\n  - {{name: site, url: 'http://127.0.0.1:{port}/', vhost: {vhost}, interval: 1s, timeout: 2s}}\n{MODULES}",
        err = error_log(&nginx),
        vhost = vhost(name),
    ));
    (app, app_port, nginx, port, exporter)
}

/// A deploy restarts the app, which refuses connections for 3 seconds (30 s in real time)
/// while it boots, then answers: nothing pages.
fn deploy_restart() -> Case {
    let (app, app_port, nginx, port, exporter) = proxied_app("deploy_restart");
    Case {
        name: "deploy_restart",
        port,
        paths: &["/"],
        clients: 1,
        pause: Duration::from_millis(200),
        exporter,
        keep: vec![Box::new(nginx)],
        breakage: Box::new(move || {
            drop(app);
            vec![Box::new(App::start(app_port, Duration::from_secs(3)))]
        }),
        expect: Expect {
            code: 502,
            probe: None,
            causes: &["connect_refused"],
            quiet_for: Some(Duration::from_secs(50)),
            ..Default::default()
        },
    }
}

/// The app comes back on another port than nginx's proxy_pass: the app's own port answers,
/// nginx's is refused.
fn wrong_port() -> Case {
    let (old, new) = (free_port(), free_port());
    let app = App::start(old, Duration::ZERO);
    common::wait_for_port(old, Duration::from_secs(10));
    let port = free_port();
    let nginx = Nginx::start(
        &site(
            "wrong_port",
            port,
            &format!("location / {{ proxy_pass http://127.0.0.1:{old}; }}"),
        ),
        port,
    );
    let exporter = Exporter::start(&format!(
        "logs:\n{err}upstreams:\n  - {{address: '127.0.0.1:{old}', timeout: 500ms}}\n  - {{address: '127.0.0.1:{new}', name: app-new-port, timeout: 500ms}}\n{MODULES}",
        err = error_log(&nginx),
    ));
    Case {
        name: "wrong_port",
        port,
        paths: &["/"],
        clients: 1,
        pause: Duration::from_millis(200),
        exporter,
        keep: vec![Box::new(nginx)],
        breakage: Box::new(move || {
            drop(app);
            let app = App::start(new, Duration::ZERO);
            common::wait_for_port(new, Duration::from_secs(10));
            vec![Box::new(app)]
        }),
        expect: Expect {
            code: 502,
            probe: Some(("proxy", "nginx")),
            causes: &["connect_refused"],
            signal: Some(("nginx's port refused, the app's port up", |m| {
                sum(m, "gateway_upstream_up", &[("upstream", "app-new-port")]) == 1.0
                    && sum(
                        m,
                        "gateway_upstream_down_info",
                        &[("reason", "connect_refused")],
                    ) == 1.0
            })),
            fires: &["GatewayUpstreamDown", "GatewayUpstreamConnectionRefused"],
            pages: &["GatewayUpstreamDown"],
            inhibited: &["GatewayUpstreamConnectionRefused"],
            ..Default::default()
        },
    }
}

/// nginx -> PHP-FPM over a unix socket, with the FPM status page on its own listener.
fn fpm_site(name: &'static str, pool_extra: &str, read_timeout: &str) -> (PhpFpm, Nginx, u16) {
    let fpm = PhpFpm::start(
        &fpm_pool(
            "app",
            "{dir}/app.sock",
            &format!(
                "pm.status_path = /status\npm.status_listen = {{dir}}/status.sock\n{pool_extra}"
            ),
        ),
        &["{dir}/app.sock", "{dir}/status.sock"],
    );
    let port = free_port();
    let nginx = Nginx::start(
        &site(
            name,
            port,
            &format!(
                "location / {{ fastcgi_pass unix:{sock}; fastcgi_read_timeout {read_timeout};\n\
                 fastcgi_param REQUEST_METHOD $request_method; fastcgi_param QUERY_STRING $query_string;\n\
                 fastcgi_param SCRIPT_FILENAME {script}; fastcgi_param SCRIPT_NAME /sleep.php; }}",
                sock = fpm.path("app.sock"),
                script = fpm.path("sleep.php"),
            ),
        ),
        port,
    );
    assert_eq!(get(port, "/?s=0").status, 200, "{}", nginx.error_log_text());
    (fpm, nginx, port)
}

/// The pool's socket disappears (removed, or the pool listens elsewhere now).
fn socket_missing() -> Case {
    let (fpm, nginx, port) = fpm_site("socket_missing", "pm = static\npm.max_children = 2", "5s");
    let sock = fpm.path("app.sock");
    let exporter = Exporter::start(&format!(
        "logs:\n{err}upstreams:\n  - {{address: 'unix:{sock}', timeout: 500ms}}\n{MODULES}",
        err = error_log(&nginx),
    ));
    Case {
        name: "socket_missing",
        port,
        paths: &["/?s=0"],
        clients: 1,
        pause: Duration::from_millis(200),
        exporter,
        keep: vec![Box::new(nginx), Box::new(fpm)],
        breakage: Box::new(move || {
            std::fs::remove_file(&sock).unwrap();
            Vec::new()
        }),
        expect: Expect {
            code: 502,
            probe: Some(("proxy", "nginx")),
            causes: &["socket_missing"],
            signal: Some(("upstream down: socket_missing", |m| {
                sum(
                    m,
                    "gateway_upstream_down_info",
                    &[("reason", "socket_missing")],
                ) == 1.0
            })),
            fires: &["GatewayUpstreamDown", "GatewayUpstreamSocketMissing"],
            pages: &["GatewayUpstreamDown"],
            inhibited: &["GatewayUpstreamSocketMissing"],
            ..Default::default()
        },
    }
}

/// The pool's socket becomes root-only (listen.mode) while nginx's workers run as nobody.
/// The exporter runs as root and can still connect, so the log is the only witness.
fn socket_permission() -> Case {
    let fpm = PhpFpm::start(
        &fpm_pool(
            "app",
            "{dir}/app.sock",
            "pm = static\npm.max_children = 2\nlisten.mode = 0666",
        ),
        &["{dir}/app.sock"],
    );
    let sock = fpm.path("app.sock");
    let port = free_port();
    let nginx = Nginx::start_as(
        "nobody nogroup",
        &site(
            "socket_permission",
            port,
            &format!(
                "location / {{ fastcgi_pass unix:{sock};\n\
                 fastcgi_param SCRIPT_FILENAME {script}; fastcgi_param SCRIPT_NAME /sleep.php; fastcgi_param QUERY_STRING s=0; }}",
                script = fpm.path("sleep.php"),
            ),
        ),
        port,
    );
    assert_eq!(get(port, "/").status, 200, "{}", nginx.error_log_text());
    let exporter = Exporter::start(&format!("logs:\n{}{MODULES}", error_log(&nginx)));
    Case {
        name: "socket_permission",
        port,
        paths: &["/"],
        clients: 1,
        pause: Duration::from_millis(200),
        exporter,
        keep: vec![Box::new(nginx), Box::new(fpm)],
        breakage: Box::new(move || {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600)).unwrap();
            Vec::new()
        }),
        expect: Expect {
            code: 502,
            probe: Some(("proxy", "nginx")),
            causes: &["socket_permission"],
            fires: &["GatewayUpstreamSocketPermission"],
            pages: &["GatewayUpstreamSocketPermission"],
            ..Default::default()
        },
    }
}

/// The app's unix socket backlog is full (it stopped accepting): nginx gets EAGAIN and
/// answers 502 at once.
fn backlog_full() -> Case {
    let dir = servers::open_dir();
    let sock = dir.path().join("app.sock");
    let port = free_port();
    let nginx = Nginx::start(
        &site(
            "backlog_full",
            port,
            &format!(
                "location / {{ proxy_pass http://unix:{}:/; }}",
                sock.display()
            ),
        ),
        port,
    );
    let s = sock.display().to_string();
    let exporter = Exporter::start(&format!(
        "logs:\n{err}upstreams:\n  - {{address: 'unix:{s}', timeout: 500ms}}\n\
         workers:\n  - {{kind: socket, name: app, address: 'unix:{s}', limit: 4}}\n{MODULES}",
        err = error_log(&nginx),
    ));
    Case {
        name: "backlog_full",
        port,
        paths: &["/"],
        clients: 1,
        pause: Duration::from_millis(200),
        exporter,
        keep: vec![Box::new(nginx)],
        breakage: Box::new(move || vec![Box::new(FullUnixSocket::bind(&sock)), Box::new(dir)]),
        expect: Expect {
            code: 502,
            probe: Some(("proxy", "nginx")),
            causes: &["backlog_full"],
            signal: Some(("upstream down: backlog_full, queue > 0", |m| {
                sum(
                    m,
                    "gateway_upstream_down_info",
                    &[("reason", "backlog_full")],
                ) == 1.0
                    && sum(m, "gateway_worker_queue", &[("pool", "app")]) > 0.0
            })),
            fires: &[
                "GatewayUpstreamDown",
                "GatewayUpstreamBacklogFull",
                "GatewaySocketPoolSaturated",
            ],
            pages: &["GatewayUpstreamDown"],
            inhibited: &["GatewayUpstreamBacklogFull", "GatewaySocketPoolSaturated"],
            ..Default::default()
        },
    }
}

/// The app dies in the middle of requests: resets and closes before answering.
fn mid_request() -> Case {
    let reset = FakeUpstream::start(Behaviour::Reset);
    let close = FakeUpstream::start(Behaviour::Close);
    let port = free_port();
    let nginx = Nginx::start(
        &site(
            "mid_request",
            port,
            &format!(
                "location /reset {{ proxy_pass http://127.0.0.1:{}; }}\nlocation /close {{ proxy_pass http://127.0.0.1:{}; }}",
                reset.port, close.port
            ),
        ),
        port,
    );
    let exporter = Exporter::start(&format!("logs:\n{}{MODULES}", error_log(&nginx)));
    Case {
        name: "mid_request",
        port,
        paths: &["/reset", "/close"],
        clients: 1,
        pause: Duration::from_millis(200),
        exporter,
        keep: vec![Box::new(nginx), Box::new(reset), Box::new(close)],
        breakage: no_breakage(),
        expect: Expect {
            code: 502,
            probe: Some(("proxy", "nginx")),
            causes: &["reset", "premature_close"],
            fires: &["GatewayUpstreamConnectionReset"],
            tickets: &["GatewayUpstreamConnectionReset"],
            ..Default::default()
        },
    }
}

/// The same crash behind Apache's mod_proxy: 503 with Apache's own page.
fn apache_app_crashed() -> Case {
    let app_port = free_port();
    let app = App::start(app_port, Duration::ZERO);
    common::wait_for_port(app_port, Duration::from_secs(10));
    let apache = Apache::start(
        8,
        &format!("ProxyPass /app http://127.0.0.1:{app_port}/ retry=0\n"),
    );
    let port = apache.port;
    let exporter = Exporter::start(&format!(
        "logs:\n  - {{path: '{log}', format: apache_error, name: error}}\n\
         upstreams:\n  - {{address: '127.0.0.1:{app_port}', timeout: 500ms}}\n{MODULES}",
        log = apache.error_log.display(),
    ));
    Case {
        name: "apache_app_crashed",
        port,
        paths: &["/app"],
        clients: 1,
        pause: Duration::from_millis(200),
        exporter,
        keep: vec![Box::new(apache)],
        breakage: Box::new(move || {
            drop(app);
            Vec::new()
        }),
        expect: Expect {
            code: 503,
            probe: Some(("proxy", "apache")),
            causes: &["connect_refused"],
            fires: &["GatewayUpstreamDown", "GatewayUpstreamConnectionRefused"],
            pages: &["GatewayUpstreamDown"],
            inhibited: &["GatewayUpstreamConnectionRefused"],
            ..Default::default()
        },
    }
}

/// The app answers, but not HTTP ("something malformed"): 502.
fn invalid_response() -> Case {
    // A header line without a colon (a text that is not HTTP at all would be passed through
    // by nginx as an HTTP/0.9 body, not turned into a 502).
    let garbage = FakeUpstream::start(Behaviour::Raw(
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nthis is no header\r\n\r\nok".into(),
    ));
    let port = free_port();
    let nginx = Nginx::start(
        &site(
            "invalid_response",
            port,
            &format!(
                "location / {{ proxy_pass http://127.0.0.1:{}; }}",
                garbage.port
            ),
        ),
        port,
    );
    let exporter = Exporter::start(&format!("logs:\n{}{MODULES}", error_log(&nginx)));
    Case {
        name: "invalid_response",
        port,
        paths: &["/"],
        clients: 1,
        pause: Duration::from_millis(200),
        exporter,
        keep: vec![Box::new(nginx), Box::new(garbage)],
        breakage: no_breakage(),
        expect: Expect {
            code: 502,
            probe: Some(("proxy", "nginx")),
            causes: &["invalid_response"],
            fires: &["GatewayUpstreamInvalidResponse"],
            tickets: &["GatewayUpstreamInvalidResponse"],
            ..Default::default()
        },
    }
}

/// A firewall drops the proxy's packets to the app: connects time out, 504.
fn firewall_drop() -> Case {
    let blackhole = BlackholePort::bind();
    let bh = blackhole.port;
    let port = free_port();
    let nginx = Nginx::start(
        &site(
            "firewall_drop",
            port,
            &format!(
                "location / {{ proxy_pass http://127.0.0.1:{bh}; proxy_connect_timeout 1s; }}"
            ),
        ),
        port,
    );
    let exporter = Exporter::start(&format!(
        "logs:\n{err}upstreams:\n  - {{address: '127.0.0.1:{bh}', timeout: 500ms}}\n{MODULES}",
        err = error_log(&nginx),
    ));
    Case {
        name: "firewall_drop",
        port,
        paths: &["/"],
        clients: 2,
        pause: Duration::from_millis(100),
        exporter,
        keep: vec![Box::new(nginx), Box::new(blackhole)],
        breakage: no_breakage(),
        expect: Expect {
            code: 504,
            probe: Some(("proxy", "nginx")),
            causes: &["connect_timeout"],
            signal: Some(("upstream down: connect_timeout", |m| {
                sum(
                    m,
                    "gateway_upstream_down_info",
                    &[("reason", "connect_timeout")],
                ) == 1.0
            })),
            fires: &["GatewayUpstreamDown", "GatewayUpstreamConnectTimeout"],
            pages: &["GatewayUpstreamDown"],
            inhibited: &["GatewayUpstreamConnectTimeout"],
            ..Default::default()
        },
    }
}

/// An app that crashes every few seconds and is restarted by its supervisor.
struct CrashLoop {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl CrashLoop {
    /// Down for `down`, up for `up`, again and again, on `port`.
    fn start(port: u16, app: App, down: Duration, up: Duration) -> CrashLoop {
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = thread::spawn(move || {
            let mut app = Some(app);
            while !stop2.load(Ordering::Relaxed) {
                drop(app.take());
                thread::sleep(down);
                app = Some(App::start(port, Duration::ZERO));
                thread::sleep(up);
            }
        });
        CrashLoop {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for CrashLoop {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The 502 that "goes away on its own" and comes back: each outage is shorter than any
/// `for:`, but the probe flaps (a ticket) and the refused connections never stop long
/// enough, so the refused-connection alert pages.
fn crash_loop() -> Case {
    let (app, app_port, nginx, port, exporter) = proxied_app("crash_loop");
    Case {
        name: "crash_loop",
        port,
        paths: &["/"],
        clients: 1,
        pause: Duration::from_millis(200),
        exporter,
        keep: vec![Box::new(nginx)],
        breakage: Box::new(move || {
            vec![Box::new(CrashLoop::start(
                app_port,
                app,
                Duration::from_secs(3),
                Duration::from_secs(4),
            ))]
        }),
        expect: Expect {
            code: 502,
            probe: Some(("proxy", "nginx")),
            causes: &["connect_refused"],
            fires: &["GatewayUpstreamConnectionRefused", "GatewayProbeFlapping"],
            pages: &["GatewayUpstreamConnectionRefused"],
            tickets: &["GatewayProbeFlapping"],
            ..Default::default()
        },
    }
}

/// The app accepts but does not answer within proxy_read_timeout: 504.
fn slow_app() -> Case {
    let hang = FakeUpstream::start(Behaviour::Hang);
    let port = free_port();
    let nginx = Nginx::start(
        &site(
            "slow_app",
            port,
            &format!(
                "location / {{ proxy_pass http://127.0.0.1:{}; proxy_read_timeout 1s; }}",
                hang.port
            ),
        ),
        port,
    );
    // A scheduled probe sees the same 504s: the cause alert (5m) fires before the probe's
    // symptom alert (6m) and keeps it from paging.
    let exporter = Exporter::start(&format!(
        "logs:\n{}probes:\n  - {{name: site, url: 'http://127.0.0.1:{port}/', vhost: {}, interval: 1s, timeout: 3s}}\n{MODULES}",
        error_log(&nginx),
        vhost("slow_app"),
    ));
    Case {
        name: "slow_app",
        port,
        paths: &["/"],
        clients: 3,
        pause: Duration::from_millis(100),
        exporter,
        keep: vec![Box::new(nginx), Box::new(hang)],
        breakage: no_breakage(),
        expect: Expect {
            code: 504,
            probe: Some(("proxy", "nginx")),
            causes: &["timeout"],
            fires: &["GatewayUpstreamTimeout", "GatewayProbe5xx"],
            pages: &["GatewayUpstreamTimeout"],
            ..Default::default()
        },
    }
}

/// More slow requests than PHP-FPM children: every child busy, the socket's backlog grows,
/// nginx times out (504). The saturated pool pages; the timeouts are its symptom.
fn pool_exhausted() -> Case {
    let (fpm, nginx, port) = fpm_site("pool_exhausted", "pm = static\npm.max_children = 2", "2s");
    let exporter = Exporter::start(&format!(
        "logs:\n{err}workers:\n  - {{kind: phpfpm, name: app, address: 'unix:{status}', listen: 'unix:{sock}', config_file: '{conf}', timeout: 500ms}}\n{MODULES}",
        err = error_log(&nginx),
        status = fpm.path("status.sock"),
        sock = fpm.path("app.sock"),
        conf = fpm.conf.display(),
    ));
    Case {
        name: "pool_exhausted",
        port,
        paths: &["/?s=6"],
        clients: 6,
        pause: Duration::from_millis(100),
        exporter,
        keep: vec![Box::new(nginx), Box::new(fpm)],
        breakage: no_breakage(),
        expect: Expect {
            code: 504,
            probe: Some(("proxy", "nginx")),
            causes: &["timeout"],
            signal: Some(("every worker busy, queue > 0", |m| {
                let active = sum(
                    m,
                    "gateway_workers",
                    &[("pool", "app"), ("state", "active")],
                );
                active > 0.0
                    && active == sum(m, "gateway_workers_limit", &[("pool", "app")])
                    && sum(m, "gateway_worker_queue", &[("pool", "app")]) > 0.0
            })),
            fires: &[
                "GatewayWorkerPoolSaturated",
                "GatewayUpstreamTimeout",
                "GatewayWorkerQueueBuilding",
            ],
            pages: &["GatewayWorkerPoolSaturated"],
            inhibited: &["GatewayUpstreamTimeout"],
            ..Default::default()
        },
    }
}

/// The app sends more header than proxy_buffer_size holds: 502 on that page.
fn header_too_big() -> Case {
    let big = FakeUpstream::respond(
        "200 OK",
        &[&format!("Set-Cookie: s={}", "a".repeat(10000))],
        "x",
    );
    let port = free_port();
    let nginx = Nginx::start(
        &site(
            "header_too_big",
            port,
            &format!("location / {{ proxy_pass http://127.0.0.1:{}; }}", big.port),
        ),
        port,
    );
    let exporter = Exporter::start(&format!("logs:\n{}{MODULES}", error_log(&nginx)));
    Case {
        name: "header_too_big",
        port,
        paths: &["/"],
        clients: 1,
        pause: Duration::from_millis(200),
        exporter,
        keep: vec![Box::new(nginx), Box::new(big)],
        breakage: no_breakage(),
        expect: Expect {
            code: 502,
            probe: Some(("proxy", "nginx")),
            causes: &["header_too_big"],
            fires: &["GatewayUpstreamHeaderTooBig"],
            tickets: &["GatewayUpstreamHeaderTooBig"],
            ..Default::default()
        },
    }
}

/// A maintenance flag left behind: 503 on purpose, explained, nothing pages.
fn maintenance() -> Case {
    let port = free_port();
    let nginx = Nginx::start(
        &site(
            "maintenance",
            port,
            "location / { if (-f {dir}/maintenance.flag) { return 503; } return 200 ok; }",
        ),
        port,
    );
    let flag = nginx.dir.path().join("maintenance.flag");
    let exporter = Exporter::start(&format!(
        "logs:\n{err}maintenance_files:\n  - {{path: '{flag}', vhost: {vhost}, target: site}}\n\
         probes:\n  - {{name: site, url: 'http://127.0.0.1:{port}/', vhost: {vhost}, interval: 1s, timeout: 2s}}\n{MODULES}",
        err = error_log(&nginx),
        flag = flag.display(),
        vhost = vhost("maintenance"),
    ));
    Case {
        name: "maintenance",
        port,
        paths: &["/"],
        clients: 1,
        pause: Duration::from_millis(200),
        exporter,
        keep: vec![Box::new(nginx)],
        breakage: Box::new(move || {
            std::fs::write(&flag, "deploy in progress").unwrap();
            Vec::new()
        }),
        expect: Expect {
            code: 503,
            probe: Some(("proxy", "nginx")),
            signal: Some(
                ("maintenance flag present, mapped to the probed site", |m| {
                    sum(m, "gateway_maintenance_mode", &[]) == 1.0
                        && sum(
                            m,
                            "gateway_maintenance_info",
                            &[("target", "site"), ("vhost", "maintenance.test")],
                        ) == 1.0
                }),
            ),
            fires: &["GatewayMaintenanceMode"],
            // The flag explains its site's 503: the probe alert never even goes pending
            // long enough to fire (its `for:` is 42 s here).
            never_fires: &["GatewayProbe5xx"],
            watch_for: Duration::from_secs(50),
            ..Default::default()
        },
    }
}

/// limit_req rejects most of a client's requests with 503.
fn rate_limited() -> Case {
    let app = FakeUpstream::respond("200 OK", &[], "ok");
    let port = free_port();
    let nginx = Nginx::start(
        &format!(
            "limit_req_zone $binary_remote_addr zone=perip:1m rate=2r/s;\n{}",
            site(
                "rate_limited",
                port,
                &format!(
                    "location / {{ limit_req zone=perip; proxy_pass http://127.0.0.1:{}; }}",
                    app.port
                )
            )
        ),
        port,
    );
    let exporter = Exporter::start(&format!("logs:\n{}{MODULES}", error_log(&nginx)));
    Case {
        name: "rate_limited",
        port,
        paths: &["/"],
        clients: 2,
        pause: Duration::from_millis(50),
        exporter,
        keep: vec![Box::new(nginx), Box::new(app)],
        breakage: no_breakage(),
        expect: Expect {
            code: 503,
            probe: None,
            causes: &["rate_limited"],
            fires: &["GatewayRateLimiting"],
            tickets: &["GatewayRateLimiting"],
            ..Default::default()
        },
    }
}

/// Both servers of an nginx upstream group go down: refused, then "no live upstreams".
fn balancer_nginx() -> Case {
    let (a, b) = (
        FakeUpstream::respond("200 OK", &[], "a"),
        FakeUpstream::respond("200 OK", &[], "b"),
    );
    let (pa, pb) = (a.port, b.port);
    let port = free_port();
    let nginx = Nginx::start(
        &format!(
            "upstream backend {{ server 127.0.0.1:{pa} max_fails=1 fail_timeout=10s; server 127.0.0.1:{pb} max_fails=1 fail_timeout=10s; }}\n{}",
            site(
                "balancer_nginx",
                port,
                "location / { proxy_pass http://backend; }"
            )
        ),
        port,
    );
    let exporter = Exporter::start(&format!(
        "logs:\n{err}upstreams:\n  - {{address: '127.0.0.1:{pa}', group: backend, timeout: 500ms}}\n  - {{address: '127.0.0.1:{pb}', group: backend, timeout: 500ms}}\n{MODULES}",
        err = error_log(&nginx),
    ));
    Case {
        name: "balancer_nginx",
        port,
        paths: &["/"],
        clients: 1,
        pause: Duration::from_millis(200),
        exporter,
        keep: vec![Box::new(nginx)],
        breakage: Box::new(move || {
            drop((a, b));
            Vec::new()
        }),
        expect: Expect {
            code: 502,
            probe: Some(("proxy", "nginx")),
            causes: &["no_live_upstreams", "connect_refused"],
            fires: &["GatewayUpstreamDown", "GatewayNoLiveUpstreams"],
            pages: &["GatewayUpstreamDown"],
            inhibited: &["GatewayNoLiveUpstreams", "GatewayUpstreamConnectionRefused"],
            ..Default::default()
        },
    }
}

/// Both servers of an HAProxy backend fail their health checks: 503 <NOSRV>. A `listen`
/// section: HAProxy's log labels responses with the frontend and errors with the backend,
/// so only where both are one name does the vhost's burn rate meet the cause that explains
/// it (docs/scenarios.md).
fn balancer_haproxy() -> Case {
    let (a, b) = (
        FakeUpstream::respond("200 OK", &[], "a"),
        FakeUpstream::respond("200 OK", &[], "b"),
    );
    let (pa, pb) = (a.port, b.port);
    let port = free_port();
    let haproxy = Haproxy::start(
        port,
        &format!(
            "listen app\n  bind 127.0.0.1:{port}\n  server a 127.0.0.1:{pa} check inter 500ms fall 1 rise 1\n  server b 127.0.0.1:{pb} check inter 500ms fall 1 rise 1\n"
        ),
    );
    let exporter = Exporter::start(&format!(
        "logs:\n  - {{path: '{log}', format: haproxy, name: haproxy}}\n\
         upstreams:\n  - {{address: '127.0.0.1:{pa}', group: app, timeout: 500ms}}\n  - {{address: '127.0.0.1:{pb}', group: app, timeout: 500ms}}\n{MODULES}",
        log = haproxy.log.display(),
    ));
    Case {
        name: "balancer_haproxy",
        port,
        paths: &["/"],
        clients: 1,
        pause: Duration::from_millis(200),
        exporter,
        keep: vec![Box::new(haproxy)],
        breakage: Box::new(move || {
            drop((a, b));
            Vec::new()
        }),
        expect: Expect {
            code: 503,
            probe: Some(("load_balancer", "haproxy")),
            causes: &["no_live_upstreams"],
            fires: &[
                "GatewayUpstreamDown",
                "GatewayNoLiveUpstreams",
                "GatewayVhost5xxBurnRateFast",
            ],
            pages: &["GatewayUpstreamDown"],
            inhibited: &["GatewayNoLiveUpstreams", "GatewayVhost5xxBurnRateFast"],
            ..Default::default()
        },
    }
}

/// An nginx acting as a CDN edge (its error page is a CDN's, with `cf-ray`) in front of an
/// origin nginx. `tls_flag`: the edge speaks TLS to the origin while that file exists.
fn cdn(name: &'static str) -> (Nginx, Nginx, u16, u16) {
    let origin_port = free_port();
    let origin = Nginx::start(
        &site(name, origin_port, "location / { return 200 'origin ok'; }"),
        origin_port,
    );
    let port = free_port();
    let edge = Nginx::start(
        &site(
            name,
            port,
            &format!(
                "location / {{ if (-f {{dir}}/tls-to-origin) {{ proxy_pass https://127.0.0.1:{origin_port}; }}\n\
                   proxy_pass http://127.0.0.1:{origin_port}; }}\n\
                 error_page 502 504 /cdn-error.html;\n\
                 location = /cdn-error.html {{ internal; root {{dir}}; add_header cf-ray 8e1f2a3b4c5d6e7f-AMS always; }}"
            ),
        ),
        port,
    );
    std::fs::write(
        edge.dir.path().join("cdn-error.html"),
        "<!DOCTYPE html><html><body><div id=\"cf-wrapper\"><div id=\"cf-error-details\">\
         <h1>Bad gateway</h1><span>Error code 502</span></div></div></body></html>\n",
    )
    .unwrap();
    assert_eq!(get(port, "/").status, 200);
    (origin, edge, port, origin_port)
}

fn cdn_exporter(port: u16, origin_port: u16) -> Exporter {
    Exporter::start(&format!(
        "probes:\n  - {{name: site, url: 'http://127.0.0.1:{port}/', origin: '127.0.0.1:{origin_port}', interval: 1s, timeout: 2s}}\n{MODULES}"
    ))
}

/// The origin behind the CDN is down: the edge answers its own 502 page, and the origin
/// probe fails too, so the origin pages.
fn cdn_origin_down() -> Case {
    let (origin, edge, port, origin_port) = cdn("cdn_origin_down");
    Case {
        name: "cdn_origin_down",
        port,
        paths: &["/"],
        clients: 1,
        pause: Duration::from_millis(200),
        exporter: cdn_exporter(port, origin_port),
        keep: vec![Box::new(edge)],
        breakage: Box::new(move || {
            drop(origin);
            Vec::new()
        }),
        expect: Expect {
            code: 502,
            probe: Some(("cdn", "cloudflare")),
            signal: Some(("origin probe: connect_refused", |m| {
                sum(
                    m,
                    "gateway_probe_failure_info",
                    &[("path", "origin"), ("reason", "connect_refused")],
                ) == 1.0
            })),
            fires: &["GatewayProbeOriginFailing", "GatewayProbe5xx"],
            pages: &["GatewayProbeOriginFailing"],
            inhibited: &["GatewayProbe5xx"],
            ..Default::default()
        },
    }
}

/// The edge itself fails (its TLS to the origin is misconfigured) while the origin answers.
fn cdn_edge_error() -> Case {
    let (origin, edge, port, origin_port) = cdn("cdn_edge_error");
    let flag = edge.dir.path().join("tls-to-origin");
    Case {
        name: "cdn_edge_error",
        port,
        paths: &["/"],
        clients: 1,
        pause: Duration::from_millis(200),
        exporter: cdn_exporter(port, origin_port),
        keep: vec![Box::new(edge), Box::new(origin)],
        breakage: Box::new(move || {
            std::fs::write(&flag, "").unwrap();
            Vec::new()
        }),
        expect: Expect {
            code: 502,
            probe: Some(("cdn", "cloudflare")),
            signal: Some(("origin probe passes", |m| {
                sum(m, "gateway_probe_success", &[("path", "origin")]) == 1.0
                    && sum(m, "gateway_probe_success", &[("path", "public")]) == 0.0
            })),
            fires: &["GatewayProbeCdnFailing"],
            pages: &["GatewayProbeCdnFailing"],
            ..Default::default()
        },
    }
}

/// Shared observers: Prometheus, Alertmanager and the webhook.
struct Observers {
    prom: Prometheus,
    am: Alertmanager,
    webhook: Webhook,
}

impl Observers {
    /// Alert names of `job` in `state` (firing, pending) in Prometheus now.
    fn alerts(&self, job: &str, state: &str) -> BTreeSet<String> {
        self.prom
            .query(&format!("ALERTS{{job=\"{job}\",alertstate=\"{state}\"}}"))
            .iter()
            .filter_map(|s| s["metric"]["alertname"].as_str().map(str::to_string))
            .collect()
    }

    /// Alerts of `job` notified to `receiver`, with their runbook links.
    fn notified(&self, job: &str, receiver: &str) -> BTreeMap<String, String> {
        self.webhook
            .received()
            .iter()
            .filter(|n| n["receiver"] == receiver)
            .flat_map(|n| n["alerts"].as_array().cloned().unwrap_or_default())
            .filter(|a| a["labels"]["job"] == job)
            .map(|a| {
                (
                    a["labels"]["alertname"].as_str().unwrap_or("").to_string(),
                    a["annotations"]["runbook_url"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                )
            })
            .collect()
    }

    fn inhibited(&self, job: &str) -> BTreeSet<String> {
        self.am
            .alerts()
            .iter()
            .filter(|a| a["labels"]["job"] == job)
            .filter(|a| {
                a["status"]["inhibitedBy"]
                    .as_array()
                    .is_some_and(|v| !v.is_empty())
            })
            .filter_map(|a| a["labels"]["alertname"].as_str().map(str::to_string))
            .collect()
    }
}

fn names(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Break the case, keep clients going, and wait until everything expected is seen.
fn run(case: Case, obs: &Observers) -> Result<Row, String> {
    let Case {
        name,
        port,
        paths,
        clients,
        pause,
        mut exporter,
        keep,
        breakage,
        expect,
    } = case;
    let statuses: Arc<Mutex<Vec<u16>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let kept_after = breakage();
    let client_threads: Vec<_> = (0..clients)
        .map(|i| {
            let (statuses, stop) = (statuses.clone(), stop.clone());
            thread::spawn(move || {
                let mut n = i;
                while !stop.load(Ordering::Relaxed) {
                    let status = common::get(port, paths[n % paths.len()]).status;
                    statuses.lock().unwrap().push(status);
                    n += 1;
                    thread::sleep(pause);
                }
            })
        })
        .collect();
    let deadline = started + Duration::from_secs(200);
    let mut fired: BTreeMap<String, f64> = BTreeMap::new();
    let mut paged_at: Option<f64> = None;
    let mut pending: BTreeSet<String> = BTreeSet::new();
    let mut verdict: Option<ProbeVerdict> = None;
    let mut causes_seen = false;
    let mut signal_seen = expect.signal.is_none();
    let want_pages = names(expect.pages);
    let result = loop {
        thread::sleep(Duration::from_millis(500));
        let t = started.elapsed().as_secs_f64();
        let seen = statuses.lock().unwrap().clone();
        exporter.daemon.assert_running();
        let metrics = exporter.metrics();
        if !causes_seen {
            causes_seen = expect
                .causes
                .iter()
                .all(|c| sum(&metrics, "gateway_upstream_errors_total", &[("cause", c)]) > 0.0);
        }
        if !signal_seen {
            signal_seen = expect.signal.as_ref().is_some_and(|(_, f)| f(&metrics));
        }
        if verdict.is_none() && seen.contains(&expect.code) {
            verdict = Some(probe(
                exporter.port,
                &format!("http://127.0.0.1:{port}{}", paths[0]),
            ));
        }
        for a in obs.alerts(name, "firing") {
            fired.entry(a).or_insert(t);
        }
        pending.extend(obs.alerts(name, "pending"));
        if let Some(a) = expect
            .never_fires
            .iter()
            .find(|a| fired.contains_key(**a) || pending.contains(**a))
        {
            break Err(format!("{a} went pending or fired"));
        }
        let pages = obs.notified(name, "pager");
        if paged_at.is_none() && !pages.is_empty() {
            paged_at = Some(t);
        }
        if let Some(quiet) = expect.quiet_for {
            if !pages.is_empty() {
                break Err(format!("paged {pages:?} although the app recovered"));
            }
            if started.elapsed() > quiet {
                let last = seen.last().copied().unwrap_or(0);
                break if !fired.is_empty() {
                    Err(format!("fired {fired:?} although the app recovered"))
                } else if last != 200 {
                    Err(format!("the site did not recover: last status {last}"))
                } else if !seen.contains(&expect.code) {
                    Err(format!(
                        "never saw {} during the restart: {seen:?}",
                        expect.code
                    ))
                } else if !causes_seen {
                    Err(format!("causes {:?} not counted", expect.causes))
                } else {
                    Ok(())
                };
            }
            continue;
        }
        let page_names: BTreeSet<String> = pages.keys().cloned().collect();
        if !page_names.is_subset(&want_pages) {
            break Err(format!(
                "paged {page_names:?}, expected only {want_pages:?}"
            ));
        }
        let tickets: BTreeSet<String> = obs.notified(name, "tickets").into_keys().collect();
        let inhibited = obs.inhibited(name);
        let done = seen.contains(&expect.code)
            && verdict.is_some()
            && causes_seen
            && signal_seen
            && expect.fires.iter().all(|a| fired.contains_key(*a))
            && page_names == want_pages
            && expect.tickets.iter().all(|a| tickets.contains(*a))
            && expect.inhibited.iter().all(|a| inhibited.contains(*a))
            && started.elapsed() >= expect.watch_for;
        if done {
            break Ok(());
        }
        if Instant::now() > deadline {
            break Err(format!(
                "after {t:.0}s: statuses seen {:?}, probe {verdict:?}, causes seen {causes_seen}, signal seen {signal_seen}, \
                 fired {fired:?}, paged {page_names:?}, tickets {tickets:?}, inhibited {inhibited:?}",
                seen.iter().collect::<BTreeSet<_>>()
            ));
        }
    };
    // Past another group_wait and group_interval: nothing else paged, links are right.
    let settle = Instant::now() + Duration::from_secs(6);
    while result.is_ok() && expect.quiet_for.is_none() && Instant::now() < settle {
        thread::sleep(Duration::from_millis(500));
    }
    stop.store(true, Ordering::Relaxed);
    for c in client_threads {
        let _ = c.join();
    }
    let pages = obs.notified(name, "pager");
    let mut result = result;
    if result.is_ok() {
        let page_names: BTreeSet<String> = pages.keys().cloned().collect();
        if page_names != want_pages {
            result = Err(format!("paged {page_names:?}, expected {want_pages:?}"));
        }
        for (alert, url) in &pages {
            if *url != format!("{RUNBOOK_BASE}{alert}.md") {
                result = Err(format!("{alert} pages with runbook {url}"));
            }
        }
        if let (Some(v), Some((layer, vendor))) = (&verdict, expect.probe)
            && (v.layer != layer || v.vendor != vendor || v.code != expect.code)
        {
            result = Err(format!(
                "/probe says {v:?}, expected {} {layer} {vendor}",
                expect.code
            ));
        }
    }
    let metrics = exporter.metrics();
    let causes: Vec<String> = expect
        .causes
        .iter()
        .filter(|c| sum(&metrics, "gateway_upstream_errors_total", &[("cause", c)]) > 0.0)
        .map(|c| c.to_string())
        .collect();
    let alert = match expect.fires.first() {
        Some(a) => a.to_string(),
        None if pending.is_empty() => "(none)".into(),
        // A quiet scenario: what went pending and resolved before its `for:` ran out.
        None => format!(
            "(none; pending only: {})",
            pending.iter().cloned().collect::<Vec<_>>().join(", ")
        ),
    };
    let row = Row {
        name,
        code: expect.code,
        probe: verdict.unwrap_or_default(),
        causes: if causes.is_empty() {
            "-".into()
        } else {
            causes.join(",")
        },
        fired_after: fired.get(&alert).copied(),
        paged_after: paged_at,
        alert,
        paged: if pages.is_empty() {
            "-".into()
        } else {
            pages.keys().cloned().collect::<Vec<_>>().join(",")
        },
    };
    drop((keep, kept_after));
    result.map(|()| row).map_err(|e| format!("{name}: {e}"))
}

#[test]
fn every_guide_failure_is_diagnosed_and_pages_once() {
    let total = Instant::now();
    let setups: Vec<fn() -> Case> = vec![
        app_crashed,
        apache_app_crashed,
        deploy_restart,
        crash_loop,
        wrong_port,
        firewall_drop,
        socket_missing,
        socket_permission,
        backlog_full,
        mid_request,
        slow_app,
        pool_exhausted,
        header_too_big,
        invalid_response,
        maintenance,
        rate_limited,
        balancer_nginx,
        balancer_haproxy,
        cdn_origin_down,
        cdn_edge_error,
    ];
    let cases: Vec<Case> = setups.into_iter().map(|f| f()).collect();
    let webhook = Webhook::start();
    let am = Alertmanager::start(&alertmanager_config(&webhook));
    let dir = tempdir();
    let rules = compressed_rules(dir.path());
    let targets: Vec<(&str, String)> = cases
        .iter()
        .map(|c| (c.name, format!("127.0.0.1:{}", c.exporter.port)))
        .collect();
    let prom = Prometheus::start(&targets, &[rules], Some(am.port));
    // Every exporter is scraped and healthy before anything breaks: nothing fires yet.
    common::eventually(Duration::from_secs(20), "every target up", || {
        (prom.query("up == 1").len() == targets.len()).then_some(())
    });
    let obs = Observers { prom, am, webhook };
    let setup_seconds = total.elapsed().as_secs_f64();
    let results: Vec<Result<Row, String>> = thread::scope(|s| {
        let handles: Vec<_> = cases
            .into_iter()
            .map(|case| {
                let obs = &obs;
                (case.name, s.spawn(move || run(case, obs)))
            })
            .collect();
        // A scenario that panics (its stderr is in the message) fails alone; the table
        // still shows the others.
        handles
            .into_iter()
            .map(|(name, h)| {
                h.join()
                    .unwrap_or_else(|_| Err(format!("{name}: panicked, see above")))
            })
            .collect()
    });
    let secs = |s: Option<f64>| s.map(|s| format!("{s:.1}")).unwrap_or_else(|| "-".into());
    println!(
        "\n| scenario | code | layer | vendor | cause | alert | fired after (s) | paged after (s) | paged |\n|---|---|---|---|---|---|---|---|---|"
    );
    let mut failures = Vec::new();
    for r in &results {
        match r {
            Ok(row) => println!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                row.name,
                row.code,
                row.probe.layer,
                row.probe.vendor,
                row.causes,
                row.alert,
                secs(row.fired_after),
                secs(row.paged_after),
                row.paged
            ),
            Err(e) => failures.push(e.clone()),
        }
    }
    println!(
        "setup {setup_seconds:.0}s, total {:.0}s (rules and windows {}x faster than real time)",
        total.elapsed().as_secs_f64(),
        scenarios::SPEEDUP
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
