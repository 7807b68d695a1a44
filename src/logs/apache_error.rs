//! Apache httpd error_log (mod_proxy, mod_proxy_http, mod_proxy_fcgi, mod_proxy_balancer).
//!
//! One failed request writes one to three lines: a precise line with the APR status
//! (`(104)Connection reset by peer: ... AH01102`), then a closing line that counts the
//! request once (AH01114, AH00898, AH01106, AH01075, ...). The cause comes from the
//! errno, not the AH code alone: AH01102 is a reset, a timeout or a close depending on
//! it. State is kept per `[pid:tid]`, as Apache writes a request's lines from one thread.
//!
//! A balancer fails a request over to the next member after a connect failure, writing
//! the whole sequence again per member. The request counts once, under the cause of its
//! last failed try: the count is held while the request may still fail over, and given
//! when a try ends the chain, when the thread's next line starts another request, or at
//! the end of the input (each polling round, and the end of `--one-shot`): Apache writes
//! nothing when a later try succeeds, and its lines come in one burst.

use super::cause::{AppCause, Cause, Event};
use super::php_error::request_cause;
use super::sink::{Sink, Verdict, kept};
use std::collections::HashMap;

/// What one thread's earlier lines said about the request it is serving.
#[derive(Default)]
struct Thread {
    /// The precise cause and upstream of the try in progress.
    pending: Option<(Cause, Vec<u8>)>,
    /// The try in progress put its worker in error state (AH00959): a balancer may fail
    /// the request over to another member after it.
    disabled: bool,
    /// A request already counted that Apache may still be failing over.
    failing_over: Option<Failover>,
}

/// A request whose last try disabled a balancer member: Apache may still fail it over, so
/// its count is held, under the cause of its latest try.
struct Failover {
    client: Vec<u8>,
    cause: Cause,
    upstream: Vec<u8>,
    /// The members it tried: a balancer tries each at most once per request (unless
    /// `maxattempts` exceeds their number), so a try on one of these is a new request
    /// from the same keep-alive connection.
    tried: Vec<Vec<u8>>,
}

#[derive(Default)]
pub struct ApacheError {
    threads: HashMap<Vec<u8>, Thread>,
}

/// At most this many threads with state, and tries merged into one request (bounded
/// memory on odd logs).
const MAX_THREADS: usize = 4096;
const MAX_TRIES: usize = 64;

