//! HAProxy `option httplog` lines (plain or behind a syslog prefix) and its server state
//! lines. The termination state's first two characters say who ended the request and when.

use super::cause::{Cause, Event};
use super::sink::{Access, Sink, Verdict, kept};
use memchr::memmem::Finder;
use std::collections::HashSet;
use std::sync::LazyLock;

static DATE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b" ["));
static BACKLOG: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"Connect() failed for backend "));

#[derive(Default)]
pub struct Haproxy {
    /// Backends whose last connect failed on a full unix-socket backlog: their next `SC`
    /// request is `backlog_full`, not `connect_refused`.
    backlog: HashSet<Vec<u8>>,
}

/// The fields of an httplog line we use.
struct Request<'a> {
    frontend: &'a [u8],
    backend: &'a [u8],
    server: &'a [u8],
    tr_ms: Option<f64>,
    status: Option<u16>,
    state: &'a [u8],
}

fn request(line: &[u8]) -> Option<Request<'_>> {
    // Find the accept date `[22/Nov/2026:00:00:08.048]`: the client address is before it,
    // and a syslog prefix (`Nov 22 00:30:03 host haproxy[1]: `) before that.
    let mut from = 0;
    let date = loop {
        let at = from + DATE.find(&line[from..])?;
        let d = &line[at + 2..];
        if d.len() > 12 && d[0].is_ascii_digit() && d[2] == b'/' && d[6] == b'/' {
            break at + 2;
        }
        from = at + 2;
    };
    let after = &line[date..];
    let close = memchr::memchr(b']', after)?;
    let mut f = after[close + 1..]
        .split(|&b| b == b' ')
        .filter(|t| !t.is_empty());
    let frontend = f.next()?;
    let frontend = frontend.strip_suffix(b"~").unwrap_or(frontend);
    let (backend, server) = split_once(f.next()?, b'/')?;
    let timers = f.next()?;
    let status = f.next()?;
    let _bytes = f.next()?;
    let _req_cookie = f.next()?;
    let _res_cookie = f.next()?;
    let state = f.next()?;
    // httplog has five timers (TR/Tw/Tc/Tr/Ta); tcplog's three would shift every field.
    if state.len() < 2 || timers.iter().filter(|&&b| b == b'/').count() != 4 {
        return None;
    }
    // -1: the client left before any response (no status to count).
    let status = match status {
        b"-1" => None,
        s => Some(
            std::str::from_utf8(s)
                .ok()?
                .parse::<u16>()
                .ok()
                .filter(|s| *s < 1000)?,
        ),
    };
    // Tq/Tw/Tc/Tr/Ta (httplog): Tr, -1 when no response header came.
    let tr_ms = timers
        .split(|&b| b == b'/')
        .nth(3)
        .and_then(|t| std::str::from_utf8(t).ok()?.parse::<f64>().ok())
        // `inf` and `1e999` parse as f64, and one infinite observation poisons a histogram's sum.
        .filter(|t| t.is_finite() && *t >= 0.0);
    Some(Request {
        frontend,
        backend,
        server,
        tr_ms,
        status,
        state,
    })
}

fn split_once(v: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let i = memchr::memchr(sep, v)?;
    Some((&v[..i], &v[i + 1..]))
}

fn cause(state: &[u8], status: u16, nosrv: bool) -> Option<Cause> {
    Some(match &state[..2] {
        b"SC" if nosrv => Cause::NoLiveUpstreams,
        b"SC" => Cause::ConnectRefused,
        b"sC" => Cause::ConnectTimeout,
        b"sH" => Cause::Timeout,
        b"SH" => Cause::PrematureClose,
        b"PH" => Cause::InvalidResponse,
        b"sQ" => Cause::QueueTimeout,
        b"PR" if status == 429 => Cause::RateLimited,
        _ => return None,
    })
}

impl Haproxy {
    pub fn parse<S: Sink>(&mut self, line: &[u8], sink: &mut S) -> Verdict {
        if let Some(r) = request(line) {
            let nosrv = r.server == b"<NOSRV>";
            if let Some(mut cause) = cause(r.state, r.status.unwrap_or(0), nosrv) {
                if cause == Cause::ConnectRefused && self.backlog.remove(kept(r.backend)) {
                    cause = Cause::BacklogFull;
                }
                sink.error(cause, r.backend, if nosrv { r.backend } else { r.server });
            }
            if let Some(status) = r.status {
                sink.access(&Access {
                    vhost: r.frontend,
                    status,
                    upstream_time: r.tr_ms.map(|ms| ms / 1000.0),
                    ..Access::default()
                });
            }
            return Verdict::Known;
        }
        self.state_line(line, sink)
    }

