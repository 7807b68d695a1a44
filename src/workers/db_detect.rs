//! Zero-config database checks (pure): the MySQL/MariaDB, PostgreSQL and Redis servers
//! this host runs, from its listening TCP sockets (`/proc/net/tcp`, `/proc/net/tcp6`) and
//! the unix sockets those servers create by default, offered as `upstreams:` connect checks.
//!
//! Each is named `<kind>@<address>` (`mysql@127.0.0.1:3306`): the name is the `upstream`
//! label, and the `<kind>@` prefix is what tells the database alert's inhibition
//! (alertmanager/alertmanager.yml) that this upstream is a database. Uses std only.

/// A database server found on this host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalDatabase {
    /// `mysql` (MariaDB too), `postgresql` or `redis`.
    pub kind: &'static str,
    /// `host:port` or `unix:/path`, as an `upstreams:` entry takes it.
    pub address: String,
}

impl LocalDatabase {
    /// The `upstreams:` entry's `name`, so the `upstream` label says what it is.
    pub fn upstream_name(&self) -> String {
        format!("{}@{}", self.kind, self.address)
    }
}

/// Default ports.
const PORTS: [(u16, &str); 3] = [(3306, "mysql"), (5432, "postgresql"), (6379, "redis")];

/// Where Debian's (and RHEL's) packages put the servers' unix sockets.
pub const SOCKET_PATHS: [(&str, &str); 6] = [
    ("/run/mysqld/mysqld.sock", "mysql"),
    ("/var/lib/mysql/mysql.sock", "mysql"),
    ("/run/postgresql/.s.PGSQL.5432", "postgresql"),
    ("/run/redis/redis-server.sock", "redis"),
    ("/run/redis/redis.sock", "redis"),
    ("/var/run/redis/redis.sock", "redis"),
];

/// The databases listening here: `proc_net_tcp` and `proc_net_tcp6` are the text of
/// `/proc/net/tcp` and `/proc/net/tcp6`; `socket_exists` says whether a path of
/// [`SOCKET_PATHS`] is a socket now. A server listening on every address (or on
/// loopback) is checked on loopback; one bound to a single address, on that address.
pub fn local_databases(
    proc_net_tcp: &str,
    proc_net_tcp6: &str,
    socket_exists: impl Fn(&str) -> bool,
) -> Vec<LocalDatabase> {
    let mut found: Vec<LocalDatabase> = Vec::new();
    let listening = listeners(proc_net_tcp, false).chain(listeners(proc_net_tcp6, true));
    for (host, port) in listening {
        let Some((_, kind)) = PORTS.iter().find(|(p, _)| *p == port) else {
            continue;
        };
        // One check per server: the IPv4 and IPv6 sockets of one server are one server.
        if found
            .iter()
            .any(|d| d.kind == *kind && !d.address.starts_with("unix:"))
        {
            continue;
        }
        found.push(LocalDatabase {
            kind,
            address: format!("{host}:{port}"),
        });
    }
    for (path, kind) in SOCKET_PATHS {
        if socket_exists(path) {
            found.push(LocalDatabase {
                kind,
                address: format!("unix:{path}"),
            });
        }
    }
    found
}

/// The (host to dial, port) of each listening socket in a `/proc/net/tcp*` text.
fn listeners(text: &str, ipv6: bool) -> impl Iterator<Item = (String, u16)> + '_ {
    const LISTEN: &str = "0A";
    text.lines().skip(1).filter_map(move |line| {
        let mut fields = line.split_whitespace();
        let local = fields.nth(1)?;
        let state = fields.nth(1)?;
        if state != LISTEN {
            return None;
        }
        let (ip_hex, port_hex) = local.split_once(':')?;
        let port = u16::from_str_radix(port_hex, 16).ok()?;
        let host = if ipv6 {
            dial_v6(ip_hex)?
        } else {
            dial_v4(ip_hex)?
        };
        Some((host, port))
    })
}

/// `/proc/net/tcp` writes the address as the kernel holds it: one 32-bit word in host
/// byte order (little-endian here), so `0100007F` is 127.0.0.1.
fn dial_v4(hex: &str) -> Option<String> {
    let word = u32::from_str_radix(hex, 16).ok()?;
    let ip = std::net::Ipv4Addr::from(word.to_le_bytes());
    Some(if ip.is_unspecified() || ip.is_loopback() {
        "127.0.0.1".to_string()
    } else {
        ip.to_string()
    })
}

/// Four such words for IPv6.
fn dial_v6(hex: &str) -> Option<String> {
    if hex.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (i, chunk) in bytes.chunks_mut(4).enumerate() {
        let word = u32::from_str_radix(&hex[i * 8..i * 8 + 8], 16).ok()?;
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    let ip = std::net::Ipv6Addr::from(bytes);
    Some(if ip.is_unspecified() || ip.is_loopback() {
        "[::1]".to_string()
    } else if let Some(v4) = ip.to_ipv4_mapped() {
        v4.to_string()
    } else {
        format!("[{ip}]")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// /proc/net/tcp and tcp6 of a host running MariaDB on every address, PostgreSQL on
    /// loopback, Redis on one address, and nginx on :80 (not a database).
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 21001 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000   108        0 21002 1 0000000000000000 100 0 0 10 0
   2: 0500000A:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000   109        0 21003 1 0000000000000000 100 0 0 10 0
   3: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 21004 1 0000000000000000 100 0 0 10 0
   4: 0100007F:0CEA 0100007F:D431 01 00000000:00000000 00:00000000 00000000   106        0 21005 1 0000000000000000 20 4 30 10 -1
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0CEA 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 21006 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:1538 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   108        0 21007 1 0000000000000000 100 0 0 10 0
";

    #[test]
    fn databases_from_listening_sockets_and_default_unix_sockets() {
        let found = local_databases(TCP, TCP6, |p| p == "/run/mysqld/mysqld.sock");
        let names: Vec<String> = found.iter().map(LocalDatabase::upstream_name).collect();
        assert_eq!(
            names,
            [
                "mysql@127.0.0.1:3306",
                "postgresql@127.0.0.1:5432",
                "redis@10.0.0.5:6379",
                "mysql@unix:/run/mysqld/mysqld.sock",
            ]
        );
    }

    #[test]
    fn nothing_listening_means_nothing_offered() {
        assert!(local_databases("", "", |_| false).is_empty());
        assert!(local_databases("header only\n", "garbage\n x y z\n", |_| false).is_empty());
        let v6_only = local_databases("", TCP6, |_| false);
        assert_eq!(v6_only[0].address, "[::1]:3306");
    }
}
