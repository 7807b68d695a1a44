//! The one test harness: ports, temp dirs, real servers from Debian that stop when
//! dropped, fake upstreams, and the exporter itself. Every integration test uses it.
#![allow(dead_code)] // each test binary uses a different part of the harness

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread;
use std::time::{Duration, Instant};

/// Fail with the way to fix it when a Debian binary is missing.
pub fn require(binary: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin"] {
        let p = Path::new(dir).join(binary);
        if p.exists() {
            return p;
        }
    }
    panic!(
        "{binary} is not installed: run ./scripts/test.sh (it installs the Debian packages the tests need)"
    );
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("gwtest").tempdir().unwrap()
}

/// Wait until something accepts on `port`, or panic after `timeout`.
pub fn wait_for_port(port: u16, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    panic!("nothing listens on 127.0.0.1:{port} after {timeout:?}");
}

/// Poll `check` until it returns Some, or panic with `what` after `timeout`.
pub fn eventually<T>(timeout: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// A child process killed (whole process group) when dropped.
pub struct Daemon {
    child: Child,
    name: String,
    pub stderr_path: PathBuf,
}

impl Daemon {
    /// Spawn `cmd` in its own process group, stderr into `<dir>/<name>.stderr`.
    pub fn spawn(name: &str, mut cmd: Command, dir: &Path) -> Daemon {
        use std::os::unix::process::CommandExt;
        let stderr_path = dir.join(format!("{name}.stderr"));
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .process_group(0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Daemon {
            child,
            name: name.to_string(),
            stderr_path,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Panic with its stderr if it already exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited ({status}): {}", self.name, self.stderr());
        }
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) only reads its two integer arguments.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pgid = self.child.id() as i32;
        // SAFETY: kill(2) on the group this Daemon created; it only reads its arguments.
        unsafe { libc::kill(-pgid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: as above.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// A real nginx from Debian with its own prefix; `http_block` is the body of `http {}`.
pub struct Nginx {
    pub dir: tempfile::TempDir,
    pub error_log: PathBuf,
    pub access_log: PathBuf,
    daemon: Daemon,
}

impl Nginx {
    /// `{dir}` in `http_block` is replaced by the prefix dir. Waits for `ready_port`.
    pub fn start(http_block: &str, ready_port: u16) -> Nginx {
        Self::start_as("root", http_block, ready_port)
    }

    /// As [`Nginx::start`], with workers running as `user`.
    pub fn start_as(user: &str, http_block: &str, ready_port: u16) -> Nginx {
        let nginx = require("nginx");
        let dir = tempdir();
        let d = dir.path();
        std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let error_log = d.join("error.log");
        let access_log = d.join("access.log");
        let conf = format!(
            "user {user};\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {err} info;\ndaemon off;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log {acc};\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n{body}\n}}\n",
            d = d.display(),
            err = error_log.display(),
            acc = access_log.display(),
            body = http_block.replace("{dir}", &d.display().to_string()),
        );
        let conf_path = d.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut cmd = Command::new(nginx);
        cmd.arg("-p")
            .arg(d)
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(&error_log);
        let mut daemon = Daemon::spawn("nginx", cmd, d);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", ready_port)).is_err() {
            daemon.assert_running();
            assert!(
                Instant::now() < deadline,
                "nginx did not listen on {ready_port}: {}",
                daemon.stderr()
            );
            thread::sleep(Duration::from_millis(20));
        }
        Nginx {
            dir,
            error_log,
            access_log,
            daemon,
        }
    }

    pub fn error_log_text(&self) -> String {
        std::fs::read_to_string(&self.error_log).unwrap_or_default()
    }
}

/// A tiny HTTP client for tests: status, headers and body of one request.
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `METHOD path` against 127.0.0.1:port with extra headers; HTTP/1.0 so the body ends at close.
/// A connection or read error fails the test: a cut-off reply must not pass for a short one.
pub fn http(method: &str, port: u16, path: &str, headers: &[(&str, &str)]) -> HttpReply {
    let what = format!("{method} 127.0.0.1:{port}{path}");
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("{what}: cannot connect: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req =
        format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())
        .unwrap_or_else(|e| panic!("{what}: cannot send the request: {e}"));
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap_or_else(|e| {
        panic!(
            "{what}: reading the reply failed after {} bytes: {e}",
            raw.len()
        )
    });
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    HttpReply {
        status,
        headers,
        body: body.to_string(),
    }
}

pub fn get(port: u16, path: &str) -> HttpReply {
    http("GET", port, path, &[])
}

/// How a fake upstream treats each connection.
#[derive(Clone)]
pub enum Behaviour {
    /// Answer every request with this raw HTTP response (status line, headers, body).
    Raw(String),
    /// Write this at once on accept, without reading anything, then close.
    Greet(String),
    /// Accept and never answer.
    Hang,
    /// Read the request, then reset the connection (RST).
    Reset,
    /// Read the request, then close cleanly without answering.
    Close,
    /// Send the status line and headers, then trickle the body a byte per interval.
    Trickle(Duration),
    /// Send a valid head, then an endless body as fast as possible.
    Endless,
}

/// A fake upstream on 127.0.0.1 (a stand-in for an app, never for nginx or a CDN's software).
pub struct FakeUpstream {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl FakeUpstream {
    pub fn start(behaviour: Behaviour) -> FakeUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let b = behaviour.clone();
                        let stop3 = stop2.clone();
                        thread::spawn(move || serve_fake(conn, b, stop3));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FakeUpstream { port, stop }
    }

    /// An HTTP response with `status`, extra header lines and `body`.
    pub fn respond(status: &str, headers: &[&str], body: &str) -> FakeUpstream {
        let mut raw = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        for h in headers {
            raw.push_str(h);
            raw.push_str("\r\n");
        }
        raw.push_str("\r\n");
        raw.push_str(body);
        Self::start(Behaviour::Raw(raw))
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn read_request_head(conn: &mut TcpStream) {
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut buf = [0u8; 8192];
    let mut seen = Vec::new();
    while let Ok(n) = conn.read(&mut buf) {
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
        if seen.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
}

fn serve_fake(mut conn: TcpStream, behaviour: Behaviour, stop: Arc<AtomicBool>) {
    conn.set_nonblocking(false).ok();
    match behaviour {
        Behaviour::Raw(raw) => {
            read_request_head(&mut conn);
            let _ = conn.write_all(raw.as_bytes());
        }
        Behaviour::Greet(text) => {
            let _ = conn.write_all(text.as_bytes());
        }
        Behaviour::Hang => {
            while !stop.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(50));
            }
        }
        Behaviour::Reset => {
            read_request_head(&mut conn);
            let _ = socket_linger_zero(&conn);
        }
        Behaviour::Close => {
            read_request_head(&mut conn);
        }
        Behaviour::Trickle(every) => {
            read_request_head(&mut conn);
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n");
            while !stop.load(Ordering::Relaxed) && conn.write_all(b"x").is_ok() {
                thread::sleep(every);
            }
        }
        Behaviour::Endless => {
            read_request_head(&mut conn);
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            let chunk = format!("{:x}\r\n{}\r\n", 65536, "y".repeat(65536));
            while !stop.load(Ordering::Relaxed) && conn.write_all(chunk.as_bytes()).is_ok() {}
        }
    }
}

/// Close with SO_LINGER 0 so the peer sees a reset, not a FIN.
fn socket_linger_zero(conn: &TcpStream) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the fd is open for the borrow of `conn`; the option value points at a live
    // `linger` of the size given.
    let rc = unsafe {
        libc::setsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as u32,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The exporter under test, started on a free port with `config_yaml`.
pub struct Exporter {
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub daemon: Daemon,
}

impl Exporter {
    pub fn start(config_yaml: &str) -> Exporter {
        Self::start_with_args(config_yaml, &[])
    }

    pub fn start_with_args(config_yaml: &str, extra: &[&str]) -> Exporter {
        let dir = tempdir();
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config_yaml).unwrap();
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gateway-exporter"));
        cmd.arg("--config.file")
            .arg(&config_path)
            .arg("--web.listen-address")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--log.level")
            .arg("debug")
            .args(extra);
        let mut daemon = Daemon::spawn("gateway-exporter", cmd, dir.path());
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            daemon.assert_running();
            assert!(
                Instant::now() < deadline,
                "exporter did not start: {}",
                daemon.stderr()
            );
            thread::sleep(Duration::from_millis(20));
        }
        Exporter {
            port,
            dir,
            config_path,
            daemon,
        }
    }

    /// One scrape of /metrics. A non-200 or an empty exposition fails the test: a failed
    /// scrape must never read as "absent" or "zero".
    pub fn metrics(&self) -> String {
        exposition(get(self.port, "/metrics"), &self.daemon)
    }

    /// The value of the sample `name{labels}` where every given label matches.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        sample_value(&self.metrics(), name, labels)
    }

    /// Wait until `log`'s files are followed (`gateway_log_files_followed` = `files`): a log
    /// is read from its end, so lines written before its first poll would not count.
    pub fn wait_following(&self, log: &str, files: f64) {
        eventually(
            Duration::from_secs(5),
            &format!("{files} file(s) of log {log} followed"),
            || {
                (self.value("gateway_log_files_followed", &[("log", log)]) == Some(files))
                    .then_some(())
            },
        );
    }
}

/// The body of a /metrics reply, or a failed test naming the status and `daemon`'s stderr.
pub fn exposition(reply: HttpReply, daemon: &Daemon) -> String {
    assert!(
        reply.status == 200 && reply.body.contains("# TYPE "),
        "scrape failed: status {}, body {:?}\nexporter stderr:\n{}",
        reply.status,
        reply.body,
        daemon.stderr()
    );
    reply.body
}

/// A family of docs/metrics.md's tables: the interface alerts, dashboards and the chart use.
pub struct MetricDoc {
    pub name: String,
    /// counter, gauge or histogram
    pub kind: String,
    pub labels: Vec<String>,
}

/// Every `gateway_` and `process_` family documented in docs/metrics.md (rows
/// `| `name` | type | labels | ... |`).
pub fn documented_metrics() -> &'static [MetricDoc] {
    static DOC: OnceLock<Vec<MetricDoc>> = OnceLock::new();
    DOC.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md");
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let docs: Vec<MetricDoc> = text
            .lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
                if !(name.starts_with("gateway_") || name.starts_with("process_")) {
                    return None;
                }
                let labels = cells.get(3)?.split(',').map(str::trim);
                Some(MetricDoc {
                    name: name.to_string(),
                    kind: cells.get(2)?.to_string(),
                    labels: labels.filter(|l| !l.is_empty()).map(String::from).collect(),
                })
            })
            .collect();
        assert!(docs.len() > 40, "{path}: the metric tables were not read");
        docs
    })
}

