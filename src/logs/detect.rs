//! Zero-config logs: the standard log files a stock Debian host writes, when they exist,
//! and the PHP logs its PHP-FPM configuration names.

use super::config::{LogConfig, LogFormat};
use std::path::{Path, PathBuf};

/// The logs a stock Debian host writes, followed when they exist.
const STANDARD_LOGS: [(&str, LogFormat); 4] = [
    ("/var/log/nginx/error.log", LogFormat::NginxError),
    ("/var/log/nginx/access.log", LogFormat::NginxAccess),
    ("/var/log/apache2/error.log", LogFormat::ApacheError),
    ("/var/log/haproxy.log", LogFormat::Haproxy),
];

/// Where PHP-FPM's configuration names its logs: the master's `error_log` (PHP-FPM's own
/// log), and PHP's `error_log` in php.ini or in a pool (`php_admin_value[error_log]`).
const PHP_CONFIGS: [(&str, &str, LogFormat); 4] = [
    ("etc/php/*/fpm/php-fpm.conf", "error_log", LogFormat::Phpfpm),
    ("etc/php/*/fpm/php.ini", "error_log", LogFormat::PhpError),
    (
        "etc/php/*/fpm/pool.d/*.conf",
        "php_admin_value[error_log]",
        LogFormat::PhpError,
    ),
    (
        "etc/php/*/fpm/pool.d/*.conf",
        "php_value[error_log]",
        LogFormat::PhpError,
    ),
];

/// The standard logs that exist on this host.
pub fn detect() -> Vec<LogConfig> {
    detect_in(Path::new("/"))
}

/// Caddy's config; Debian's package logs to the journal unless a `log` block names a file.
const CADDYFILE: &str = "/etc/caddy/Caddyfile";

fn detect_in(root: &Path) -> Vec<LogConfig> {
    let standard = STANDARD_LOGS
        .iter()
        .map(|(path, format)| (root.join(path.trim_start_matches('/')), *format));
    let caddy = caddy_logs(root).into_iter().map(|p| (p, LogFormat::Caddy));
    let mut found: Vec<(PathBuf, LogFormat)> = Vec::new();
    for (on_host, format) in standard.chain(caddy).chain(php_logs(root)) {
        if on_host.is_file() && !found.iter().any(|(p, _)| *p == on_host) {
            found.push((on_host, format));
        }
    }
    found
        .into_iter()
        .map(|(on_host, format)| LogConfig {
            path: on_host.display().to_string(),
            format,
            name: None,
            log_format: None,
            json_keys: None,
            proxy_read_timeout: None,
        })
        .collect()
}

