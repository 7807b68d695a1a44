//! Apache httpd error_log (mod_proxy, mod_proxy_http, mod_proxy_fcgi, mod_proxy_balancer).
//!
//! One failed request writes two or three lines (AH00957 then AH01114, AH01102 then
//! AH00898): the first names the precise cause, the last closes the request. The precise
//! line is remembered per `[pid:tid]` and the closing line counts once.

use super::cause::{Cause, Event};
use super::sink::{Sink, Verdict};
use std::collections::HashMap;

/// The precise cause a request's earlier line gave, waiting for its closing line.
struct Pending {
    cause: Cause,
    upstream: Vec<u8>,
}

#[derive(Default)]
pub struct ApacheError {
    pending: HashMap<Vec<u8>, Pending>,
}

/// At most this many threads with a pending cause (bounded memory on odd logs).
const MAX_PENDING: usize = 4096;

/// One parsed line: the `[pid ..:tid ..]` key, the APR errno prefix and the AH message.
struct Line<'a> {
    thread: &'a [u8],
    errno: Option<u32>,
    code: &'a [u8],
    text: &'a [u8],
}

fn split(line: &[u8]) -> Option<Line<'_>> {
    // [Sat Nov 21 23:59:35.161911 2026] [proxy_http:error] [pid 20371:tid 20427] [client ..] ...
    if line.first() != Some(&b'[') {
        return None;
    }
    let mut rest = line;
    let mut thread: &[u8] = b"";
    let mut errno = None;
    // Bracketed fields, and the APR status (`(111)Connection refused: `) that the default
    // ErrorLogFormat puts before `[client ..]`.
    loop {
        if let Some(r) = rest.strip_prefix(b"[") {
            let close = memchr::memchr(b']', r)?;
            if r.starts_with(b"pid ") {
                thread = &r[..close];
            }
            rest = r[close + 1..].strip_prefix(b" ")?;
        } else if let Some(r) = rest.strip_prefix(b"(").filter(|_| errno.is_none()) {
            let close = memchr::memchr(b')', r)?;
            let digits = &r[..close];
            let digits = digits.strip_prefix(b"EAI ").unwrap_or(digits);
            errno = Some(
                std::str::from_utf8(digits)
                    .ok()
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(0),
            );
            rest = &r[close + memchr::memmem::find(&r[close..], b": ")? + 2..];
        } else {
            break;
        }
    }
    if !rest.starts_with(b"AH") || rest.len() < 9 || rest[7] != b':' {
        return None;
    }
    Some(Line {
        thread,
        errno,
        code: &rest[..7],
        text: rest[8..].strip_prefix(b" ").unwrap_or(&rest[8..]),
    })
}

/// The text between `after` and the next `stop` byte.
fn between<'a>(text: &'a [u8], after: &[u8], stop: u8) -> &'a [u8] {
    match memchr::memmem::find(text, after) {
        Some(at) => {
            let v = &text[at + after.len()..];
            &v[..memchr::memchr(stop, v).unwrap_or(v.len())]
        }
        None => b"-",
    }
}

