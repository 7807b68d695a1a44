//! Harness pieces for the log tests: real Apache httpd and HAProxy from Debian with their
//! own ServerRoot/ports/logs, a unix socket that never accepts, a TCP port whose accept
//! queue is full, and sums over exposition text.
#![allow(dead_code)] // each test binary uses a different part

use super::{Daemon, require, tempdir};
use std::net::TcpStream;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

/// Sum of every sample of `name` whose labels include all of `labels`.
pub fn sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, label_text) = series.split_once('{').unwrap_or((series, ""));
            if metric != name {
                return None;
            }
            let all = labels
                .iter()
                .all(|(k, v)| label_text.contains(&format!("{k}=\"{v}\"")));
            if all { value.parse::<f64>().ok() } else { None }
        })
        .sum()
}

/// Wait until `port` accepts, with the daemon still alive.
fn wait_listening(daemon: &mut Daemon, port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        daemon.assert_running();
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {port}: {}",
            daemon.stderr()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// Apache httpd (event MPM) with mod_proxy, `body` appended to a minimal config.
pub struct Apache {
    pub dir: tempfile::TempDir,
    pub error_log: PathBuf,
    daemon: Daemon,
}

impl Apache {
    /// `{dir}` in `body` is replaced by the server's own directory.
    pub fn start(port: u16, body: &str) -> Apache {
        let apache2 = require("apache2");
        let dir = tempdir();
        let d = dir.path();
        std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let error_log = d.join("error.log");
        let modules = [
            "mpm_event",
            "authz_core",
            "proxy",
            "proxy_http",
            "proxy_fcgi",
            "proxy_balancer",
            "slotmem_shm",
            "lbmethod_byrequests",
        ];
        let mut conf = format!(
            "ServerRoot {d}\nServerName localhost\nListen 127.0.0.1:{port}\nPidFile {d}/httpd.pid\n\
             DefaultRuntimeDir {d}\nMutex file:{d}\nErrorLog {err}\nLogLevel warn\nUser www-data\nGroup www-data\n",
            d = d.display(),
            err = error_log.display()
        );
        for m in modules {
            conf.push_str(&format!(
                "LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so\n"
            ));
        }
        conf.push_str(&body.replace("{dir}", &d.display().to_string()));
        let conf_path = d.join("httpd.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut cmd = Command::new(apache2);
        cmd.arg("-f").arg(&conf_path).arg("-DFOREGROUND");
        // apache2 reads these from /etc/apache2/envvars normally.
        cmd.env("APACHE_RUN_DIR", d)
            .env("APACHE_LOCK_DIR", d)
            .env("APACHE_LOG_DIR", d);
        let mut daemon = Daemon::spawn("apache2", cmd, d);
        wait_listening(&mut daemon, port, "apache2");
        Apache {
            dir,
            error_log,
            daemon,
        }
    }
}

/// HAProxy logging httplog lines with a syslog (RFC 3164) prefix to its stderr file.
pub struct Haproxy {
    pub dir: tempfile::TempDir,
    pub log: PathBuf,
    daemon: Daemon,
}

impl Haproxy {
    /// `body` holds the frontends and backends; `{dir}` is replaced by the server's directory.
    pub fn start(port: u16, body: &str) -> Haproxy {
        let haproxy = require("haproxy");
        let dir = tempdir();
        let d = dir.path();
        let conf = format!(
            "global\n  log stderr format rfc3164 local0 info\n\
             defaults\n  mode http\n  log global\n  option httplog\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n{}",
            body.replace("{dir}", &d.display().to_string())
        );
        let conf_path = d.join("haproxy.cfg");
        std::fs::write(&conf_path, conf).unwrap();
        let mut cmd = Command::new(haproxy);
        cmd.arg("-db").arg("-f").arg(&conf_path);
        let mut daemon = Daemon::spawn("haproxy", cmd, d);
        wait_listening(&mut daemon, port, "haproxy");
        let log = daemon.stderr_path.clone();
        Haproxy { dir, log, daemon }
    }
}

/// A unix socket that listens but never accepts, its queue already full: connect() on it
/// fails with EAGAIN (nginx: "Resource temporarily unavailable").
pub struct FullUnixSocket {
    pub path: PathBuf,
    _listener: UnixListener,
    _queued: Vec<UnixStream>,
}

impl FullUnixSocket {
    pub fn bind(path: &Path) -> FullUnixSocket {
        use std::os::fd::AsRawFd;
        let listener = UnixListener::bind(path).unwrap();
        unsafe { libc::listen(listener.as_raw_fd(), 0) };
        let mut queued = Vec::new();
        // The backlog admits backlog+1 connections; fill it (non-blocking connects).
        for _ in 0..4 {
            let fd =
                unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0) };
            let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
            addr.sun_family = libc::AF_UNIX as u16;
            let bytes = path.as_os_str().as_encoded_bytes();
            for (i, b) in bytes.iter().enumerate() {
                addr.sun_path[i] = *b as libc::c_char;
            }
            let rc = unsafe {
                libc::connect(
                    fd,
                    &addr as *const _ as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_un>() as u32,
                )
            };
            if rc != 0 {
                unsafe { libc::close(fd) };
                break;
            }
            queued.push(unsafe { <UnixStream as std::os::fd::FromRawFd>::from_raw_fd(fd) });
        }
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .unwrap();
        FullUnixSocket {
            path: path.to_path_buf(),
            _listener: listener,
            _queued: queued,
        }
    }
}

