//! Status pages of each kind, parsed into one model. Pure: bytes in, figures out.

use serde::Deserialize;

/// What one status page says about its pool. `None` = the page does not tell.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PoolStatus {
    /// The pool's own name (PHP-FPM), to find it in the config files.
    pub pool: Option<String>,
    pub active: Option<u64>,
    pub idle: Option<u64>,
    pub limit: Option<u64>,
    pub queue: Option<u64>,
    pub queue_limit: Option<u64>,
    pub limit_reached: Option<u64>,
    pub slow_requests: Option<u64>,
}

#[derive(Deserialize)]
struct FpmPool {
    pool: String,
    #[serde(rename = "listen queue")]
    listen_queue: u64,
    #[serde(rename = "listen queue len")]
    listen_queue_len: u64,
    #[serde(rename = "idle processes")]
    idle: u64,
    #[serde(rename = "active processes")]
    active: u64,
    #[serde(rename = "max children reached")]
    max_children_reached: u64,
    #[serde(rename = "slow requests")]
    slow_requests: u64,
    #[serde(default)]
    processes: Option<Vec<FpmProcess>>,
}

#[derive(Deserialize)]
struct FpmProcess {
    state: String,
    #[serde(rename = "request uri", default)]
    request_uri: String,
}

/// PHP-FPM `?json&full`. `own_uri` is the status path we asked for: the worker that serves
/// our own request is busy only because we asked, so it counts as idle. With `full`, the
/// counts come from the process list, which is consistent with itself (the pool counters
/// can disagree, php bug 76003). On a unix socket FPM's queue fields are always 0 (it reads
/// them with TCP_INFO), so they are only taken when `queue_is_real`.
pub fn parse_fpm(body: &[u8], own_uri: &str, queue_is_real: bool) -> Result<PoolStatus, String> {
    let pool: FpmPool =
        serde_json::from_slice(body).map_err(|e| format!("PHP-FPM status JSON: {e}"))?;
    let (active, idle) = match &pool.processes {
        Some(procs) if !procs.is_empty() => {
            let idle = procs
                .iter()
                .filter(|p| p.state == "Idle" || p.request_uri.split('?').next() == Some(own_uri))
                .count() as u64;
            (procs.len() as u64 - idle, idle)
        }
        _ => (pool.active, pool.idle),
    };
    Ok(PoolStatus {
        pool: Some(pool.pool),
        active: Some(active),
        idle: Some(idle),
        limit: None, // pm.max_children is not on the page (php-src #16221)
        queue: queue_is_real.then_some(pool.listen_queue),
        queue_limit: queue_is_real.then_some(pool.listen_queue_len),
        limit_reached: Some(pool.max_children_reached),
        slow_requests: Some(pool.slow_requests),
    })
}

/// Apache mod_status `?auto`: `Key: value` lines. The worker serving our request is counted
/// busy by Apache; without us it would be idle.
pub fn parse_apache(body: &[u8]) -> Result<PoolStatus, String> {
    let text = std::str::from_utf8(body).map_err(|_| "mod_status page is not UTF-8".to_string())?;
    let field = |name: &str| -> Option<u64> {
        text.lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim() == name)
            .and_then(|(_, v)| v.trim().parse().ok())
    };
    let (Some(busy), Some(idle)) = (field("BusyWorkers"), field("IdleWorkers")) else {
        return Err("mod_status page lacks BusyWorkers/IdleWorkers (is it ?auto?)".into());
    };
    let ours = busy.min(1);
    Ok(PoolStatus {
        active: Some(busy - ours),
        idle: Some(idle.saturating_add(ours)),
        ..Default::default()
    })
}

