//! The servers' own config files, for what their status pages do not say (the limits) and
//! for auto-detection (PHP-FPM pools). Pure: text in, figures out.

/// One `[pool]` section of a PHP-FPM pool config.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FpmPoolConf {
    pub name: String,
    pub listen: Option<String>,
    pub status_path: Option<String>,
    pub status_listen: Option<String>,
    pub max_children: Option<u64>,
}

/// Parse a PHP-FPM pool file (INI: `[name]`, `key = value`, `;` comments, `$pool` expanded).
pub fn parse_fpm_pools(text: &str) -> Result<Vec<FpmPoolConf>, String> {
    let mut pools: Vec<FpmPoolConf> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[') {
            let name = section
                .strip_suffix(']')
                .filter(|s| !s.trim().is_empty())
                .ok_or_else(|| format!("line {}: bad section header {line:?}", n + 1))?;
            pools.push(FpmPoolConf {
                name: name.trim().to_string(),
                ..Default::default()
            });
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| format!("line {}: expected key = value, got {line:?}", n + 1))?;
        let Some(pool) = pools.last_mut() else {
            return Err(format!("line {}: {key:?} before any [pool] section", n + 1));
        };
        let value = value
            .split(" ;")
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches('"')
            .replace("$pool", &pool.name);
        match key.trim() {
            "listen" => pool.listen = Some(value),
            "pm.status_path" => pool.status_path = Some(value),
            "pm.status_listen" => pool.status_listen = Some(value),
            "pm.max_children" => {
                let v = value.parse().map_err(|_| {
                    format!("line {}: pm.max_children {value:?} is not a number", n + 1)
                })?;
                pool.max_children = Some(v);
            }
            _ => {}
        }
    }
    pools.retain(|p| p.name != "global");
    Ok(pools)
}

/// The config file of a PHP-FPM master, from its `/proc/<pid>/cmdline`: FPM retitles the
/// master `php-fpm: master process (/path/php-fpm.conf)` (NUL-padded).
pub fn fpm_master_config(cmdline: &[u8]) -> Option<&str> {
    let title = std::str::from_utf8(cmdline.split(|&b| b == 0).next()?).ok()?;
    let path = title
        .strip_prefix("php-fpm")?
        .split_once("master process (")?
        .1
        .trim_end()
        .strip_suffix(')')?;
    path.starts_with('/').then_some(path)
}

/// The `include` globs of a php-fpm.conf, in order. A relative one is under FPM's prefix,
/// `/usr` unless the master was started with `-p` (which its title does not show).
pub fn fpm_includes(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().split_once('='))
        .filter(|(key, _)| key.trim() == "include")
        .map(|(_, value)| {
            value
                .split(" ;")
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches('"')
        })
        .filter(|v| !v.is_empty())
        .map(|v| {
            if v.starts_with('/') {
                v.to_string()
            } else {
                format!("/usr/{v}")
            }
        })
        .collect()
}

/// An FPM `listen` value as our address: `/path` (unix), `host:port`, or a bare port
/// (all interfaces, reached on loopback).
pub fn fpm_listen_address(listen: &str) -> String {
    if listen.starts_with('/') {
        format!("unix:{listen}")
    } else if listen.parse::<u16>().is_ok() {
        format!("127.0.0.1:{listen}")
    } else if let Some(port) = listen.strip_prefix("0.0.0.0:") {
        format!("127.0.0.1:{port}")
    } else if let Some(port) = listen.strip_prefix("[::]:") {
        format!("[::1]:{port}")
    } else {
        listen.to_string()
    }
}

/// Apache's `MaxRequestWorkers` (or its old name `MaxClients`); the last one wins.
pub fn parse_apache_limit(text: &str) -> Option<u64> {
    text.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let directive = words.next()?;
            let named = directive.eq_ignore_ascii_case("MaxRequestWorkers")
                || directive.eq_ignore_ascii_case("MaxClients");
            if named {
                words.next()?.parse().ok()
            } else {
                None
            }
        })
        .next_back()
}

