//! Zero-config: the PHP-FPM pools in their config files, and the Apache and nginx status
//! pages that answer on this host.

use super::confs::{self, FpmPoolConf};
use super::{WorkerConfig, WorkerKind, fetch};
use std::path::Path;
use std::time::Duration;

/// How long auto-detection waits for a status page.
const DETECT_TIMEOUT: Duration = Duration::from_millis(800);

/// The PHP-FPM pools in their config files, and the Apache and nginx status pages that
/// answer on this host.
pub fn detect() -> Vec<WorkerConfig> {
    detect_in(&["/etc/php/*/fpm/pool.d/*.conf"], "http://127.0.0.1")
}

/// The local MySQL/MariaDB, PostgreSQL and Redis servers, as `upstreams:` connect checks
/// named `<kind>@<address>` (the database alert's inhibition knows them by that prefix).
pub fn detect_databases() -> Vec<super::UpstreamConfig> {
    let tcp = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let tcp6 = std::fs::read_to_string("/proc/net/tcp6").unwrap_or_default();
    let is_socket = |path: &str| {
        std::fs::symlink_metadata(path)
            .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()))
    };
    super::db_detect::local_databases(&tcp, &tcp6, is_socket)
        .into_iter()
        .map(|db| super::UpstreamConfig {
            name: Some(db.upstream_name()),
            address: db.address,
            timeout: None,
            group: None,
        })
        .collect()
}

fn detect_in(fpm_patterns: &[&str], base_url: &str) -> Vec<WorkerConfig> {
    let mut found = Vec::new();
    for pattern in fpm_patterns {
        for path in glob::glob(pattern).into_iter().flatten().flatten() {
            match std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|t| confs::parse_fpm_pools(&t))
            {
                Ok(pools) => found.extend(pools.iter().filter_map(|p| fpm_entry(p, &path))),
                Err(e) => tracing::warn!("PHP-FPM pool file {} skipped: {e}", path.display()),
            }
        }
    }
    found.extend(status_pages(base_url));
    found
}

fn entry(kind: WorkerKind, name: &str, address: String) -> WorkerConfig {
    WorkerConfig {
        kind,
        address,
        name: Some(name.to_string()),
        status_path: None,
        listen: None,
        limit: None,
        config_file: None,
        timeout: None,
    }
}

/// A pool with a status path is scraped (through its status listener when it has one, so
/// the scrape answers when the pool is full); one without is watched through its backlog.
fn fpm_entry(pool: &FpmPoolConf, file: &Path) -> Option<WorkerConfig> {
    let listen = confs::fpm_listen_address(pool.listen.as_deref()?);
    let mut e = match &pool.status_path {
        Some(path) => {
            let mut e = entry(WorkerKind::Phpfpm, &pool.name, listen.clone());
            e.status_path = Some(path.clone());
            if let Some(status_listen) = &pool.status_listen {
                e.address = confs::fpm_listen_address(status_listen);
                e.listen = Some(listen);
            }
            e
        }
        None => entry(WorkerKind::Socket, &pool.name, listen),
    };
    e.config_file = Some(glob::Pattern::escape(&file.display().to_string()));
    e.validate().ok().map(|()| e)
}

/// Apache's `server-status?auto` and nginx's `nginx_status` under `base_url`, when they answer.
fn status_pages(base_url: &str) -> Vec<WorkerConfig> {
    let base = base_url.trim_end_matches('/').to_string();
    // Auto-detection runs before (and during reloads, beside) the server's runtime: use our own.
    let probe = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        let socket = url::Url::parse(&base).ok()?;
        let listen = format!("{}:{}", socket.host_str()?, socket.port_or_known_default()?);
        let get = |path: &str| {
            let url = url::Url::parse(&format!("{base}{path}")).ok();
            async move { fetch::http_get(&url?, DETECT_TIMEOUT).await.ok() }
        };
        let (apache, nginx) =
            rt.block_on(async { futures::join!(get("/server-status?auto"), get("/nginx_status")) });
        let mut out = Vec::new();
        if apache.is_some_and(|b| super::status::parse_apache(&b).is_ok()) {
            out.push(entry(
                WorkerKind::Apache,
                "apache",
                format!("{base}/server-status"),
            ));
        }
        if nginx.is_some_and(|b| super::status::parse_nginx(&b).is_ok()) {
            out.push(entry(
                WorkerKind::Nginx,
                "nginx",
                format!("{base}/nginx_status"),
            ));
        }
        for e in &mut out {
            e.listen = Some(listen.clone());
        }
        Some(out)
    });
    probe.join().ok().flatten().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn finds_fpm_pools_and_status_pages() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        std::fs::write(
            dir.path().join("www.conf"),
            format!(
                "[www]\nlisten = {d}/www.sock\npm.max_children = 5\n\
                 [api]\nlisten = 127.0.0.1:9001\npm.status_path = /fpm-status\npm.status_listen = {d}/api-status.sock\n\
                 [plain]\nlisten = 9002\npm.status_path = /status\n"
            ),
        )
        .unwrap();
        std::fs::write(dir.path().join("broken.conf"), "listen = nowhere\n").unwrap();

        // A stand-in answering nginx_status only (the real servers are in tests/workers_*.rs).
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut conn in listener.incoming().flatten() {
                let mut buf = [0u8; 1024];
                let n = conn.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let (status, body) = if req.starts_with("GET /nginx_status ") {
                    (
                        "200 OK",
                        "Active connections: 1 \nserver accepts handled requests\n 1 1 1 \nReading: 0 Writing: 1 Waiting: 0 \n",
                    )
                } else {
                    ("404 Not Found", "nope")
                };
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });

        let pattern = format!("{d}/*.conf");
        let workers = detect_in(&[&pattern], &format!("http://127.0.0.1:{port}"));
        let got: Vec<_> = workers
            .iter()
            .map(|w| {
                (
                    w.kind,
                    w.pool().to_string(),
                    w.address.clone(),
                    w.status_path.clone(),
                    w.listen.clone(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    WorkerKind::Socket,
                    "www".into(),
                    format!("unix:{d}/www.sock"),
                    None,
                    None
                ),
                (
                    WorkerKind::Phpfpm,
                    "api".into(),
                    format!("unix:{d}/api-status.sock"),
                    Some("/fpm-status".into()),
                    Some("127.0.0.1:9001".into())
                ),
                (
                    WorkerKind::Phpfpm,
                    "plain".into(),
                    "127.0.0.1:9002".into(),
                    Some("/status".into()),
                    None
                ),
                (
                    WorkerKind::Nginx,
                    "nginx".into(),
                    format!("http://127.0.0.1:{port}/nginx_status"),
                    None,
                    Some(format!("127.0.0.1:{port}"))
                ),
            ]
        );
        assert!(
            workers[1]
                .config_file
                .as_deref()
                .unwrap()
                .ends_with("www.conf")
        );
        crate::workers::config::validate(crate::workers::WorkerSections {
            pools: &workers,
            upstreams: &[],
            maintenance_files: &[],
        })
        .unwrap();
    }

    #[test]
    fn nothing_listening_means_nothing_added() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let workers = detect_in(
            &["/nonexistent/*.conf"],
            &format!("http://127.0.0.1:{port}"),
        );
        assert!(workers.is_empty());
    }
}