/// Whether the sample `name` belongs to `family` (OpenMetrics names a counter without its
/// `_total`; histograms have `_bucket`, `_sum`, `_count`).
fn in_family(name: &str, family: &str) -> bool {
    const SUFFIXES: [&str; 6] = ["_total", "_bucket", "_sum", "_count", "_created", "_info"];
    name == family
        || name
            .strip_prefix(family)
            .is_some_and(|suffix| SUFFIXES.contains(&suffix))
}

/// Fail naming `name` unless `text` declares its family (`# TYPE`) or docs/metrics.md
/// documents it (a family without series has no `# TYPE` line): a typo is never a zero.
fn require_family(text: &str, name: &str) {
    let mut declared = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next());
    if declared.any(|family| in_family(name, family))
        || documented_metrics()
            .iter()
            .any(|doc| in_family(name, &doc.name))
        || mentioned_in_docs(name)
    {
        return;
    }
    panic!("{name} is neither in this exposition nor in docs/metrics.md: a typo?\n{text}");
}

/// Whether docs/metrics.md names `name` in its prose (the blackbox-compatible `/probe` names
/// are listed there, not in a table): `` `name` `` or `` `name{labels}` ``.
fn mentioned_in_docs(name: &str) -> bool {
    static DOC: OnceLock<String> = OnceLock::new();
    let doc = DOC.get_or_init(|| {
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md"))
            .unwrap_or_default()
    });
    doc.contains(&format!("`{name}`")) || doc.contains(&format!("`{name}{{"))
}