/// One parsed line: the `[pid ..:tid ..]` key, the client, the APR status and the AH message.
struct Line<'a> {
    thread: &'a [u8],
    client: &'a [u8],
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
    let (mut thread, mut client): (&[u8], &[u8]) = (b"", b"");
    let mut errno = None;
    // Bracketed fields, and the APR status (`(111)Connection refused: `) that the default
    // ErrorLogFormat puts before `[client ..]`.
    loop {
        if let Some(r) = rest.strip_prefix(b"[") {
            let close = memchr::memchr(b']', r)?;
            let field = &r[..close];
            if field.starts_with(b"pid ") {
                thread = field;
            } else if let Some(c) = field.strip_prefix(b"client ") {
                client = c;
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
        client,
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

/// The cause of a failed read from the upstream, from its APR status.
fn read_cause(errno: Option<u32>) -> Option<Cause> {
    match errno? {
        70007 => Some(Cause::Timeout), // APR_TIMEUP: ProxyTimeout / timeout= expired
        104 | 32 => Some(Cause::Reset), // ECONNRESET, EPIPE
        70014 | 20014 => Some(Cause::PrematureClose), // APR_EOF; APR_EGENERAL: empty status line
        _ => None,
    }
}

/// CloudLinux's mod_hostinglimits, which logs without an AH code:
/// `[hostinglimits:error] [pid 1] mod_hostinglimits:Error on LVE enter: LVE(500)
/// HANDLER(..) HOSTNAME(example.com) URL(/) TID(2) errno (7) Read more: ...`. errno 7
/// (E2BIG) is the entry-process limit, 12 (ENOMEM) the memory limit: the request got a
/// 508. Other errnos are the module's own trouble.
fn hosting_limit<S: Sink>(line: &[u8], sink: &mut S) -> Verdict {
    let Some(at) = memchr::memmem::find(line, b"] mod_hostinglimits:Error on LVE enter") else {
        return Verdict::Unrecognised;
    };
    let text = &line[at..];
    let errno = match memchr::memmem::find(text, b" errno (") {
        Some(e) => &text[e + 8..],
        // The older wording: `Error on LVE enter -7`.
        None => text[38..].trim_ascii_start(),
    };
    let errno = errno.strip_prefix(b"-").unwrap_or(errno);
    let digits = errno.iter().take_while(|b| b.is_ascii_digit()).count();
    if matches!(&errno[..digits], b"7" | b"12") {
        let host = between(text, b" HOSTNAME(", b')');
        sink.app_error(
            AppCause::ResourceLimit,
            if host.is_empty() { b"-" } else { host },
        );
    }
    Verdict::Known
}

impl ApacheError {
    pub fn parse<S: Sink>(&mut self, line: &[u8], sink: &mut S) -> Verdict {
        let Some(l) = split(line) else {
            return hosting_limit(line, sink);
        };
        let t = l.text;
        match l.code {
            // Lifecycle.
            b"AH00489" => sink.event(Event::Restart),
            b"AH00491" | b"AH00492" => sink.event(Event::Shutdown),
            b"AH00493" | b"AH00494" | b"AH00171" => sink.event(Event::Reload),
            // A worker put in error state is the server's event; its request counts on
            // the closing line.
            b"AH00959" => {
                sink.event(Event::ServerDown);
                self.thread(l.thread, sink).disabled = true;
            }
            // A member put in error state for its reply (`failonstatus`): the request got
            // the upstream's own answer.
            b"AH01174" => sink.event(Event::ServerDown),
            // Precise lines: remembered until the request's closing line.
            b"AH00957" => {
                let cause = Cause::from_connect_errno(l.errno.unwrap_or(111));
                self.remember(&l, cause, between(t, b"attempt to connect to ", b' '), sink);
            }
            b"AH02454" => {
                let cause = Cause::from_connect_errno(l.errno.unwrap_or(111));
                let path = between(t, b"Unix domain socket ", b' ');
                self.remember(&l, cause, &[b"unix:", path].concat(), sink);
            }
            b"AH01102" => {
                let cause = read_cause(l.errno).unwrap_or(Cause::PrematureClose);
                self.remember(&l, cause, between(t, b"remote server ", b' '), sink);
            }
            // Reading the headers after the status line failed.
            b"AH10404" => {
                let cause = read_cause(l.errno).unwrap_or(Cause::PrematureClose);
                self.remember(&l, cause, b"-", sink);
            }
            b"AH10124" => self.remember(&l, Cause::HeaderTooBig, b"-", sink),
            // A FastCGI record with a bogus version: the reply is not FastCGI.
            b"AH01068" => self.remember(&l, Cause::InvalidResponse, b"-", sink),
            // Closing lines: count the request once.
            b"AH01114" | b"AH01079" => self.close(
                &l,
                Cause::ConnectRefused,
                between(t, b"to backend: ", b' '),
                sink,
            ),
            b"AH00898" => {
                if t.starts_with(b"Error during SSL Handshake") {
                    self.close_as(&l, Cause::SslHandshake, b"-", sink)
                } else if let Some(r) = t.strip_prefix(b"DNS lookup failure for: ") {
                    let name = &r[..memchr::memchr(b' ', r).unwrap_or(r.len())];
                    self.close_as(&l, Cause::Dns, name, sink)
                } else if t.starts_with(b"Corrupt status line") {
                    self.close_as(&l, Cause::InvalidResponse, b"-", sink)
                } else {
                    self.close(&l, Cause::PrematureClose, b"-", sink)
                }
            }
            b"AH01106" => self.close(&l, Cause::InvalidResponse, b"-", sink),
            b"AH01170" => {
                let name = &t[..memchr::memmem::find(t, b": All workers").unwrap_or(0)];
                let group = super::sink::normalise_upstream(name);
                let group: &[u8] = if group.is_empty() { b"-" } else { group };
                self.close_as(&l, Cause::NoLiveUpstreams, group, sink)
            }
            // FastCGI: the status says how the read failed; AH01068 before it says the
            // reply was not FastCGI (status 22).
            b"AH01075" => match read_cause(l.errno) {
                Some(cause) => self.close_as(&l, cause, b"-", sink),
                None => self.close(&l, Cause::PrematureClose, b"-", sink),
            },
            // The app's stderr, newlines escaped: `Got error 'PHP message: ...'`. Only a
            // fatal error failed the request.
            b"AH01071" => {
                if let Some(cause) = request_cause(t) {
                    sink.app_error(cause, b"-");
                }
            }
            // AH01067 (failed to read the FastCGI header) precedes AH01075;
            // AH01084/AH01097 (request body) come with an AH00898.
            _ => {}
        }
        Verdict::Known
    }

    /// The state of `thread`, created if need be (at most [`MAX_THREADS`]: beyond, every
    /// state is dropped, the held counts given first).
    fn thread<S: Sink>(&mut self, thread: &[u8], sink: &mut S) -> &mut Thread {
        let thread = kept(thread);
        if self.threads.len() >= MAX_THREADS && !self.threads.contains_key(thread) {
            self.end_of_input(sink);
            self.threads.clear();
        }
        self.threads.entry(thread.to_vec()).or_default()
    }

    fn remember<S: Sink>(&mut self, l: &Line<'_>, cause: Cause, upstream: &[u8], sink: &mut S) {
        self.thread(l.thread, sink).pending = Some((cause, kept(upstream).to_vec()));
    }

    /// No more lines for now: the requests still held for a failover count, under the
    /// cause of their last try (a later try that succeeded logs nothing).
    pub fn end_of_input<S: Sink>(&mut self, sink: &mut S) {
        for state in self.threads.values_mut() {
            if let Some(held) = state.failing_over.take() {
                sink.error(held.cause, b"-", &held.upstream);
            }
        }
    }

    /// Count the request with the cause its earlier line gave, else `default`.
    fn close<S: Sink>(&mut self, l: &Line<'_>, default: Cause, upstream: &[u8], sink: &mut S) {
        let mut state = self.threads.remove(kept(l.thread)).unwrap_or_default();
        let (cause, upstream) = state
            .pending
            .take()
            .unwrap_or_else(|| (default, kept(upstream).to_vec()));
        let may_fail_over = matches!(l.code, b"AH01114" | b"AH01079") && state.disabled;
        self.count(l, state, cause, &upstream, may_fail_over, sink);
    }

    /// Count the request with `cause` (the closing line is the precise one).
    fn close_as<S: Sink>(&mut self, l: &Line<'_>, cause: Cause, upstream: &[u8], sink: &mut S) {
        let mut state = self.threads.remove(kept(l.thread)).unwrap_or_default();
        let upstream = match (state.pending.take(), upstream) {
            (Some((_, earlier)), b"-") => earlier,
            _ => kept(upstream).to_vec(),
        };
        self.count(l, state, cause, &upstream, false, sink);
    }

    /// One closing line. A failover try of the request this thread holds (same client, a
    /// member not tried yet, right after a try that disabled its member) is the same
    /// request: its cause replaces the held one. Anything else first gives the held count.
    /// A try that may fail over again is held; one that cannot is counted now.
    fn count<S: Sink>(
        &mut self,
        l: &Line<'_>,
        state: Thread,
        cause: Cause,
        upstream: &[u8],
        may_fail_over: bool,
        sink: &mut S,
    ) {
        let (client, upstream) = (kept(l.client), kept(upstream));
        let mut failover = match state.failing_over {
            Some(f)
                if !client.is_empty()
                    && f.client == client
                    && !f.tried.iter().any(|t| t == upstream)
                    && f.tried.len() < MAX_TRIES =>
            {
                Some(f)
            }
            Some(other) => {
                sink.error(other.cause, b"-", &other.upstream);
                None
            }
            None => None,
        };
        if !may_fail_over {
            sink.error(cause, b"-", upstream);
            return;
        }
        let mut held = failover.take().unwrap_or(Failover {
            client: client.to_vec(),
            cause,
            upstream: upstream.to_vec(),
            tried: Vec::new(),
        });
        held.cause = cause;
        held.upstream = upstream.to_vec();
        held.tried.push(upstream.to_vec());
        self.thread(l.thread, sink).failing_over = Some(held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::sink::KEPT_BYTES;
    use crate::logs::sink::recorder::Recorder;

    #[test]
    fn hostile_thread_ids_and_upstreams_keep_the_state_small() {
        let mut p = ApacheError::default();
        let mut r = Recorder::default();
        let long = "9".repeat(100_000);
        for i in 0..50 {
            let line = format!(
                "[Tue Dec 01 21:25:05.270376 2026] [proxy:error] [pid 1:tid {i}{long}] (111)Connection refused: AH00957: http: attempt to connect to 10.0.0.1:{long} (10.0.0.1) failed"
            );
            p.parse(line.as_bytes(), &mut r);
        }
        let kept_bytes: usize = p
            .threads
            .iter()
            .map(|(k, t)| k.len() + t.pending.as_ref().map_or(0, |(_, u)| u.len()))
            .sum();
        assert!(kept_bytes <= 50 * 2 * KEPT_BYTES, "{kept_bytes} bytes kept");
    }

    fn run(lines: &[&str]) -> Recorder {
        let mut p = ApacheError::default();
        let mut r = Recorder::default();
        for l in lines {
            let l = format!("[Tue Dec 01 21:25:05.270376 2026] {l}");
            assert_eq!(p.parse(l.as_bytes(), &mut r), Verdict::Known, "{l}");
        }
        p.end_of_input(&mut r); // as the tailer does after each round
        r
    }

    fn errors(lines: &[&str]) -> Vec<(String, String, String)> {
        run(lines).errors
    }

    fn one(cause: &str, upstream: &str) -> Vec<(String, String, String)> {
        vec![(cause.into(), "-".into(), upstream.into())]
    }

    /// Lines as Apache 2.4.71 wrote them (tests/logs_apache.rs makes each happen).
    #[test]
    fn the_errno_decides_the_cause() {
        let table: &[(&[&str], &str, &str)] = &[
            (
                &[
                    "[proxy:error] [pid 1:tid 2] (111)Connection refused: AH00957: http: attempt to connect to 127.0.0.1:9 (127.0.0.1:9) failed",
                    "[proxy_http:error] [pid 1:tid 2] [client 127.0.0.1:5] AH01114: HTTP: failed to make connection to backend: 127.0.0.1, referer: http://x/",
                ],
                "connect_refused",
                "127.0.0.1:9",
            ),
            (
                &[
                    "[proxy:error] [pid 1:tid 2] (70007)The timeout specified has expired: AH00957: http: attempt to connect to 127.0.0.1:9 (127.0.0.1:9) failed",
                    "[proxy_http:error] [pid 1:tid 2] [client 127.0.0.1:5] AH01114: HTTP: failed to make connection to backend: 127.0.0.1",
                ],
                "connect_timeout",
                "127.0.0.1:9",
            ),
            (
                &[
                    "[proxy_http:error] [pid 1:tid 2] (70007)The timeout specified has expired: [client 127.0.0.1:5] AH01102: error reading status line from remote server 127.0.0.1:81",
                    "[proxy:error] [pid 1:tid 2] [client 127.0.0.1:5] AH00898: Error reading from remote server returned by /slow",
                ],
                "timeout",
                "127.0.0.1:81",
            ),
            (
                &[
                    "[proxy_http:error] [pid 1:tid 2] (104)Connection reset by peer: [client 127.0.0.1:5] AH01102: error reading status line from remote server 127.0.0.1:81",
                    "[proxy:error] [pid 1:tid 2] [client 127.0.0.1:5] AH00898: Error reading from remote server returned by /reset",
                ],
                "reset",
                "127.0.0.1:81",
            ),
            (
                &[
                    "[proxy_http:error] [pid 1:tid 2] (20014)Internal error (specific information not available): [client 127.0.0.1:5] AH01102: error reading status line from remote server 127.0.0.1:81",
                    "[proxy:error] [pid 1:tid 2] [client 127.0.0.1:5] AH00898: Error reading from remote server returned by /close",
                ],
                "premature_close",
                "127.0.0.1:81",
            ),
            (
                &[
                    "[proxy_http:error] [pid 1:tid 2] (70014)End of file found: [client 127.0.0.1:5] AH01102: error reading status line from remote server 127.0.0.1:81",
                    "[proxy:error] [pid 1:tid 2] [client 127.0.0.1:5] AH00898: Error reading from remote server returned by /binary",
                ],
                "premature_close",
                "127.0.0.1:81",
            ),
            (
                &[
                    "[proxy_http:warn] [pid 1:tid 2] (104)Connection reset by peer: [client 127.0.0.1:5] AH10404: Error reading headers from backend",
                    "[proxy_http:warn] [pid 1:tid 2] [client 127.0.0.1:5] AH01106: bad HTTP/1.1 header returned by /x (GET)",
                ],
                "reset",
                "-",
            ),
            (
                &[
                    "[proxy_http:warn] [pid 1:tid 2] (70007)The timeout specified has expired: [client 127.0.0.1:5] AH10404: Error reading headers from backend",
                    "[proxy_http:warn] [pid 1:tid 2] [client 127.0.0.1:5] AH01106: bad HTTP/1.1 header returned by /x (GET)",
                ],
                "timeout",
                "-",
            ),
            (
                &[
                    "[proxy_http:warn] [pid 1:tid 2] (70014)End of file found: [client 127.0.0.1:5] AH10404: Error reading headers from backend",
                    "[proxy_http:warn] [pid 1:tid 2] [client 127.0.0.1:5] AH01106: bad HTTP/1.1 header returned by /x (GET)",
                ],
                "premature_close",
                "-",
            ),
            (
                &[
                    "[proxy_http:warn] [pid 1:tid 2] [client 127.0.0.1:5] AH01106: bad HTTP/1.1 header returned by /x (GET)",
                ],
                "invalid_response",
                "-",
            ),
            (
                &[
                    "[proxy:error] [pid 1:tid 2] [client 127.0.0.1:5] AH00898: Corrupt status line returned by remote server: HTTP/1.1 200 aaaa",
                ],
                "invalid_response",
                "-",
            ),
            (
                &[
                    "[proxy_http:error] [pid 1:tid 2] [client 127.0.0.1:5] AH10124: header size is over the limit allowed by ResponseFieldSize (8192 bytes)",
                    "[proxy_http:error] [pid 1:tid 2] [client 127.0.0.1:5] AH01106: bad HTTP/1.1 header returned by /big (GET)",
                ],
                "header_too_big",
                "-",
            ),
            (
                &[
                    "[proxy:error] [pid 1:tid 2] (20014)Internal error (specific information not available): [client 127.0.0.1:5] AH01084: pass request body failed to 127.0.0.1:81 (127.0.0.1)",
                    "[proxy:error] [pid 1:tid 2] [client 127.0.0.1:5] AH00898: Error during SSL Handshake with remote server returned by /tls",
                    "[proxy_http:error] [pid 1:tid 2] [client 127.0.0.1:5] AH01097: pass request body failed to 127.0.0.1:81 (127.0.0.1) from 127.0.0.1 ()",
                ],
                "ssl_handshake",
                "-",
            ),
            (
                &[
                    "[proxy:error] [pid 1:tid 2] (EAI 2)Name or service not known: [client 127.0.0.1:5] AH00898: DNS lookup failure for: geo.invalid returned by /dns",
                ],
                "dns",
                "geo.invalid",
            ),
            (
                &[
                    "[proxy:error] [pid 1:tid 2] (2)No such file or directory: AH02454: FCGI: attempt to connect to Unix domain socket /run/php/x.sock (x:8000) failed",
                    "[proxy_fcgi:error] [pid 1:tid 2] [client 127.0.0.1:5] AH01079: failed to make connection to backend: x",
                ],
                "socket_missing",
                "unix:/run/php/x.sock",
            ),
            (
                &[
                    "[proxy:error] [pid 1:tid 2] (13)Permission denied: AH02454: FCGI: attempt to connect to Unix domain socket /run/php/x.sock (x:8000) failed",
                    "[proxy_fcgi:error] [pid 1:tid 2] [client 127.0.0.1:5] AH01079: failed to make connection to backend: x",
                ],
                "socket_permission",
                "unix:/run/php/x.sock",
            ),
            (
                &[
                    "[proxy_fcgi:error] [pid 1:tid 2] (70007)The timeout specified has expired: [client 127.0.0.1:5] AH01075: Error dispatching request to :80: (polling)",
                ],
                "timeout",
                "-",
            ),
            (
                &[
                    "[proxy_fcgi:error] [pid 1:tid 2] [client 127.0.0.1:5] AH01067: Failed to read FastCGI header",
                    "[proxy_fcgi:error] [pid 1:tid 2] (104)Connection reset by peer: [client 127.0.0.1:5] AH01075: Error dispatching request to :80: ",
                ],
                "reset",
                "-",
            ),
            (
                &[
                    "[proxy_fcgi:error] [pid 1:tid 2] [client 127.0.0.1:5] AH01067: Failed to read FastCGI header",
                    "[proxy_fcgi:error] [pid 1:tid 2] (70014)End of file found: [client 127.0.0.1:5] AH01075: Error dispatching request to :80: ",
                ],
                "premature_close",
                "-",
            ),
            (
                &[
                    "[proxy_fcgi:error] [pid 1:tid 2] [client 127.0.0.1:5] AH01068: Got bogus version 72",
                    "[proxy_fcgi:error] [pid 1:tid 2] (22)Invalid argument: [client 127.0.0.1:5] AH01075: Error dispatching request to :80: ",
                ],
                "invalid_response",
                "-",
            ),
            (
                &[
                    "[proxy:error] [pid 1:tid 2] [client 127.0.0.1:5] AH01170: balancer://dead: All workers are in error state",
                ],
                "no_live_upstreams",
                "dead",
            ),
        ];
        for (lines, cause, upstream) in table {
            assert_eq!(errors(lines), one(cause, upstream), "{lines:?}");
        }
    }

    /// One balancer try: connect refused, member disabled, closing line.
    fn refused_try(tid: u32, member: &str, client: &str) -> [String; 3] {
        [
            format!(
                "[proxy:error] [pid 1:tid {tid}] (111)Connection refused: AH00957: http: attempt to connect to {member} ({member}) failed"
            ),
            format!(
                "[proxy:error] [pid 1:tid {tid}] AH00959: ap_proxy_connect_backend disabling worker for ({member}) for 60s"
            ),
            format!(
                "[proxy_http:error] [pid 1:tid {tid}] [client {client}] AH01114: HTTP: failed to make connection to backend: 127.0.0.1"
            ),
        ]
    }

    fn lines(tries: &[[String; 3]], more: &[&str]) -> Vec<String> {
        let mut all: Vec<String> = tries.iter().flatten().cloned().collect();
        all.extend(more.iter().map(|s| s.to_string()));
        all
    }

    fn run_owned(all: &[String]) -> Recorder {
        run(&all.iter().map(String::as_str).collect::<Vec<_>>())
    }

    #[test]
    fn a_request_failed_over_across_members_counts_once() {
        // Both members refuse: one request, two member events.
        let r = run_owned(&lines(
            &[
                refused_try(7, "10.0.0.1:80", "1.2.3.4:5"),
                refused_try(7, "10.0.0.2:80", "1.2.3.4:5"),
            ],
            &[],
        ));
        assert_eq!(
            r.errors,
            one("connect_refused", "10.0.0.2:80"),
            "its last try"
        );
        assert_eq!(r.events, ["server_down", "server_down"]);

        // The second member resets: still one request, under its last try's cause.
        let r = run_owned(&lines(
            &[refused_try(7, "10.0.0.1:80", "1.2.3.4:5")],
            &[
                "[proxy_http:error] [pid 1:tid 7] (104)Connection reset by peer: [client 1.2.3.4:5] AH01102: error reading status line from remote server 10.0.0.2:80",
                "[proxy:error] [pid 1:tid 7] [client 1.2.3.4:5] AH00898: Error reading from remote server returned by /mixed",
            ],
        ));
        assert_eq!(r.errors, one("reset", "10.0.0.2:80"));

        // The last members were already disabled (forcerecovery=off).
        let r = run_owned(&lines(
            &[refused_try(7, "10.0.0.1:80", "1.2.3.4:5")],
            &[
                "[proxy:error] [pid 1:tid 7] [client 1.2.3.4:5] AH01170: balancer://pool: All workers are in error state",
            ],
        ));
        assert_eq!(r.errors, one("no_live_upstreams", "pool"));

        // A request whose later try succeeded logs nothing more: its held count is given at
        // the end of the input, under the failed try; so is a thread's held request when
        // its next request starts.
        let r = run_owned(&lines(&[refused_try(7, "10.0.0.1:80", "1.2.3.4:5")], &[]));
        assert_eq!(r.errors, one("connect_refused", "10.0.0.1:80"));
        let mut p = ApacheError::default();
        let mut r = Recorder::default();
        for l in lines(
            &[
                refused_try(7, "10.0.0.1:80", "1.2.3.4:5"),
                refused_try(7, "10.0.0.3:80", "9.9.9.9:1"),
            ],
            &[],
        ) {
            p.parse(
                format!("[Tue Dec 01 21:25:05.270376 2026] {l}").as_bytes(),
                &mut r,
            );
        }
        assert_eq!(
            r.errors,
            one("connect_refused", "10.0.0.1:80"),
            "given before the end"
        );
    }

    #[test]
    fn tries_that_cannot_be_a_failover_are_new_requests() {
        let client = "1.2.3.4:5";
        let cases: &[(&str, Vec<String>)] = &[
            (
                "another client on the same thread",
                lines(
                    &[
                        refused_try(7, "10.0.0.1:80", client),
                        refused_try(7, "10.0.0.2:80", "1.2.3.4:6"),
                    ],
                    &[],
                ),
            ),
            (
                "the same client on another thread",
                lines(
                    &[
                        refused_try(7, "10.0.0.1:80", client),
                        refused_try(8, "10.0.0.2:80", client),
                    ],
                    &[],
                ),
            ),
            (
                // The next request of a keep-alive connection, after forcerecovery.
                "a member this request already tried",
                lines(
                    &[
                        refused_try(7, "10.0.0.1:80", client),
                        refused_try(7, "10.0.0.1:80", client),
                    ],
                    &[],
                ),
            ),
        ];
        for (name, all) in cases {
            assert_eq!(run_owned(all).errors.len(), 2, "{name}");
        }
        // A try that did not disable its worker (no balancer) is never failed over.
        let plain = [
            "[proxy:error] [pid 1:tid 7] (111)Connection refused: AH00957: http: attempt to connect to 10.0.0.1:80 (10.0.0.1:80) failed",
            "[proxy_http:error] [pid 1:tid 7] [client 1.2.3.4:5] AH01114: HTTP: failed to make connection to backend: 10.0.0.1",
        ];
        let mut twice = plain.to_vec();
        twice.extend(plain);
        twice[2] = "[proxy:error] [pid 1:tid 7] (111)Connection refused: AH00957: http: attempt to connect to 10.0.0.2:80 (10.0.0.2:80) failed";
        assert_eq!(run(&twice).errors.len(), 2);
    }

    /// AH01071 as Apache 2.4.71's mod_proxy_fcgi wrote PHP-FPM 8.2's stderr (one line per
    /// request, newlines escaped); mod_hostinglimits' lines as its source writes them.
    #[test]
    fn app_errors_in_the_apps_words() {
        let table: &[(&str, Option<(&str, &str)>)] = &[
            (
                r"[proxy_fcgi:error] [pid 30319:tid 30382] [client 127.0.0.1:39046] AH01071: Got error 'PHP message: PHP Fatal error:  Uncaught mysqli_sql_exception: Connection refused in /tmp/appexp/mysqli.php:2\nStack trace:\n#0 /tmp/appexp/mysqli.php(2): mysqli->__construct()\n#1 {main}\n  thrown in /tmp/appexp/mysqli.php on line 2'",
                Some(("database", "-")),
            ),
            (
                r"[proxy_fcgi:error] [pid 30320:tid 30324] [client 127.0.0.1:39058] AH01071: Got error 'PHP message: PHP Fatal error:  Uncaught PDOException: SQLSTATE[HY000] [2002] Connection refused in /tmp/appexp/pdo.php:2\nStack trace:\n#0 /tmp/appexp/pdo.php(2): PDO->__construct()\n#1 {main}\n  thrown in /tmp/appexp/pdo.php on line 2'",
                Some(("database", "-")),
            ),
            (
                "[proxy_fcgi:error] [pid 30321:tid 30327] [client 127.0.0.1:39062] AH01071: Got error 'PHP message: PHP Fatal error:  Allowed memory size of 4194304 bytes exhausted (tried to allocate 2097152 bytes) in /tmp/appexp/memory.php on line 4'",
                Some(("memory_exhausted", "-")),
            ),
            (
                "[proxy_fcgi:error] [pid 30320:tid 30328] [client 127.0.0.1:39068] AH01071: Got error 'PHP message: PHP Fatal error:  Maximum execution time of 1 second exceeded in /tmp/appexp/timeout.php on line 4'",
                Some(("execution_timeout", "-")),
            ),
            (
                r"[proxy_fcgi:error] [pid 30321:tid 30331] [client 127.0.0.1:53148] AH01071: Got error 'PHP message: PHP Fatal error:  Uncaught Error: Call to undefined function undefined_function_here() in /tmp/appexp/fatal.php:2\nStack trace:\n#0 /tmp/appexp/fatal.php(3): f()\n#1 {main}\n  thrown in /tmp/appexp/fatal.php on line 2'",
                Some(("php_fatal", "-")),
            ),
            (
                "[proxy_fcgi:error] [pid 30319:tid 30384] [client 127.0.0.1:53156] AH01071: Got error 'PHP message: PHP Warning:  just a warning in /tmp/appexp/warn.php on line 2; PHP message: PHP Warning:  Undefined variable $undefined_var in /tmp/appexp/warn.php on line 3'",
                None,
            ),
            (
                "[hostinglimits:error] [pid 4242:tid 4250] mod_hostinglimits:Error on LVE enter: LVE(1001) HANDLER(application/x-httpd-php) HOSTNAME(shop.example.com) URL(/index.php) TID(4250) errno (7) Read more: http://e.cloudlinux.com/MHL-E2BIG min_uid (500)",
                Some(("resource_limit", "shop.example.com")),
            ),
            (
                "[hostinglimits:error] [pid 4242:tid 4250] mod_hostinglimits:Error on LVE enter -12",
                Some(("resource_limit", "-")),
            ),
            (
                "[hostinglimits:error] [pid 4242:tid 4250] mod_hostinglimits:Error on LVE enter: LVE(1001) HANDLER(cgi-script) HOSTNAME(a.test) URL(/) TID(4250) errno (1) Read more: http://e.cloudlinux.com/MHL-EPERM min_uid (500)",
                None,
            ),
        ];
        for (line, want) in table {
            let r = run(&[line]);
            let want: Vec<(String, String)> = want
                .iter()
                .map(|(c, v)| (c.to_string(), v.to_string()))
                .collect();
            assert_eq!(r.apps, want, "{line}");
            assert!(r.errors.is_empty(), "{line}");
        }
    }

    #[test]
    fn traps_and_events() {
        let r = run(&[
            "[proxy_fcgi:error] [pid 1:tid 2] [client 1.2.3.4:5] AH01071: Got error 'Primary script unknown'",
            "[proxy_fcgi:error] [pid 1:tid 2] [client 1.2.3.4:5] AH01067: Failed to read FastCGI header",
            "[proxy:warn] [pid 1:tid 1] AH01146: Ignoring parameter 'retry=0' for worker 'unix:/x.sock|fcgi://x/' because of worker sharing",
            "[proxy_balancer:error] [pid 1:tid 2] [client 127.0.0.1:5] AH01174: balancer://fos: Forcing worker (http://127.0.0.1:81) into error state due to status code 500 matching 'failonstatus' balancer parameter",
            "[mpm_event:notice] [pid 1:tid 2] AH00489: Apache/2.4.71 (Debian) configured -- resuming normal operations",
            "[mpm_event:notice] [pid 1:tid 2] AH00491: caught SIGTERM, shutting down",
        ]);
        assert!(r.errors.is_empty(), "{r:?}");
        assert_eq!(r.events, ["server_down", "restart", "shutdown"]);
        let mut p = ApacheError::default();
        for l in [
            "",
            "[",
            "[x",
            "plain text",
            "[a] [pid 1] (",
            "[a] [pid 1] (1)x: AH1",
            "[a] [pid 1] [client 1.2.3.4:5",
        ] {
            assert_eq!(
                p.parse(l.as_bytes(), &mut Recorder::default()),
                Verdict::Unrecognised,
                "{l}"
            );
        }
    }

    #[test]
    fn thread_state_stays_bounded() {
        let mut p = ApacheError::default();
        let mut r = Recorder::default();
        for tid in 0..3 * MAX_THREADS {
            for l in refused_try(tid as u32, "10.0.0.1:80", "1.2.3.4:5") {
                p.parse(format!("[t] {l}").as_bytes(), &mut r);
            }
        }
        assert!(p.threads.len() <= MAX_THREADS);
        p.end_of_input(&mut r);
        assert_eq!(r.errors.len(), 3 * MAX_THREADS, "no held count lost");
        // One client failing over forever still counts again once MAX_TRIES are merged.
        let mut p = ApacheError::default();
        let mut r = Recorder::default();
        for n in 0..2 * MAX_TRIES {
            for l in refused_try(7, &format!("10.0.{}.{}:80", n / 256, n % 256), "1.2.3.4:5") {
                p.parse(format!("[t] {l}").as_bytes(), &mut r);
            }
        }
        p.end_of_input(&mut r);
        assert_eq!(r.errors.len(), 2);
    }
}