/// The files the Caddyfile's `output file PATH` lines name, under `root`.
fn caddy_logs(root: &Path) -> Vec<PathBuf> {
    let Ok(caddyfile) = std::fs::read_to_string(root.join(CADDYFILE.trim_start_matches('/')))
    else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = caddyfile
        .lines()
        .filter_map(|l| l.trim().strip_prefix("output file "))
        .filter_map(|rest| rest.split_whitespace().next())
        .filter(|p| p.starts_with('/'))
        .map(|p| root.join(p.trim_start_matches('/')))
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

/// The logs PHP-FPM's configuration files under `root` name, in a stable order.
fn php_logs(root: &Path) -> Vec<(PathBuf, LogFormat)> {
    let mut logs = Vec::new();
    for (pattern, key, format) in PHP_CONFIGS {
        let pattern = root.join(pattern).display().to_string();
        let mut files: Vec<PathBuf> = glob::glob(&pattern)
            .into_iter()
            .flatten()
            .flatten()
            .collect();
        files.sort();
        for file in files {
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            logs.extend(
                ini_values(&text, key)
                    .filter_map(|v| Some(root.join(v.strip_prefix('/')?)))
                    .map(|path| (path, format)),
            );
        }
    }
    logs
}

/// The values of `key` in an ini-style file (`key = value`, `;` comments, optional quotes).
fn ini_values<'a>(text: &'a str, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    text.lines().filter_map(move |line| {
        let (k, v) = line.trim().split_once('=')?;
        if k.trim() != key {
            return None;
        }
        let v = v.trim().trim_matches('"');
        // `syslog` and relative names are not files we can follow.
        v.starts_with('/').then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_existing_standard_logs_only() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("var/log/nginx")).unwrap();
        std::fs::write(root.path().join("var/log/nginx/error.log"), "").unwrap();
        std::fs::create_dir_all(root.path().join("var/log/haproxy.log")).unwrap(); // a directory: skipped
        let logs = detect_in(root.path());
        assert_eq!(logs.len(), 1);
        assert_eq!(logs[0].format, LogFormat::NginxError);
        assert!(logs[0].path.ends_with("/var/log/nginx/error.log"));
    }

    #[test]
    fn detects_the_log_files_a_caddyfile_names() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("etc/caddy")).unwrap();
        std::fs::create_dir_all(r.join("var/log/caddy")).unwrap();
        std::fs::write(
            r.join("etc/caddy/Caddyfile"),
            "{\n\tlog default {\n\t\toutput file /var/log/caddy/caddy.log\n\t\tformat json\n\t}\n}\n\
             shop.test {\n\tlog {\n\t\toutput file /var/log/caddy/shop.log {\n\t\t\troll_size 10mb\n\t\t}\n\t}\n\
             \tlog {\n\t\toutput file /var/log/caddy/shop.log\n\t}\n\
             \tlog {\n\t\toutput file /var/log/caddy/not-yet.log\n\t}\n\
             \tlog {\n\t\toutput stderr\n\t}\n\treverse_proxy 127.0.0.1:8080\n}\n",
        )
        .unwrap();
        std::fs::write(r.join("var/log/caddy/caddy.log"), "").unwrap();
        std::fs::write(r.join("var/log/caddy/shop.log"), "").unwrap();
        let logs = detect_in(r);
        let found: Vec<(&str, LogFormat)> = logs
            .iter()
            .map(|l| {
                (
                    l.path.strip_prefix(&r.display().to_string()).unwrap(),
                    l.format,
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                ("/var/log/caddy/caddy.log", LogFormat::Caddy),
                ("/var/log/caddy/shop.log", LogFormat::Caddy)
            ]
        );
    }

    #[test]
    fn php_logs_named_by_php_fpm_configuration() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let write = |path: &str, text: &str| {
            let p = r.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        // As Debian ships them, plus one pool that logs PHP's errors to its own file.
        write(
            "etc/php/8.2/fpm/php-fpm.conf",
            "[global]\npid = /run/php/php8.2-fpm.pid\nerror_log = /var/log/php8.2-fpm.log\n",
        );
        write(
            "etc/php/8.2/fpm/php.ini",
            "[PHP]\n;error_log = php_errors.log\n;error_log = syslog\nlog_errors = On\n",
        );
        write(
            "etc/php/8.2/fpm/pool.d/www.conf",
            "[www]\n;php_admin_value[error_log] = /var/log/fpm-php.www.log\n",
        );
        write(
            "etc/php/8.2/fpm/pool.d/shop.conf",
            "[shop]\nphp_admin_value[error_log] = \"/var/log/php/shop-error.log\"\n",
        );
        write(
            "etc/php/8.2/fpm/pool.d/gone.conf",
            "[gone]\nphp_value[error_log] = /var/log/php/missing.log\nphp_value[error_log]=syslog\n",
        );
        write("var/log/php8.2-fpm.log", "");
        write("var/log/php/shop-error.log", "");
        let logs: Vec<(String, LogFormat)> = detect_in(r)
            .into_iter()
            .map(|l| {
                (
                    l.path
                        .strip_prefix(&r.display().to_string())
                        .unwrap()
                        .to_string(),
                    l.format,
                )
            })
            .collect();
        assert_eq!(
            logs,
            [
                ("/var/log/php8.2-fpm.log".to_string(), LogFormat::Phpfpm),
                (
                    "/var/log/php/shop-error.log".to_string(),
                    LogFormat::PhpError
                ),
            ]
        );
    }
}