/// nginx stub_status. Active = reading + writing, less our own request (being written);
/// idle = waiting (keep-alive). A connection accepted but not handled was dropped for lack
/// of worker_connections.
pub fn parse_nginx(body: &[u8]) -> Result<PoolStatus, String> {
    let text =
        std::str::from_utf8(body).map_err(|_| "stub_status page is not UTF-8".to_string())?;
    let bad = || "not an nginx stub_status page".to_string();
    let mut lines = text.lines();
    let _active: u64 = lines
        .next()
        .and_then(|l| l.strip_prefix("Active connections:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(bad)?;
    let counters: Vec<u64> = lines
        .nth(1)
        .map(|l| {
            l.split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect()
        })
        .ok_or_else(bad)?;
    let [accepts, handled, _requests] = counters[..] else {
        return Err(bad());
    };
    let rww: Vec<u64> = lines
        .next()
        .map(|l| {
            l.split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect()
        })
        .ok_or_else(bad)?;
    let [reading, writing, waiting] = rww[..] else {
        return Err(bad());
    };
    Ok(PoolStatus {
        active: Some(reading.saturating_add(writing).saturating_sub(1)),
        idle: Some(waiting),
        limit_reached: Some(accepts.saturating_sub(handled)),
        ..Default::default()
    })
}

#[derive(Deserialize)]
struct UwsgiStats {
    #[serde(default)]
    listen_queue: Option<u64>,
    #[serde(default)]
    listen_queue_errors: Option<u64>,
    #[serde(default)]
    sockets: Vec<UwsgiSocket>,
    workers: Vec<UwsgiWorker>,
}

#[derive(Deserialize)]
struct UwsgiSocket {
    #[serde(default)]
    max_queue: Option<u64>,
}

#[derive(Deserialize)]
struct UwsgiWorker {
    status: String,
    /// One per thread (`--threads`) or async core; absent from old versions.
    #[serde(default)]
    cores: Vec<UwsgiCore>,
}

#[derive(Deserialize)]
struct UwsgiCore {
    #[serde(default)]
    in_request: u64,
}

/// uWSGI stats server JSON. A worker serves as many requests at once as it has cores
/// (threads), so the figures count cores: busy ones are active, the free ones of running
/// workers idle. A `cheap` worker (cheaper mode) is not running: neither active nor idle,
/// but its cores count toward the limit, since the master spawns it under load. `pause`
/// (suspended) serves nothing either. `listen_queue_errors` are connections refused because
/// the queue was full. The queue is the master's last reading (about once a second);
/// `listen:` gives the kernel's live one.
pub fn parse_uwsgi(body: &[u8]) -> Result<PoolStatus, String> {
    let stats: UwsgiStats =
        serde_json::from_slice(body).map_err(|e| format!("uWSGI stats JSON: {e}"))?;
    let (mut active, mut idle, mut limit) = (0u64, 0u64, 0u64);
    for worker in &stats.workers {
        let cores = worker.cores.len().max(1) as u64;
        let busy = if worker.cores.is_empty() {
            u64::from(worker.status == "busy" || worker.status.starts_with("sig"))
        } else {
            worker.cores.iter().filter(|c| c.in_request > 0).count() as u64
        };
        limit += cores;
        if matches!(worker.status.as_str(), "cheap" | "pause") {
            continue;
        }
        active += busy;
        idle = idle.saturating_add(cores.saturating_sub(busy));
    }
    // Until the master's first reading (about a second after start) `max_queue` is 0 and
    // `listen_queue` a placeholder 0: no figure rather than a backlog of 0.
    let queue_limit = stats
        .sockets
        .iter()
        .find_map(|s| s.max_queue)
        .filter(|&q| q > 0);
    Ok(PoolStatus {
        active: Some(active),
        idle: Some(idle),
        limit: Some(limit),
        queue: stats.listen_queue.filter(|_| queue_limit.is_some()),
        queue_limit,
        limit_reached: stats.listen_queue_errors,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from PHP 8.2 FPM (static pool, TCP, saturated), with the stray space before "processes".
    const FPM_FULL: &str = r#"{"pool":"api","process manager":"static","start time":1795305389,"start since":32,"accepted conn":3,"listen queue":4,"max listen queue":4,"listen queue len":4096,"idle processes":0,"active processes":2,"total processes":2,"max active processes":2,"max children reached":0,"slow requests":2, "processes":[{"pid":12285,"state":"Running","start time":1795305389,"start since":32,"requests":1,"request duration":1516961,"request method":"GET","request uri":"\/sleep.php?s=4","content length":0,"user":"-","script":"\/var\/www\/html\/sleep.php","last request cpu":0.00,"last request memory":0},{"pid":12286,"state":"Running","start time":1795305389,"start since":32,"requests":2,"request duration":211,"request method":"GET","request uri":"\/status?json&full","content length":0,"user":"-","script":"-","last request cpu":0.00,"last request memory":0}]}"#;

    #[test]
    fn fpm_counts_our_own_request_as_idle_and_trusts_queue_only_on_tcp() {
        let tcp = parse_fpm(FPM_FULL.as_bytes(), "/status", true).unwrap();
        assert_eq!(
            tcp,
            PoolStatus {
                pool: Some("api".into()),
                active: Some(1),
                idle: Some(1),
                limit: None,
                queue: Some(4),
                queue_limit: Some(4096),
                limit_reached: Some(0),
                slow_requests: Some(2),
            }
        );
        let unix = parse_fpm(FPM_FULL.as_bytes(), "/status", false).unwrap();
        assert_eq!((unix.queue, unix.queue_limit), (None, None));
        // Through status_listen our request is not in the list: both workers are busy.
        let other = parse_fpm(FPM_FULL.as_bytes(), "/fpm-status", true).unwrap();
        assert_eq!((other.active, other.idle), (Some(2), Some(0)));
    }

    #[test]
    fn fpm_without_full_uses_the_pool_counters() {
        let body = br#"{"pool":"www","process manager":"dynamic","start time":1,"start since":2,"accepted conn":10,"listen queue":0,"max listen queue":0,"listen queue len":0,"idle processes":3,"active processes":1,"total processes":4,"max active processes":2,"max children reached":5,"slow requests":0}"#;
        let s = parse_fpm(body, "/status", false).unwrap();
        assert_eq!(
            (s.active, s.idle, s.limit_reached),
            (Some(1), Some(3), Some(5))
        );
    }

    #[test]
    fn fpm_refuses_bad_pages() {
        for bad in [
            &b""[..],
            b"File not found.\n",
            b"{\"pool\":\"www\"",
            b"{\"pool\":\"www\",\"listen queue\":-1}",
            b"\xff\xfe",
        ] {
            assert!(
                parse_fpm(bad, "/status", true).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let truncated = &FPM_FULL.as_bytes()[..FPM_FULL.len() / 2];
        assert!(parse_fpm(truncated, "/status", true).is_err());
    }

    #[test]
    fn apache_auto() {
        // Apache 2.4 event MPM, trimmed.
        let page = "127.0.0.1\nServerVersion: Apache/2.4.62 (Debian)\nServerMPM: event\nTotal Accesses: 12\nBusyWorkers: 3\nIdleWorkers: 47\nProcesses: 2\nStopping: 0\nConnsTotal: 3\nScoreboard: WWW___________________________________________..........\n";
        let s = parse_apache(page.as_bytes()).unwrap();
        assert_eq!((s.active, s.idle), (Some(2), Some(48)));
        assert!(parse_apache(b"<html><body>Apache Status</body></html>").is_err());
        assert!(parse_apache(b"BusyWorkers: x\nIdleWorkers: 1\n").is_err());
    }

    #[test]
    fn apache_counters_at_u64_max_saturate() {
        let page = format!("BusyWorkers: 1\nIdleWorkers: {}\n", u64::MAX);
        let s = parse_apache(page.as_bytes()).unwrap();
        assert_eq!((s.active, s.idle), (Some(0), Some(u64::MAX)));
    }

    #[test]
    fn nginx_stub_status() {
        let page = "Active connections: 291 \nserver accepts handled requests\n 16630948 16630946 31070465 \nReading: 6 Writing: 179 Waiting: 106 \n";
        let s = parse_nginx(page.as_bytes()).unwrap();
        assert_eq!(
            (s.active, s.idle, s.limit_reached),
            (Some(184), Some(106), Some(2))
        );
        for bad in [
            "",
            "Active connections: 1\n",
            "Active connections: x\nserver\n 1 2 3\nReading: 1 Writing: 1 Waiting: 1\n",
            "Active connections: 1\nserver accepts handled requests\n 1 2\nReading: 0 Writing: 1 Waiting: 0\n",
        ] {
            assert!(parse_nginx(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn nginx_counters_at_u64_max_saturate() {
        let max = u64::MAX;
        let page = format!(
            "Active connections: 1\nserver accepts handled requests\n 1 {max} 1\nReading: {max} Writing: 1 Waiting: 0\n"
        );
        let s = parse_nginx(page.as_bytes()).unwrap();
        assert_eq!((s.active, s.limit_reached), (Some(max - 1), Some(0)));
    }

    #[test]
    fn uwsgi_stats() {
        let page = r#"{"version":"2.0.21","listen_queue":3,"listen_queue_errors":7,"signal_queue":0,"load":0,"pid":1,"uid":0,"gid":0,"cwd":"/","locks":[],"sockets":[{"name":"127.0.0.1:3031","proto":"uwsgi","queue":3,"max_queue":100,"shared":0,"can_offload":0}],"workers":[{"id":1,"pid":2,"accepting":1,"requests":5,"delta_requests":5,"exceptions":0,"harakiri_count":0,"signals":0,"signal_queue":0,"status":"busy","rss":0,"vsz":0,"running_time":1,"last_spawn":1,"respawn_count":1,"tx":1,"avg_rt":1,"apps":[],"cores":[]},{"id":2,"pid":3,"accepting":1,"requests":0,"status":"idle","apps":[],"cores":[]}]}"#;
        let s = parse_uwsgi(page.as_bytes()).unwrap();
        assert_eq!(
            s,
            PoolStatus {
                pool: None,
                active: Some(1),
                idle: Some(1),
                limit: Some(2),
                queue: Some(3),
                queue_limit: Some(100),
                limit_reached: Some(7),
                slow_requests: None,
            }
        );
        assert!(parse_uwsgi(b"{\"workers\": 3}").is_err());
        // Right after start, before the master has read the backlog.
        let starting = page.replace("\"max_queue\":100", "\"max_queue\":0");
        let s = parse_uwsgi(starting.as_bytes()).unwrap();
        assert_eq!((s.queue, s.queue_limit), (None, None));
    }

    #[test]
    fn uwsgi_counts_cores_and_leaves_cheap_workers_out() {
        // uWSGI 2.0.21 (Debian), --processes 4 --cheaper 1 --threads 2, two requests running:
        // one on a spawned worker's first thread, the first worker free; two workers cheap.
        // Trimmed of apps, request vars and the per-core counters.
        let page = r#"{"version":"2.0.21-debian","listen_queue":0,"listen_queue_errors":0,"signal_queue":0,"load":0,"pid":13913,
            "sockets":[{"name":"127.0.0.1:19092","proto":"http","queue":0,"max_queue":16,"shared":0,"can_offload":0}],
            "workers":[
              {"id":1,"pid":13930,"accepting":1,"requests":2,"status":"idle","cores":[{"id":0,"requests":1,"in_request":0},{"id":1,"requests":1,"in_request":0}]},
              {"id":2,"pid":14488,"accepting":1,"requests":0,"status":"busy","cores":[{"id":0,"requests":0,"in_request":1},{"id":1,"requests":0,"in_request":0}]},
              {"id":0,"pid":0,"accepting":0,"requests":0,"status":"cheap","cores":[{"id":0,"requests":0,"in_request":0},{"id":1,"requests":0,"in_request":0}]},
              {"id":0,"pid":0,"accepting":0,"requests":0,"status":"cheap","cores":[{"id":0,"requests":0,"in_request":0},{"id":1,"requests":0,"in_request":0}]}]}"#;
        let s = parse_uwsgi(page.as_bytes()).unwrap();
        assert_eq!(
            (s.active, s.idle, s.limit, s.queue, s.queue_limit),
            (Some(1), Some(3), Some(8), Some(0), Some(16))
        );
        // Paused and signal-handling workers without core lists (old versions).
        let page = r#"{"workers":[{"status":"pause"},{"status":"sig1"},{"status":"idle"},{"status":"cheap"}]}"#;
        let s = parse_uwsgi(page.as_bytes()).unwrap();
        assert_eq!((s.active, s.idle, s.limit), (Some(1), Some(1), Some(4)));
    }
}