/// Whether the `{...}` contents `label_text` hold `key="value"` as a whole pair.
fn has_label(label_text: &str, key: &str, value: &str) -> bool {
    let pair = format!("{key}=\"{value}\"");
    label_text.match_indices(&pair).any(|(at, _)| {
        let before_ok = at == 0 || label_text.as_bytes()[at - 1] == b',';
        let after = &label_text[at + pair.len()..];
        before_ok && (after.is_empty() || after.starts_with(','))
    })
}

/// Every sample of `name` (exactly) carrying all of `labels`, as (series, value).
fn matching_samples<'a>(text: &'a str, name: &str, labels: &[(&str, &str)]) -> Vec<(&'a str, f64)> {
    require_family(text, name);
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, label_text) = match series.split_once('{') {
                Some((m, rest)) => (m, rest.strip_suffix('}').unwrap_or(rest)),
                None => (series, ""),
            };
            let all = metric == name && labels.iter().all(|(k, v)| has_label(label_text, k, v));
            all.then(|| (series, value.parse().unwrap_or(f64::NAN)))
        })
        .collect()
}

/// The value of the first sample `name{labels}`; None when no series matches. Zero checks
/// compare with `Some(0.0)`, so that a missing series cannot pass for a zero one.
pub fn sample_value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    matching_samples(text, name, labels)
        .first()
        .map(|(_, value)| *value)
}