impl ApacheError {
    pub fn parse<S: Sink>(&mut self, line: &[u8], sink: &mut S) -> Verdict {
        let Some(l) = split(line) else {
            return Verdict::Unrecognised;
        };
        let t = l.text;
        match l.code {
            // Lifecycle.
            b"AH00489" => sink.event(Event::Restart),
            b"AH00491" | b"AH00492" => sink.event(Event::Shutdown),
            b"AH00493" | b"AH00494" | b"AH00171" => sink.event(Event::Reload),
            // Precise causes: remembered until the request's closing line.
            b"AH00957" => {
                let cause = Cause::from_connect_errno(l.errno.unwrap_or(111));
                self.remember(l.thread, cause, between(t, b"attempt to connect to ", b' '));
            }
            b"AH02454" => {
                let cause = Cause::from_connect_errno(l.errno.unwrap_or(111));
                let path = between(t, b"Unix domain socket ", b' ');
                self.remember(l.thread, cause, &[b"unix:", path].concat());
            }
            b"AH01102" => {
                let cause = match l.errno {
                    Some(70007) => Cause::Timeout,
                    Some(104) | Some(32) => Cause::Reset,
                    _ => Cause::PrematureClose,
                };
                self.remember(l.thread, cause, between(t, b"remote server ", b' '));
            }
            b"AH10124" => self.remember(l.thread, Cause::HeaderTooBig, b"-"),
            // Closing lines: count once.
            b"AH01114" | b"AH01079" => self.close(
                l.thread,
                Cause::ConnectRefused,
                between(t, b"to backend: ", b' '),
                sink,
            ),
            b"AH00898" => {
                if t.starts_with(b"Error during SSL Handshake") {
                    self.close_as(l.thread, Cause::SslHandshake, b"-", sink)
                } else if let Some(r) = t.strip_prefix(b"DNS lookup failure for: ") {
                    self.close_as(
                        l.thread,
                        Cause::Dns,
                        &r[..memchr::memchr(b' ', r).unwrap_or(r.len())],
                        sink,
                    )
                } else {
                    self.close(l.thread, Cause::PrematureClose, b"-", sink)
                }
            }
            b"AH01106" => self.close(l.thread, Cause::InvalidResponse, b"-", sink),
            b"AH01170" => {
                let name = &t[..memchr::memmem::find(t, b": All workers").unwrap_or(0)];
                let group = super::sink::normalise_upstream(name);
                self.close_as(
                    l.thread,
                    Cause::NoLiveUpstreams,
                    if group.is_empty() { b"-" } else { group },
                    sink,
                )
            }
            b"AH01075" => {
                let cause = if l.errno == Some(70007) {
                    Cause::Timeout
                } else {
                    Cause::PrematureClose
                };
                self.close_as(l.thread, cause, b"-", sink)
            }
            b"AH01067" => self.close_as(l.thread, Cause::PrematureClose, b"-", sink),
            _ => {} // AH00959 (worker disabled) is a consequence; AH01071 is the app's stderr
        }
        Verdict::Known
    }

    fn remember(&mut self, thread: &[u8], cause: Cause, upstream: &[u8]) {
        if self.pending.len() >= MAX_PENDING && !self.pending.contains_key(thread) {
            self.pending.clear();
        }
        self.pending.insert(
            thread.to_vec(),
            Pending {
                cause,
                upstream: upstream.to_vec(),
            },
        );
    }

    /// Count the request with the cause its earlier line gave, else `default`.
    fn close<S: Sink>(&mut self, thread: &[u8], default: Cause, upstream: &[u8], sink: &mut S) {
        match self.pending.remove(thread) {
            Some(p) => sink.error(p.cause, b"-", &p.upstream),
            None => sink.error(default, b"-", upstream),
        }
    }

