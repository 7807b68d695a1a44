//! Zero-config logs: the standard log files a stock Debian host writes, when they exist.

use super::config::{LogConfig, LogFormat};
use std::path::Path;

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

fn detect_in(root: &Path) -> Vec<LogConfig> {
    STANDARD_LOGS
        .iter()
        .map(|(path, format)| (root.join(path.trim_start_matches('/')), *format))
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
}