/// Sum of every sample of `name` whose labels include all of `labels` (0 when none
/// matches: use [`sample_value`] for a zero check). The family itself must exist.
pub fn sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    matching_samples(text, name, labels)
        .iter()
        .map(|(_, value)| value)
        .sum()
}

/// Fail unless `name`'s family exists and has no series carrying all of `labels`.
pub fn assert_absent(text: &str, name: &str, labels: &[(&str, &str)]) {
    let found = matching_samples(text, name, labels);
    assert!(
        found.is_empty(),
        "{name}{labels:?} should have no series, found: {found:?}"
    );
}

/// Wall-clock assertions run alone in their test binary (cargo runs the binaries one after
/// another): a timing test holds [`run_alone`], every other test of that binary
/// [`run_beside_others`], so no sibling competes for the two cores while it measures.
static TIMING: RwLock<()> = RwLock::new(());

pub fn run_alone() -> RwLockWriteGuard<'static, ()> {
    TIMING
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn run_beside_others() -> RwLockReadGuard<'static, ()> {
    TIMING
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Run `promtool check metrics` on `text`; returns its output on failure.
pub fn promtool_check_metrics(text: &str) -> Result<(), String> {
    let promtool = require("promtool");
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A self-signed certificate and key for `name`, written by the real openssl CLI into `dir`;
/// returns (cert path, key path, notAfter as Unix seconds).
pub fn self_signed_cert(dir: &Path, name: &str) -> (PathBuf, PathBuf, i64) {
    let (cert, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    let out = Command::new(require("openssl"))
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj",
        ])
        .arg(format!("/CN={name}"))
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let end = Command::new(require("openssl"))
        .args(["x509", "-noout", "-enddate", "-dateopt", "iso_8601", "-in"])
        .arg(&cert)
        .output()
        .unwrap();
    // notAfter=2026-12-22 01:42:04Z
    let text = String::from_utf8_lossy(&end.stdout);
    let stamp = text.trim().trim_start_matches("notAfter=");
    let date = Command::new("date")
        .args(["-u", "-d", stamp, "+%s"])
        .output()
        .unwrap();
    let not_after = String::from_utf8_lossy(&date.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("date of {stamp:?}"));
    (cert, key, not_after)
}