    /// Count the request with `cause` (the closing line is the precise one).
    fn close_as<S: Sink>(&mut self, thread: &[u8], cause: Cause, upstream: &[u8], sink: &mut S) {
        let pending = self.pending.remove(thread);
        let upstream = match (&pending, upstream) {
            (Some(p), b"-") => p.upstream.as_slice(),
            _ => upstream,
        };
        sink.error(cause, b"-", upstream);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::sink::recorder::Recorder;

    fn run(lines: &[&str]) -> Recorder {
        let mut p = ApacheError::default();
        let mut r = Recorder::default();
        for l in lines {
            assert_eq!(p.parse(l.as_bytes(), &mut r), Verdict::Known, "{l}");
        }
        r
    }

    const T: &str = "[Sat Nov 21 23:59:35.161911 2026]";

    #[test]
    fn one_request_counts_once_with_the_precise_cause() {
        let table: &[(&[&str], &str, &str)] = &[
            (
                &[
                    "[proxy:error] [pid 20371:tid 20427] (111)Connection refused: AH00957: http: attempt to connect to 127.0.0.1:9 (127.0.0.1:9) failed",
                    "[proxy_http:error] [pid 20371:tid 20427] [client 127.0.0.1:57872] AH01114: HTTP: failed to make connection to backend: 127.0.0.1, referer: http://x/",
                ],
                "connect_refused",
                "127.0.0.1:9",
            ),
            (
                &[
                    "[proxy_http:error] [pid 20371:tid 20428] (70007)The timeout specified has expired: [client 127.0.0.1:1] AH01102: error reading status line from remote server 127.0.0.1:18081",
                    "[proxy:error] [pid 20371:tid 20428] [client 127.0.0.1:1] AH00898: Error reading from remote server returned by /slow",
                ],
                "timeout",
                "127.0.0.1:18081",
            ),
            (
                &[
                    "[proxy_http:error] [pid 1:tid 2] (104)Connection reset by peer: [client 127.0.0.1:1] AH01102: error reading status line from remote server 127.0.0.1:18081",
                    "[proxy:error] [pid 1:tid 2] [client 127.0.0.1:1] AH00898: Error reading from remote server returned by /reset",
                ],
                "reset",
                "127.0.0.1:18081",
            ),
            (
                &[
                    "[proxy_http:error] [pid 1:tid 2] [client 127.0.0.1:1] AH10124: header size is over the limit allowed by ResponseFieldSize (8192 bytes)",
                    "[proxy_http:error] [pid 1:tid 2] [client 127.0.0.1:1] AH01106: bad HTTP/1.1 header returned by /big (GET)",
                ],
                "header_too_big",
                "-",
            ),
            (
                &[
                    "[proxy:error] [pid 1:tid 2] (2)No such file or directory: AH02454: FCGI: attempt to connect to Unix domain socket /run/php/x.sock (localhost:8000) failed",
                    "[proxy_fcgi:error] [pid 1:tid 2] [client 127.0.0.1:1] AH01079: failed to make connection to backend: localhost",
                ],
                "socket_missing",
                "unix:/run/php/x.sock",
            ),
            (
                &[
                    "[proxy:error] [pid 1:tid 2] (13)Permission denied: AH02454: FCGI: attempt to connect to Unix domain socket /run/php/x.sock (localhost:8000) failed",
                    "[proxy_fcgi:error] [pid 1:tid 2] [client 127.0.0.1:1] AH01079: failed to make connection to backend: localhost",
                ],
                "socket_permission",
                "unix:/run/php/x.sock",
            ),
            (
                &[
                    "[proxy:error] [pid 1:tid 2] [client 127.0.0.1:1] AH00898: Error during SSL Handshake with remote server returned by /tlsplain",
                ],
                "ssl_handshake",
                "-",
            ),
            (
                &[
                    "[proxy:error] [pid 1:tid 2] (EAI 3)Temporary failure in name resolution: [client 1.2.3.4:5] AH00898: DNS lookup failure for: geo.internal.test returned by /api/geo/1",
                ],
                "dns",
                "geo.internal.test",
            ),
            (
                &[
                    "[proxy:error] [pid 1:tid 2] [client 127.0.0.1:1] AH01170: balancer://dead: All workers are in error state",
                ],
                "no_live_upstreams",
                "dead",
            ),
            (
                &[
                    "[proxy_fcgi:error] [pid 1:tid 2] (70007)The timeout specified has expired: [client 127.0.0.1:1] AH01075: Error dispatching request to : (polling)",
                ],
                "timeout",
                "-",
            ),
        ];
        for (lines, cause, upstream) in table {
            let with_time: Vec<String> = lines.iter().map(|l| format!("{T} {l}")).collect();
            let refs: Vec<&str> = with_time.iter().map(String::as_str).collect();
            let r = run(&refs);
            assert_eq!(
                r.errors,
                vec![(cause.to_string(), "-".into(), upstream.to_string())],
                "{lines:?}"
            );
        }
    }

    #[test]
    fn traps_and_events() {
        let r = run(&[
            &format!(
                "{T} [proxy:error] [pid 1:tid 2] AH00959: ap_proxy_connect_backend disabling worker for (127.0.0.1:9) for 60s"
            ),
            &format!(
                "{T} [proxy_fcgi:error] [pid 1:tid 2] [client 1.2.3.4:5] AH01071: Got error 'Primary script unknown'"
            ),
            &format!(
                "{T} [mpm_event:notice] [pid 1:tid 2] AH00489: Apache/2.4.62 (Debian) configured -- resuming normal operations"
            ),
            &format!("{T} [mpm_event:notice] [pid 1:tid 2] AH00491: caught SIGTERM, shutting down"),
        ]);
        assert!(r.errors.is_empty(), "{r:?}");
        assert_eq!(r.events, ["restart", "shutdown"]);
        let mut p = ApacheError::default();
        for l in [
            "",
            "[",
            "[x",
            "plain text",
            "[a] [pid 1] (",
            "[a] [pid 1] (1)x: AH1",
        ] {
            assert_eq!(
                p.parse(l.as_bytes(), &mut Recorder::default()),
                Verdict::Unrecognised,
                "{l}"
            );
        }
    }
}