    fn state_line<S: Sink>(&mut self, line: &[u8], sink: &mut S) -> Verdict {
        // HAProxy's console copies (`[WARNING]  (123) : Server ...`) repeat what its log
        // target says; when both land in one file, count the log target's line only.
        if [&b"[WARNING]"[..], b"[ALERT]", b"[NOTICE]"]
            .iter()
            .any(|p| line.starts_with(p))
        {
            return Verdict::Known;
        }
        if let Some(at) = memchr::memmem::find(line, b"Server ") {
            let r = &line[at + 7..];
            let end = memchr::memchr(b' ', r).unwrap_or(r.len());
            if r[end..].starts_with(b" is DOWN") {
                sink.event(Event::ServerDown);
                return Verdict::Known;
            }
            if r[end..].starts_with(b" is UP") {
                sink.event(Event::ServerUp);
                return Verdict::Known;
            }
        }
        if let Some(at) = memchr::memmem::find(line, b"backend ") {
            let r = &line[at + 8..];
            let end = memchr::memchr(b' ', r).unwrap_or(r.len());
            if r[end..].starts_with(b" has no server available!") {
                sink.event(Event::BackendDown);
                return Verdict::Known;
            }
        }
        if let Some(at) = BACKLOG.find(line) {
            let r = &line[at + BACKLOG.needle().len()..];
            let end = memchr::memchr(b':', r).unwrap_or(r.len());
            if r[end..]
                .starts_with(b": can't connect to destination unix socket, check backlog size")
            {
                if self.backlog.len() < 4096 {
                    self.backlog.insert(kept(&r[..end]).to_vec());
                }
                return Verdict::Known;
            }
        }
        Verdict::Unrecognised
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::sink::recorder::Recorder;

    fn run(lines: &[&str]) -> Recorder {
        let mut p = Haproxy::default();
        let mut r = Recorder::default();
        for l in lines {
            assert_eq!(p.parse(l.as_bytes(), &mut r), Verdict::Known, "{l}");
        }
        r
    }

    fn req(backend_server: &str, status: u16, state: &str) -> String {
        format!(
            "127.0.0.1:57722 [22/Nov/2026:00:00:08.048] fe {backend_server} 0/0/-1/-1/1002 {status} 217 - - {state} 1/1/0/0/1 0/0 \"GET /x HTTP/1.1\""
        )
    }

    #[test]
    fn termination_states() {
        let table = [
            ("be/s1", 503, "SC--", Some(("connect_refused", "be", "s1"))),
            ("be/s1", 503, "sC--", Some(("connect_timeout", "be", "s1"))),
            ("be/s1", 504, "sH--", Some(("timeout", "be", "s1"))),
            ("be/s1", 502, "SH--", Some(("premature_close", "be", "s1"))),
            ("be/s1", 502, "PH--", Some(("invalid_response", "be", "s1"))),
            (
                "be/<NOSRV>",
                503,
                "SC--",
                Some(("no_live_upstreams", "be", "be")),
            ),
            (
                "be/<NOSRV>",
                503,
                "sQ--",
                Some(("queue_timeout", "be", "be")),
            ),
            (
                "fe/<NOSRV>",
                429,
                "PR--",
                Some(("rate_limited", "fe", "fe")),
            ),
            ("fe/<NOSRV>", 403, "PR--", None),
            ("be/s1", 200, "----", None),
            ("be/s1", 400, "CD--", None),
        ];
        for (bs, status, state, want) in table {
            let r = run(&[&req(bs, status, state)]);
            let want: Vec<(String, String, String)> = want
                .into_iter()
                .map(|(c, v, u)| (c.into(), v.into(), u.into()))
                .collect();
            assert_eq!(r.errors, want, "{bs} {state}");
            assert_eq!(r.access.len(), 1);
            assert_eq!((r.access[0].0.as_str(), r.access[0].1), ("fe", status));
        }
    }

    #[test]
    fn a_client_gone_before_the_response_has_no_status() {
        let r = run(&[
            "127.0.0.1:1 [22/Nov/2026:00:00:08.048] fe be/s1 0/0/0/-1/5 -1 0 - - CD-- 1/1/0/0/0 0/0 \"GET / HTTP/1.1\"",
        ]);
        assert!(r.errors.is_empty() && r.access.is_empty(), "{r:?}");
    }

    #[test]
    fn an_infinite_tr_timer_is_no_time() {
        for tr in ["inf", "1e999", "NaN", "-5"] {
            let line = format!(
                "127.0.0.1:1 [22/Nov/2026:00:00:08.048] fe be/s1 0/0/0/{tr}/5 200 0 - - ---- 1/1/0/0/0 0/0 \"GET / HTTP/1.1\""
            );
            let r = run(&[&line]);
            assert_eq!(r.access.len(), 1, "{line}");
            assert_eq!(r.access[0].4, None, "{line}");
        }
    }

    #[test]
    fn syslog_prefix_backlog_and_state_lines() {
        let r = run(&[
            "Nov 22 00:30:03 localhost haproxy[11235]: Connect() failed for backend be_sock: can't connect to destination unix socket, check backlog size on the server.",
            &format!(
                "Nov 22 00:30:03 localhost haproxy[11235]: {}",
                req("be_sock/s1", 503, "SC--")
            ),
            &format!(
                "Nov 22 00:30:03 localhost haproxy[11235]: {}",
                req("be_sock/s1", 503, "SC--")
            ),
            "Nov 22 00:30:03 localhost haproxy[11235]: Server be_x/s1 is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: 0ms. 0 active and 0 backup servers left.",
            "[WARNING]  (11235) : Server be_x/s1 is DOWN, reason: the console copy counts nothing",
            "<129>Nov 22 00:56:00 localhost haproxy[11235]: Server be_x/s1 is UP, reason: Layer4 check passed",
            "Nov 22 00:30:03 localhost haproxy[11235]: backend be_x has no server available!",
        ]);
        let causes: Vec<&str> = r.errors.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(causes, ["backlog_full", "connect_refused"]);
        assert_eq!(r.events, ["server_down", "server_up", "backend_down"]);
        let mut p = Haproxy::default();
        for l in [
            "",
            "x [1",
            "127.0.0.1:1 [22/Nov/2026:00:00:08.048] fe",
            "a [22/Nov/2026:00:00:08.048] fe b/c 1/2 x 1 - - SC--",
            // tcplog: three timers, no HTTP status
            "127.0.0.1:1 [22/Nov/2026:00:00:08.048] fe be/s1 0/0/5 123 -- 1/1/0/0/0 0/0",
        ] {
            assert_eq!(
                p.parse(l.as_bytes(), &mut Recorder::default()),
                Verdict::Unrecognised,
                "{l}"
            );
        }
    }
}
