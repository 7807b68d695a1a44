//! Real servers from Debian besides nginx (which is in mod.rs): PHP-FPM, Apache httpd with
//! mod_status and mod_proxy, HAProxy; sockets that misbehave on purpose (a unix socket whose
//! backlog is full, a TCP port whose accept queue is full); the exporter run as `nobody` or
//! with `--one-shot`; sums over exposition text. Test files declare `mod common;` and
//! `#[path = "common/servers.rs"] mod servers;`.
#![allow(dead_code)] // each test binary uses a different part

use crate::common::{Daemon, exposition, free_port, get, require, tempdir};
// Test files have always imported `servers::sum`; the scrape helpers live in mod.rs.
#[allow(unused_imports)] // not every test binary sums
pub use crate::common::sum;
use std::net::TcpStream;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

/// A temp dir everyone may enter: workers run as www-data, the exporter may run as nobody.
pub fn open_dir() -> tempfile::TempDir {
    let dir = tempdir();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    dir
}

/// Wait until `address` (a unix socket path or a TCP host:port) accepts while `daemon`
/// runs, or panic with its stderr.
pub fn wait_listening(daemon: &mut Daemon, address: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let up = if address.starts_with('/') {
            UnixStream::connect(address).is_ok()
        } else {
            TcpStream::connect(address).is_ok()
        };
        if up {
            return;
        }
        daemon.assert_running();
        assert!(
            Instant::now() < deadline,
            "{address} does not accept: {}",
            daemon.stderr()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// A real php-fpm master (root, pools run as www-data) with its own prefix; its error log
/// is `fpm.log` there, and `sleep.php?s=SECONDS` is ready to be served.
pub struct PhpFpm {
    pub dir: tempfile::TempDir,
    pub conf: PathBuf,
    pub log: PathBuf,
    daemon: Daemon,
}

impl PhpFpm {
    /// `pools` is the pool part of php-fpm.conf (see [`fpm_pool`]); `{dir}` becomes the
    /// prefix dir. Waits until every address in `wait_for` (same substitution) accepts.
    pub fn start(pools: &str, wait_for: &[&str]) -> PhpFpm {
        let fpm = php_fpm_binary();
        let dir = open_dir();
        let d = dir.path().display().to_string();
        std::fs::write(
            dir.path().join("sleep.php"),
            "<?php usleep((int)(($_GET['s'] ?? 1) * 1000000)); echo \"slept\\n\";\n",
        )
        .unwrap();
        let log = dir.path().join("fpm.log");
        let conf = dir.path().join("php-fpm.conf");
        let text = format!(
            "[global]\npid = {d}/fpm.pid\nerror_log = {log}\nlog_level = notice\ndaemonize = no\n\n{}",
            pools.replace("{dir}", &d),
            log = log.display()
        );
        std::fs::write(&conf, text).unwrap();
        let mut cmd = Command::new(fpm);
        cmd.arg("-F").arg("-y").arg(&conf).arg("-p").arg(dir.path());
        let mut daemon = Daemon::spawn("php-fpm", cmd, dir.path());
        for address in wait_for {
            wait_listening(
                &mut daemon,
                &address.replace("{dir}", &d),
                Duration::from_secs(10),
            );
        }
        PhpFpm {
            dir,
            conf,
            log,
            daemon,
        }
    }

    /// A file in the prefix dir (sockets, scripts).
    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Signal the master (SIGUSR2 reloads, SIGQUIT stops gracefully).
    pub fn signal(&self, sig: i32) {
        self.daemon.signal(sig);
    }
}

/// Debian's PHP-FPM binary, whichever PHP version is installed (`/usr/sbin/php-fpm8.2` on
/// Debian 12, `php-fpm8.4` on 13): the newest when several are.
pub fn php_fpm_binary() -> PathBuf {
    let mut found: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir("/usr/sbin")
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let version = path.file_name()?.to_str()?.strip_prefix("php-fpm")?;
            let numbers = version
                .split('.')
                .map(|n| n.parse().ok())
                .collect::<Option<Vec<u32>>>()?;
            Some((numbers, path))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, path)| path).unwrap_or_else(|| {
        panic!("no /usr/sbin/php-fpmX.Y: install Debian's php-fpm package (./scripts/test.sh does)")
    })
}

/// A pool section: `[name]` run as www-data, with `extra` lines.
pub fn fpm_pool(name: &str, listen: &str, extra: &str) -> String {
    format!(
        "[{name}]\nuser = www-data\ngroup = www-data\nlisten = {listen}\nlisten.owner = www-data\n\
         listen.group = www-data\nlisten.mode = 0660\ncatch_workers_output = yes\n{extra}\n"
    )
}

/// A real Apache httpd (event MPM, one child) with its own ServerRoot on a free port:
/// mod_status on `/server-status` and mod_proxy (http, fcgi, balancer) loaded.
pub struct Apache {
    pub dir: tempfile::TempDir,
    pub conf: PathBuf,
    pub error_log: PathBuf,
    pub port: u16,
    daemon: Daemon,
}