/// A TCP port that listens (backlog 0) with its accept queue full: SYNs go unanswered, so
/// connects time out.
pub struct BlackholePort {
    pub port: u16,
    fd: i32,
    _queued: Vec<TcpStream>,
}

impl BlackholePort {
    pub fn bind() -> BlackholePort {
        use std::os::fd::IntoRawFd;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let fd = listener.into_raw_fd();
        unsafe { libc::listen(fd, 0) };
        let mut queued = Vec::new();
        for _ in 0..4 {
            match TcpStream::connect_timeout(
                &([127, 0, 0, 1], port).into(),
                Duration::from_millis(200),
            ) {
                Ok(s) => queued.push(s),
                Err(_) => break,
            }
        }
        BlackholePort {
            port,
            fd,
            _queued: queued,
        }
    }
}

impl Drop for BlackholePort {
    fn drop(&mut self) {
        unsafe { libc::close(self.fd) };
    }
}

/// Run the exporter binary with `--one-shot` on `config_yaml`; its stdout.
pub fn one_shot(config_yaml: &str) -> String {
    let dir = tempdir();
    let config = dir.path().join("config.yml");
    std::fs::write(&config, config_yaml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gateway-exporter"))
        .arg("--config.file")
        .arg(&config)
        .arg("--one-shot")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "one-shot failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// PHP-FPM (`php-fpm8.2 -F -R`) with one pool on a TCP port and its own error_log.
pub struct PhpFpm {
    pub dir: tempfile::TempDir,
    pub log: PathBuf,
    pub port: u16,
    daemon: Daemon,
}

impl PhpFpm {
    /// `pool` holds extra pool directives (`pm = ...`).
    pub fn start(pool: &str) -> PhpFpm {
        let fpm = require("php-fpm8.2");
        let dir = tempdir();
        let d = dir.path();
        std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let port = super::free_port();
        let log = d.join("fpm.log");
        let conf = format!(
            "[global]\npid = {d}/fpm.pid\nerror_log = {log}\nlog_level = notice\n[www]\nuser = www-data\ngroup = www-data\nlisten = 127.0.0.1:{port}\n{pool}\n",
            d = d.display(),
            log = log.display()
        );
        let conf_path = d.join("fpm.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut cmd = Command::new(fpm);
        cmd.arg("-F").arg("-R").arg("-y").arg(&conf_path);
        let mut daemon = Daemon::spawn("php-fpm", cmd, d);
        wait_listening(&mut daemon, port, "php-fpm");
        PhpFpm {
            dir,
            log,
            port,
            daemon,
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, sig: i32) {
        self.daemon.signal(sig);
    }
}

/// A TCP server that writes `reply` as soon as it accepts, before reading anything (what a
/// plain-HTTP server on a port nginx expects TLS from looks like to the handshake).
pub struct Blurter {
    pub port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Blurter {
    pub fn start(reply: &'static [u8]) -> Blurter {
        use std::io::Write;
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut conn, _)) => {
                        let _ = conn.write_all(reply);
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Blurter { port, stop }
    }
}

impl Drop for Blurter {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