/// nginx's connection limit: `worker_connections` x `worker_processes` (`auto` = `cpus`).
pub fn parse_nginx_limit(text: &str, cpus: u64) -> Option<u64> {
    let mut connections = None;
    let mut processes = 1;
    for statement in text
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.split([';', '{', '}']))
    {
        let mut words = statement.split_whitespace();
        match (words.next(), words.next()) {
            (Some("worker_connections"), Some(v)) => connections = v.parse::<u64>().ok(),
            (Some("worker_processes"), Some("auto")) => processes = cpus,
            (Some("worker_processes"), Some(v)) => processes = v.parse().unwrap_or(1),
            _ => {}
        }
    }
    connections.map(|c| c.saturating_mul(processes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fpm_pool_files() {
        // Debian's www.conf shape, plus a second pool with a status listener.
        let text = "; Start a new pool named 'www'.\n[www]\nuser = www-data\nlisten = /run/php/php8.2-fpm.sock\n\
                    listen.owner = www-data\npm = dynamic\npm.max_children = 5\n;pm.status_path = /status\n\n\
                    [api]\nlisten = 127.0.0.1:9001\npm = static\npm.max_children = 2 ; two\npm.status_path = /fpm-status\n\
                    pm.status_listen = /run/php/$pool-status.sock\n";
        let pools = parse_fpm_pools(text).unwrap();
        assert_eq!(
            pools,
            vec![
                FpmPoolConf {
                    name: "www".into(),
                    listen: Some("/run/php/php8.2-fpm.sock".into()),
                    status_path: None,
                    status_listen: None,
                    max_children: Some(5),
                },
                FpmPoolConf {
                    name: "api".into(),
                    listen: Some("127.0.0.1:9001".into()),
                    status_path: Some("/fpm-status".into()),
                    status_listen: Some("/run/php/api-status.sock".into()),
                    max_children: Some(2),
                },
            ]
        );
    }

    #[test]
    fn fpm_pool_files_that_cannot_be_parsed() {
        for bad in [
            "listen = /x\n",
            "[www\nlisten=/x\n",
            "[www]\nthis is not ini\n",
            "[www]\npm.max_children = lots\n",
            "[]\n",
        ] {
            assert!(parse_fpm_pools(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_fpm_pools("[global]\npid = /run/x.pid\n").unwrap(),
            vec![]
        );
    }

    #[test]
    fn fpm_master_titles_and_includes() {
        let title = b"php-fpm: master process (/etc/php/8.2/fpm/php-fpm.conf)\0\0\0\0";
        assert_eq!(
            fpm_master_config(title),
            Some("/etc/php/8.2/fpm/php-fpm.conf")
        );
        for other in [
            &b"php-fpm: pool www\0\0"[..],
            b"/usr/sbin/php-fpm8.2\0-F\0-y\0/x.conf\0",
            b"nginx: master process /usr/sbin/nginx\0",
            b"php-fpm: master process (relative.conf)\0",
            b"",
            b"\xff\xfe",
        ] {
            assert_eq!(
                fpm_master_config(other),
                None,
                "{:?}",
                String::from_utf8_lossy(other)
            );
        }
        // Debian's php-fpm.conf, trimmed, plus a relative and a quoted include.
        let conf = "[global]\npid = /run/php/php8.2-fpm.pid\n;include=/etc/nope/*.conf\n\
                    include=/etc/php/8.2/fpm/pool.d/*.conf\ninclude = \"etc/fpm.d/*.conf\" ; local\n";
        assert_eq!(
            fpm_includes(conf),
            ["/etc/php/8.2/fpm/pool.d/*.conf", "/usr/etc/fpm.d/*.conf"]
        );
    }

    #[test]
    fn fpm_listen_values() {
        let table = [
            ("/run/php/a.sock", "unix:/run/php/a.sock"),
            ("9000", "127.0.0.1:9000"),
            ("127.0.0.1:9000", "127.0.0.1:9000"),
            ("0.0.0.0:9000", "127.0.0.1:9000"),
            ("[::]:9000", "[::1]:9000"),
        ];
        for (listen, want) in table {
            assert_eq!(fpm_listen_address(listen), want);
        }
    }

    #[test]
    fn apache_limits() {
        // Debian's mods-available/mpm_event.conf.
        let event = "<IfModule mpm_event_module>\n\tStartServers\t\t\t 2\n\tMinSpareThreads\t\t 25\n\tMaxSpareThreads\t\t 75\n\
                     \tThreadLimit\t\t\t 64\n\tThreadsPerChild\t\t 25\n\tMaxRequestWorkers\t  150\n\tMaxConnectionsPerChild   0\n</IfModule>\n";
        assert_eq!(parse_apache_limit(event), Some(150));
        assert_eq!(
            parse_apache_limit("MaxClients 40\nmaxrequestworkers 64\n"),
            Some(64)
        );
        assert_eq!(
            parse_apache_limit("# MaxRequestWorkers 10\nServerName x\n"),
            None
        );
    }

    #[test]
    fn nginx_limits() {
        let conf = "user www-data;\nworker_processes auto;\npid /run/nginx.pid;\nevents {\n\tworker_connections 768;\n\t# multi_accept on;\n}\n";
        assert_eq!(parse_nginx_limit(conf, 2), Some(1536));
        assert_eq!(
            parse_nginx_limit(
                "worker_processes 1;\nevents { worker_connections 256; }\n",
                8
            ),
            Some(256)
        );
        assert_eq!(parse_nginx_limit("events {}\n", 2), None);
        assert_eq!(parse_nginx_limit("# worker_connections 10;\n", 2), None);
        // Found by fuzz/server_confs: the product overflowed.
        let huge = format!(
            "worker_processes 3;\nevents {{ worker_connections {}; }}\n",
            u64::MAX / 2
        );
        assert_eq!(parse_nginx_limit(&huge, 2), Some(u64::MAX));
    }
}
