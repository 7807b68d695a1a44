//! Zero-config logs: the standard log files a stock Debian host writes, when they exist.

use super::config::{LogConfig, LogFormat};
use std::path::{Path, PathBuf};

/// The logs a stock Debian host writes, followed when they exist.
const STANDARD_LOGS: [(&str, LogFormat); 4] = [
    ("/var/log/nginx/error.log", LogFormat::NginxError),
    ("/var/log/nginx/access.log", LogFormat::NginxAccess),
    ("/var/log/apache2/error.log", LogFormat::ApacheError),
    ("/var/log/haproxy.log", LogFormat::Haproxy),
];

/// The standard logs that exist on this host.
pub fn detect() -> Vec<LogConfig> {
    detect_in(Path::new("/"))
}

/// Caddy's config; Debian's package logs to the journal unless a `log` block names a file.
const CADDYFILE: &str = "/etc/caddy/Caddyfile";

fn detect_in(root: &Path) -> Vec<LogConfig> {
    STANDARD_LOGS
        .iter()
        .map(|(path, format)| (root.join(path.trim_start_matches('/')), *format))
        .chain(caddy_logs(root).into_iter().map(|p| (p, LogFormat::Caddy)))
        .filter(|(on_host, _)| on_host.is_file())
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
}
