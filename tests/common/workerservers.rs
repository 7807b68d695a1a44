//! Real worker servers from Debian for the workers tests: PHP-FPM pools and Apache with
//! mod_status (nginx is in the shared harness), and the exporter run as an unprivileged user.
#![allow(dead_code)] // each test binary uses a different part

use crate::common::{Daemon, free_port, get, require, tempdir};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

fn open_dir() -> tempfile::TempDir {
    let dir = tempdir();
    // Workers run as www-data and the exporter may run as nobody: both must reach the files.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    dir
}

/// Wait until `address` (a unix socket path or a TCP host:port) accepts, or panic.
fn wait_listening(daemon: &mut Daemon, address: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let up = if address.starts_with('/') {
            std::os::unix::net::UnixStream::connect(address).is_ok()
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

/// A real php-fpm master (root, pools run as www-data) with its own prefix.
pub struct PhpFpm {
    pub dir: tempfile::TempDir,
    pub conf: PathBuf,
    daemon: Daemon,
}

impl PhpFpm {
    /// `pools` is the pool part of php-fpm.conf; `{dir}` becomes the prefix dir. Waits until
    /// every address in `wait_for` (after the same substitution) accepts.
    pub fn start(pools: &str, wait_for: &[&str]) -> PhpFpm {
        let fpm = require("php-fpm8.2");
        let dir = open_dir();
        let d = dir.path().display().to_string();
        std::fs::write(
            dir.path().join("sleep.php"),
            "<?php usleep((int)(($_GET['s'] ?? 1) * 1000000)); echo \"slept\\n\";\n",
        )
        .unwrap();
        let conf = dir.path().join("php-fpm.conf");
        let text = format!(
            "[global]\npid = {d}/fpm.pid\nerror_log = {d}/fpm.log\ndaemonize = no\n\n{}",
            pools.replace("{dir}", &d)
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
        PhpFpm { dir, conf, daemon }
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("fpm.log")).unwrap_or_default()
    }
}

/// A pool section: `[name]` run as www-data, with `extra` lines.
pub fn fpm_pool(name: &str, listen: &str, extra: &str) -> String {
    format!(
        "[{name}]\nuser = www-data\ngroup = www-data\nlisten = {listen}\nlisten.owner = www-data\n\
         listen.group = www-data\nlisten.mode = 0660\ncatch_workers_output = yes\n{extra}\n"
    )
}

/// A real Apache (event MPM, mod_status) with its own ServerRoot, listening on `port`.
pub struct Apache {
    pub dir: tempfile::TempDir,
    pub conf: PathBuf,
    pub port: u16,
    daemon: Daemon,
}

impl Apache {
    /// `max_workers` becomes ThreadsPerChild and MaxRequestWorkers (one child process);
    /// `extra` is appended to the config (`{modules}` = Debian's module directory).
    pub fn start(max_workers: u32, extra: &str) -> Apache {
        let apache = require("apache2");
        let dir = open_dir();
        let d = dir.path().display().to_string();
        let port = free_port();
        let modules = "/usr/lib/apache2/modules";
        let conf = dir.path().join("apache2.conf");
        let text = format!(
            "ServerRoot {d}\nPidFile {d}/apache.pid\nDefaultRuntimeDir {d}\nMutex file:{d} default\n\
             ServerName localhost\nListen 127.0.0.1:{port}\nUser www-data\nGroup www-data\n\
             ErrorLog {d}/error.log\nLogLevel warn\n\
             LoadModule mpm_event_module {modules}/mod_mpm_event.so\n\
             LoadModule authz_core_module {modules}/mod_authz_core.so\n\
             LoadModule status_module {modules}/mod_status.so\n\
             <IfModule mpm_event_module>\n  StartServers 1\n  ServerLimit 1\n  ThreadLimit {max_workers}\n\
               ThreadsPerChild {max_workers}\n  MinSpareThreads 1\n  MaxSpareThreads {max_workers}\n\
               MaxRequestWorkers {max_workers}\n</IfModule>\n\
             ExtendedStatus On\n<Location /server-status>\n  SetHandler server-status\n  Require all granted\n</Location>\n{}\n",
            extra.replace("{modules}", modules)
        );
        std::fs::write(&conf, text).unwrap();
        let mut cmd = Command::new(apache);
        cmd.arg("-f").arg(&conf).arg("-DFOREGROUND");
        let mut daemon = Daemon::spawn("apache2", cmd, dir.path());
        wait_listening(
            &mut daemon,
            &format!("127.0.0.1:{port}"),
            Duration::from_secs(10),
        );
        Apache {
            dir,
            conf,
            port,
            daemon,
        }
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
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

    pub fn metrics(&self) -> String {
        get(self.port, "/metrics").body
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