impl Apache {
    /// `max_workers` becomes ThreadsPerChild and MaxRequestWorkers; `body` is appended to
    /// the config (`{dir}` = the server's own directory).
    pub fn start(max_workers: u32, body: &str) -> Apache {
        let apache = require("apache2");
        let dir = open_dir();
        let d = dir.path().display().to_string();
        let port = free_port();
        let error_log = dir.path().join("error.log");
        let mut text = format!(
            "ServerRoot {d}\nPidFile {d}/apache.pid\nDefaultRuntimeDir {d}\nMutex file:{d} default\n\
             ServerName localhost\nListen 127.0.0.1:{port}\nUser www-data\nGroup www-data\n\
             ErrorLog {err}\nLogLevel warn\n",
            err = error_log.display()
        );
        for m in [
            "mpm_event",
            "authz_core",
            "status",
            "proxy",
            "proxy_http",
            "proxy_fcgi",
            "proxy_balancer",
            "slotmem_shm",
            "lbmethod_byrequests",
        ] {
            text.push_str(&format!(
                "LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so\n"
            ));
        }
        text.push_str(&format!(
            "<IfModule mpm_event_module>\n  StartServers 1\n  ServerLimit 1\n  ThreadLimit {max_workers}\n\
               ThreadsPerChild {max_workers}\n  MinSpareThreads 1\n  MaxSpareThreads {max_workers}\n\
               MaxRequestWorkers {max_workers}\n</IfModule>\n\
             ExtendedStatus On\n<Location /server-status>\n  SetHandler server-status\n  Require all granted\n</Location>\n{}\n",
            body.replace("{dir}", &d)
        ));
        let conf = dir.path().join("apache2.conf");
        std::fs::write(&conf, text).unwrap();
        let mut cmd = Command::new(apache);
        cmd.arg("-f").arg(&conf).arg("-DFOREGROUND");
        // apache2 reads these from /etc/apache2/envvars normally.
        cmd.env("APACHE_RUN_DIR", dir.path())
            .env("APACHE_LOCK_DIR", dir.path())
            .env("APACHE_LOG_DIR", dir.path());
        let mut daemon = Daemon::spawn("apache2", cmd, dir.path());
        wait_listening(
            &mut daemon,
            &format!("127.0.0.1:{port}"),
            Duration::from_secs(10),
        );
        Apache {
            dir,
            conf,
            error_log,
            port,
            daemon,
        }
    }

    pub fn error_log_text(&self) -> String {
        std::fs::read_to_string(&self.error_log).unwrap_or_default()
    }
}

/// HAProxy logging httplog lines with a syslog (RFC 3164) prefix to its stderr file.
pub struct Haproxy {
    pub dir: tempfile::TempDir,
    pub log: PathBuf,
    daemon: Daemon,
}

impl Haproxy {
    /// `body` holds the frontends and backends; `{dir}` is replaced by the server's
    /// directory. Waits for `port`.
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
        wait_listening(
            &mut daemon,
            &format!("127.0.0.1:{port}"),
            Duration::from_secs(10),
        );
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
        // SAFETY: listen(2) on the fd `listener` owns, alive for this call.
        unsafe { libc::listen(listener.as_raw_fd(), 0) };
        let mut queued = Vec::new();
        // The backlog admits backlog+1 connections; fill it (non-blocking connects).
        for _ in 0..4 {
            // SAFETY: socket(2) takes plain integers; the fd is checked by connect below.
            let fd =
                unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0) };
            // SAFETY: sockaddr_un is plain data, valid all zero.
            let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
            addr.sun_family = libc::AF_UNIX as u16;
            let bytes = path.as_os_str().as_encoded_bytes();
            for (i, b) in bytes.iter().enumerate() {
                addr.sun_path[i] = *b as libc::c_char;
            }
            // SAFETY: `addr` is a live sockaddr_un of the size given.
            let rc = unsafe {
                libc::connect(
                    fd,
                    &addr as *const _ as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_un>() as u32,
                )
            };
            if rc != 0 {
                // SAFETY: `fd` is ours and not used after this.
                unsafe { libc::close(fd) };
                break;
            }
            // SAFETY: `fd` is a connected socket nothing else owns.
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
        // SAFETY: `fd` came from into_raw_fd above and is open.
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
        // SAFETY: this BlackholePort owns `fd` and closes it once.
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
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success() && stdout.contains("# TYPE "),
        "one-shot failed ({}), stdout {stdout:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The exporter as `nobody`, for what root cannot see (a socket it may not open).
pub struct UnprivilegedExporter {
    pub port: u16,
    pub dir: tempfile::TempDir,
    daemon: Daemon,
}

impl UnprivilegedExporter {
    pub fn start(config_yaml: &str) -> UnprivilegedExporter {
        use std::os::unix::process::CommandExt;
        let dir = open_dir();
        let config = dir.path().join("config.yml");
        std::fs::write(&config, config_yaml).unwrap();
        std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .unwrap();
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gateway-exporter"));
        cmd.arg("--config.file")
            .arg(&config)
            .arg("--web.listen-address")
            .arg(format!("127.0.0.1:{port}"))
            .uid(65534)
            .gid(65534);
        let mut daemon = Daemon::spawn("gateway-exporter", cmd, dir.path());
        wait_listening(
            &mut daemon,
            &format!("127.0.0.1:{port}"),
            Duration::from_secs(10),
        );
        UnprivilegedExporter { port, dir, daemon }
    }

    /// One scrape; a non-200 or empty one fails the test.
    pub fn metrics(&self) -> String {
        exposition(get(self.port, "/metrics"), &self.daemon)
    }
}

/// `n` GETs of `path` on `port` at once, each in its own thread, left running.
pub fn fire_requests(port: u16, path: &str, n: usize) -> Vec<thread::JoinHandle<u16>> {
    (0..n)
        .map(|_| {
            let path = path.to_string();
            thread::spawn(move || get(port, &path).status)
        })
        .collect()
}
