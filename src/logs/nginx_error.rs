//! nginx error.log: one line per failed upstream try, classified on the message's fixed
//! prefix, errno and `while` action (never on a bare substring: see the traps in the tests).
//!
//! The app's own words arrive as `FastCGI sent in stderr: "PHP message: ..."`, quoted as
//! PHP wrote them: a stack trace puts raw newlines inside the quotes, so one entry spans
//! several physical lines and only its last one, after the closing quote, names the vhost.
//! The entry counts once, when that line arrives.

use super::cause::{AppCause, Cause, Event};
use super::php_error::{either_cause, request_cause};
use super::sink::{Sink, Verdict, normalise_upstream};
use memchr::memmem::Finder;
use std::sync::LazyLock;

static SERVER: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b", server: "));
static UPSTREAM: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b", upstream: \""));
static WHILE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b" while "));
static CLIENT: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b", client: "));
static FAILED: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b" failed ("));
/// The end of a quoted stderr text: nginx's ` while <action>` or its `, client:` context.
static STDERR_END: LazyLock<[Finder<'static>; 2]> =
    LazyLock::new(|| [Finder::new(b"\" while "), Finder::new(b"\", client: ")]);

/// What one message means.
#[derive(Debug, PartialEq, Eq)]
enum Meaning {
    Failure(Cause),
    Event(Event),
    Nothing,
}

/// The parser, with the FastCGI stderr entry that continues on the next lines.
#[derive(Default)]
pub struct NginxError {
    /// Inside a stderr text whose quote has not closed: lines without nginx's header are
    /// its own.
    continuing: bool,
    /// The app cause its lines gave so far, counted once its last line names the vhost.
    pending: Option<AppCause>,
}

impl NginxError {
    pub fn parse<S: Sink>(&mut self, line: &[u8], sink: &mut S) -> Verdict {
        let Some(msg) = message(line) else {
            if !self.continuing {
                return Verdict::Unrecognised;
            }
            self.stderr_continues(line, sink);
            return Verdict::Known;
        };
        // A new entry: one cut short (nginx stops at 2048 bytes) counts without its vhost.
        self.end_of_input(sink);
        if let Some(text) = msg.strip_prefix(b"FastCGI sent in stderr: \"") {
            self.stderr(text, sink);
            return Verdict::Known;
        }
        parse_message(msg, sink);
        Verdict::Known
    }

    /// Count the entry still waiting for its last line, without a vhost.
    pub fn end_of_input<S: Sink>(&mut self, sink: &mut S) {
        self.continuing = false;
        if let Some(cause) = self.pending.take() {
            sink.app_error(cause, b"-");
        }
    }

    fn stderr<S: Sink>(&mut self, text: &[u8], sink: &mut S) {
        match stderr_end(text) {
            Some(end) => {
                if let Some(cause) = request_cause(&text[..end]) {
                    sink.app_error(cause, server(&text[end..]));
                }
            }
            None => {
                self.continuing = true;
                self.pending = request_cause(text);
            }
        }
    }

    fn stderr_continues<S: Sink>(&mut self, line: &[u8], sink: &mut S) {
        let end = stderr_end(line);
        let cause = request_cause(&line[..end.unwrap_or(line.len())]);
        self.pending = either_cause(self.pending, cause);
        if let Some(end) = end {
            self.continuing = false;
            if let Some(cause) = self.pending.take() {
                sink.app_error(cause, server(&line[end..]));
            }
        }
    }
}

/// Where the quoted stderr text ends in `text`, if it does.
fn stderr_end(text: &[u8]) -> Option<usize> {
    STDERR_END.iter().filter_map(|f| f.find(text)).min()
}

fn parse_message<S: Sink>(msg: &[u8], sink: &mut S) {
    match meaning(msg) {
        Meaning::Failure(cause) => {
            let (vhost, upstream) = context(msg, cause);
            sink.error(cause, vhost, upstream);
        }
        Meaning::Event(event) => sink.event(event),
        Meaning::Nothing => {}
    }
}

/// The text after `YYYY/MM/DD HH:MM:SS [level] PID#TID: [*CID ]`, or None if the line
/// lacks that header.
fn message(line: &[u8]) -> Option<&[u8]> {
    if line.len() < 26 || line[4] != b'/' || line[7] != b'/' || line[10] != b' ' || line[13] != b':'
    {
        return None;
    }
    if line[19] != b' ' || line[20] != b'[' {
        return None;
    }
    let close = 21 + memchr::memchr(b']', &line[21..line.len().min(32)])?;
    let mut rest = line[close + 1..].strip_prefix(b" ")?;
    let pid_len = rest.iter().position(|b| !b.is_ascii_digit())?;
    rest = rest[pid_len..].strip_prefix(b"#")?;
    let tid_len = rest.iter().position(|b| !b.is_ascii_digit())?;
    rest = rest[tid_len..].strip_prefix(b": ")?;
    if let Some(cid) = rest.strip_prefix(b"*") {
        let n = cid.iter().position(|b| !b.is_ascii_digit())?;
        rest = cid[n..].strip_prefix(b" ")?;
    }
    Some(rest)
}

/// The `while <action>` of a message, up to its `, client:` context.
fn action(msg: &[u8]) -> &[u8] {
    let Some(at) = WHILE.find(msg) else {
        return b"";
    };
    let tail = &msg[at + 7..];
    match CLIENT.find(tail) {
        Some(end) => &tail[..end],
        None => tail,
    }
}

fn on_upstream(msg: &[u8]) -> bool {
    action(msg).ends_with(b"upstream")
}

fn meaning(msg: &[u8]) -> Meaning {
    if let Some(event) = event(msg) {
        return Meaning::Event(event);
    }
    failure(msg).map_or(Meaning::Nothing, Meaning::Failure)
}

/// The master's lifecycle notices.
fn event(msg: &[u8]) -> Option<Event> {
    if let Some(r) = msg.strip_prefix(b"signal ") {
        // SIGHUP reconfigures, TERM/INT/QUIT stop; SIGCHLD, USR1 (reopen) change nothing.
        if r.starts_with(b"1 (SIGHUP) received") {
            return Some(Event::Reload);
        }
        let stop = [
            &b"15 (SIGTERM) received"[..],
            b"2 (SIGINT) received",
            b"3 (SIGQUIT) received",
        ];
        return stop
            .iter()
            .any(|s| r.starts_with(s))
            .then_some(Event::Shutdown);
    }
    if let Some(r) = msg.strip_prefix(b"start worker process ") {
        return r
            .first()
            .is_some_and(u8::is_ascii_digit)
            .then_some(Event::WorkerStart);
    }
    if let Some(r) = msg.strip_prefix(b"worker process ") {
        let n = r.iter().position(|b| !b.is_ascii_digit()).unwrap_or(0);
        return (n > 0 && r[n..].starts_with(b" exited")).then_some(Event::WorkerExit);
    }
    // Printed once when the master starts (not on reload).
    msg.starts_with(b"nginx/").then_some(Event::Restart)
}

fn failure(msg: &[u8]) -> Option<Cause> {
    prefixed(msg).or_else(|| {
        // `<name> could not be resolved (3: Host not found)`: the name is the first word.
        let space = memchr::memchr(b' ', msg)?;
        msg[space..]
            .starts_with(b" could not be resolved (")
            .then_some(Cause::Dns)
    })
}

/// Dispatch on the first byte so unremarkable lines cost a comparison or two.
fn prefixed(msg: &[u8]) -> Option<Cause> {
    match *msg.first()? {
        b'c' => {
            let r = if let Some(r) = msg.strip_prefix(b"connect() failed (") {
                r
            } else {
                let r = msg.strip_prefix(b"connect() to unix:")?;
                &r[FAILED.find(r)? + 9..]
            };
            on_upstream(msg).then(|| Cause::from_connect_errno(errno(r)))
        }
        b'u' => {
            let r = msg.strip_prefix(b"upstream ")?;
            if r.starts_with(b"timed out (") {
                // The TLS handshake runs on the connect timer too.
                let connecting = matches!(
                    action(msg),
                    b"connecting to upstream" | b"SSL handshaking to upstream"
                );
                Some(if connecting {
                    Cause::ConnectTimeout
                } else {
                    Cause::Timeout
                })
            } else if r.starts_with(b"prematurely closed ") {
                Some(Cause::PrematureClose)
            } else if r.starts_with(b"sent too big header") {
                Some(Cause::HeaderTooBig)
            } else if r.starts_with(b"sent ") {
                Some(Cause::InvalidResponse)
            } else if r.starts_with(b"SSL certificate ") {
                on_upstream(msg).then_some(Cause::SslHandshake)
            } else {
                None // "upstream server temporarily disabled": a consequence, not a failure
            }
        }
        b'n' => {
            if msg.starts_with(b"no live upstreams") {
                Some(Cause::NoLiveUpstreams)
            } else if msg.starts_with(b"no resolver defined to resolve ") {
                Some(Cause::Dns)
            } else {
                None
            }
        }
        b'S' | b'p'
            if msg.starts_with(b"SSL_do_handshake() failed")
                || msg.starts_with(b"peer closed connection in SSL handshake") =>
        {
            on_upstream(msg).then_some(Cause::SslHandshake)
        }
        b'r' | b's' | b'w' | b'S' if io_call(msg) => {
            let r = &msg[FAILED.find(msg)? + 9..];
            match errno(r) {
                104 | 32 if on_upstream(msg) => Some(Cause::Reset),
                110 if on_upstream(msg) => Some(Cause::Timeout),
                _ => None,
            }
        }
        // A dry run rejects nothing, so it is not counted.
        b'l' => (msg.starts_with(b"limiting requests, excess: ")
            || msg.starts_with(b"limiting connections by zone "))
        .then_some(Cause::RateLimited),
        _ => None,
    }
}

/// `recv() failed (`, `writev() failed (`, ...: the I/O calls nginx names in its errors.
fn io_call(msg: &[u8]) -> bool {
    const CALLS: [&[u8]; 8] = [
        b"recv()",
        b"readv()",
        b"send()",
        b"writev()",
        b"sendfile()",
        b"SSL_read()",
        b"SSL_write()",
        b"sendmsg()",
    ];
    CALLS.iter().any(|c| msg.starts_with(c))
}

/// The number at the start of `111: Connection refused)`.
fn errno(r: &[u8]) -> u32 {
    r.iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0u32, |n, &b| {
            n.saturating_mul(10).saturating_add(u32::from(b - b'0'))
        })
}

/// The vhost of a message's context (`, server: `), `-` when it names none.
fn server(msg: &[u8]) -> &[u8] {
    let vhost = match SERVER.find(msg) {
        Some(at) => {
            let v = &msg[at + 10..];
            &v[..memchr::memchr(b',', v).unwrap_or(v.len())]
        }
        None => b"-",
    };
    if vhost.is_empty() { b"-" } else { vhost }
}

/// vhost (`server:`) and upstream (`upstream:` normalised; the resolver's name for DNS).
fn context(msg: &[u8], cause: Cause) -> (&[u8], &[u8]) {
    let upstream = match UPSTREAM.find(msg) {
        Some(at) => {
            let v = &msg[at + 13..];
            normalise_upstream(&v[..memchr::memchr(b'"', v).unwrap_or(v.len())])
        }
        None if cause == Cause::Dns => dns_name(msg),
        None => b"-",
    };
    (server(msg), upstream)
}

fn dns_name(msg: &[u8]) -> &[u8] {
    if let Some(r) = msg.strip_prefix(b"no resolver defined to resolve ") {
        return &r[..r
            .iter()
            .position(|&b| b == b',' || b == b' ')
            .unwrap_or(r.len())];
    }
    &msg[..memchr::memchr(b' ', msg).unwrap_or(0)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::sink::recorder::Recorder;

    const HEAD: &str = "2026/11/21 23:57:38 [error] 15828#15828: *1 ";

    fn one(line: &str) -> (Verdict, Recorder) {
        let mut r = Recorder::default();
        let v = NginxError::default().parse(line.as_bytes(), &mut r);
        (v, r)
    }

    #[test]
    fn causes_from_real_lines() {
        let table: &[(&str, &str, &str, &str)] = &[
            (
                "connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: app.example.test, request: \"GET /refused HTTP/1.1\", upstream: \"http://127.0.0.1:9/refused\", host: \"app.example.test\", referrer: \"http://ref.test/\"",
                "connect_refused",
                "app.example.test",
                "127.0.0.1:9",
            ),
            (
                "connect() to unix:/tmp/lab/missing.sock failed (2: No such file or directory) while connecting to upstream, client: 127.0.0.1, server: php.example.test, request: \"GET /missing HTTP/1.1\", upstream: \"fastcgi://unix:/tmp/lab/missing.sock:\", host: \"php.example.test\"",
                "socket_missing",
                "php.example.test",
                "unix:/tmp/lab/missing.sock",
            ),
            (
                "connect() to unix:/run/php/x.sock failed (13: Permission denied) while connecting to upstream, client: 1.2.3.4, server: a, request: \"GET / HTTP/1.1\", upstream: \"fastcgi://unix:/run/php/x.sock:\", host: \"a\"",
                "socket_permission",
                "a",
                "unix:/run/php/x.sock",
            ),
            (
                "connect() to unix:/run/php/x.sock failed (11: Resource temporarily unavailable) while connecting to upstream, client: 1.2.3.4, server: a, request: \"GET / HTTP/1.1\", upstream: \"fastcgi://unix:/run/php/x.sock:\"",
                "backlog_full",
                "a",
                "unix:/run/php/x.sock",
            ),
            (
                "upstream timed out (110: Connection timed out) while connecting to upstream, client: 1.2.3.4, server: a, request: \"GET / HTTP/1.1\", upstream: \"http://10.0.0.5:8080/\"",
                "connect_timeout",
                "a",
                "10.0.0.5:8080",
            ),
            (
                "upstream timed out (110: Connection timed out) while reading response header from upstream, client: 1.2.3.4, server: a, request: \"GET / HTTP/1.1\", upstream: \"fastcgi://unix:/run/php/x.sock\"",
                "timeout",
                "a",
                "unix:/run/php/x.sock",
            ),
            (
                "recv() failed (104: Connection reset by peer) while reading response header from upstream, client: 1.2.3.4, server: a, request: \"GET / HTTP/1.1\", upstream: \"http://[::1]:3000/x\"",
                "reset",
                "a",
                "[::1]:3000",
            ),
            (
                "writev() failed (32: Broken pipe) while sending request to upstream, client: 1.2.3.4, server: a, upstream: \"http://10.0.0.5:8080/\"",
                "reset",
                "a",
                "10.0.0.5:8080",
            ),
            (
                "upstream prematurely closed connection while reading response header from upstream, client: 1.2.3.4, server: a, upstream: \"http://10.0.0.5:8080/\"",
                "premature_close",
                "a",
                "10.0.0.5:8080",
            ),
            (
                "upstream prematurely closed FastCGI stdout while reading response header from upstream, client: 1.2.3.4, server: a, upstream: \"fastcgi://unix:/run/a.sock:\"",
                "premature_close",
                "a",
                "unix:/run/a.sock",
            ),
            (
                "no live upstreams while connecting to upstream, client: 127.0.0.1, server: a, request: \"GET /x HTTP/1.1\", upstream: \"http://two_dead/x\", host: \"a\"",
                "no_live_upstreams",
                "a",
                "two_dead",
            ),
            (
                "upstream sent too big header while reading response header from upstream, client: 1.2.3.4, server: a, upstream: \"http://10.0.0.5:8080/\"",
                "header_too_big",
                "a",
                "10.0.0.5:8080",
            ),
            (
                "upstream sent no valid HTTP/1.0 header while reading response header from upstream, client: 1.2.3.4, server: a, upstream: \"http://10.0.0.5:8080/\"",
                "invalid_response",
                "a",
                "10.0.0.5:8080",
            ),
            (
                "SSL_do_handshake() failed (SSL: error:0A00010B:SSL routines::wrong version number) while SSL handshaking to upstream, client: 1.2.3.4, server: a, upstream: \"https://10.0.0.5:8443/\"",
                "ssl_handshake",
                "a",
                "10.0.0.5:8443",
            ),
            (
                "upstream SSL certificate verify error: (18:self-signed certificate) while SSL handshaking to upstream, client: 1.2.3.4, server: a, upstream: \"https://10.0.0.5:8443/\"",
                "ssl_handshake",
                "a",
                "10.0.0.5:8443",
            ),
            (
                "no resolver defined to resolve backend.invalid, client: 1.2.3.4, server: a, request: \"GET / HTTP/1.1\"",
                "dns",
                "a",
                "backend.invalid",
            ),
            (
                "backend.invalid could not be resolved (3: Host not found), client: 1.2.3.4, server: a",
                "dns",
                "a",
                "backend.invalid",
            ),
            (
                "limiting requests, excess: 1.000 by zone \"one\", client: 127.0.0.1, server: app.example.test, request: \"GET /limited HTTP/1.1\", host: \"app.example.test\"",
                "rate_limited",
                "app.example.test",
                "-",
            ),
        ];
        for (msg, cause, vhost, upstream) in table {
            let (v, r) = one(&format!("{HEAD}{msg}"));
            assert_eq!(v, Verdict::Known, "{msg}");
            assert_eq!(
                r.errors,
                vec![(cause.to_string(), vhost.to_string(), upstream.to_string())],
                "{msg}"
            );
        }
    }

    #[test]
    fn traps_count_nothing() {
        let traps = [
            "epoll_wait() reported that client prematurely closed connection, so upstream connection is closed too while sending request to upstream, client: 1.2.3.4, server: a, upstream: \"http://10.0.0.5:8080/\"",
            "\"/var/www/html/x/index.html\" is not found (2: No such file or directory), client: 1.2.3.4, server: a, request: \"GET /x/ HTTP/1.1\"",
            "open() \"/var/www/html/favicon.ico\" failed (2: No such file or directory), client: 1.2.3.4, server: a",
            "FastCGI sent in stderr: \"PHP message: upstream timed out (110: x) while connecting to upstream\" while reading response header from upstream, client: 1.2.3.4, server: a, upstream: \"fastcgi://unix:/run/a.sock:\"",
            "upstream server temporarily disabled while connecting to upstream, client: 1.2.3.4, server: a, upstream: \"http://10.0.0.5:8080/\"",
            "writev() failed (104: Connection reset by peer) while sending to client, client: 1.2.3.4, server: a",
            "limiting requests, dry run, excess: 1.000 by zone \"one\", client: 1.2.3.4, server: a",
            "delaying request, excess: 0.500, by zone \"one\", client: 1.2.3.4, server: a",
            "client 192.0.2.1 closed keepalive connection",
            "signal 17 (SIGCHLD) received from 123",
            "start worker processes",
        ];
        for t in traps {
            let (v, r) = one(&format!("{HEAD}{t}"));
            assert_eq!(v, Verdict::Known, "{t}");
            assert!(r.errors.is_empty() && r.events.is_empty(), "{t}: {r:?}");
        }
    }

    #[test]
    fn lifecycle_events() {
        let table = [
            (
                "signal 1 (SIGHUP) received from 4242, reconfiguring",
                "reload",
            ),
            ("signal 15 (SIGTERM) received from 1, exiting", "shutdown"),
            (
                "signal 3 (SIGQUIT) received from 1, shutting down",
                "shutdown",
            ),
            ("start worker process 15830", "worker_start"),
            ("worker process 15830 exited with code 0", "worker_exit"),
            ("nginx/1.22.1", "restart"),
        ];
        for (msg, event) in table {
            let (_, r) = one(&format!("2026/11/21 23:57:38 [notice] 15828#15828: {msg}"));
            assert_eq!(r.events, vec![event.to_string()], "{msg}");
        }
    }

    #[test]
    fn lines_without_the_header_are_unrecognised() {
        for l in [
            "",
            "hello",
            "2026/11/21 23:57:38 error 1#1: x",
            "2026/11/21 23:57:38 [error] x#1: y",
            "\0\0\0",
        ] {
            assert_eq!(one(l).0, Verdict::Unrecognised, "{l:?}");
        }
    }

    /// Seven requests as nginx 1.22 logged PHP-FPM 8.2's stderr for them (two with stack
    /// traces, one with warnings only, one cut short by nginx's 2048-byte limit).
    const REAL_STDERR: &str = r#"2026/12/01 22:02:31 [error] 28118#28118: *1 FastCGI sent in stderr: "PHP message: PHP Fatal error:  Uncaught mysqli_sql_exception: Connection refused in /tmp/appexp/mysqli.php:2
Stack trace:
#0 /tmp/appexp/mysqli.php(2): mysqli->__construct()
#1 {main}
  thrown in /tmp/appexp/mysqli.php on line 2" while reading response header from upstream, client: 127.0.0.1, server: app.test, request: "GET /mysqli.php HTTP/1.1", upstream: "fastcgi://127.0.0.1:19090", host: "127.0.0.1:19080"
2026/12/01 22:02:31 [info] 28118#28118: *1 client 127.0.0.1 closed keepalive connection
2026/12/01 22:02:32 [error] 28118#28118: *7 FastCGI sent in stderr: "PHP message: PHP Fatal error:  Allowed memory size of 4194304 bytes exhausted (tried to allocate 2097152 bytes) in /tmp/appexp/memory.php on line 4" while reading response header from upstream, client: 127.0.0.1, server: app.test, request: "GET /memory.php HTTP/1.1", upstream: "fastcgi://127.0.0.1:19090", host: "127.0.0.1:19080"
2026/12/01 22:02:34 [error] 28118#28118: *9 FastCGI sent in stderr: "PHP message: PHP Fatal error:  Maximum execution time of 1 second exceeded in /tmp/appexp/timeout.php on line 4" while reading response header from upstream, client: 127.0.0.1, server: other.test, request: "GET /timeout.php HTTP/1.1", upstream: "fastcgi://127.0.0.1:19090", host: "127.0.0.1:19080"
2026/12/01 22:02:34 [error] 28118#28118: *11 FastCGI sent in stderr: "PHP message: PHP Fatal error:  Uncaught Error: Call to undefined function undefined_function_here() in /tmp/appexp/fatal.php:2
Stack trace:
#0 /tmp/appexp/fatal.php(3): f()
#1 {main}
  thrown in /tmp/appexp/fatal.php on line 2" while reading response header from upstream, client: 127.0.0.1, server: app.test, request: "GET /fatal.php HTTP/1.1", upstream: "fastcgi://127.0.0.1:19090", host: "127.0.0.1:19080"
2026/12/01 22:02:34 [error] 28118#28118: *13 FastCGI sent in stderr: "PHP message: PHP Warning:  just a warning in /tmp/appexp/warn.php on line 2; PHP message: PHP Warning:  Undefined variable $undefined_var in /tmp/appexp/warn.php on line 3" while reading response header from upstream, client: 127.0.0.1, server: app.test, request: "GET /warn.php HTTP/1.1", upstream: "fastcgi://127.0.0.1:19090", host: "127.0.0.1:19080"
2026/12/01 22:02:35 [error] 28118#28118: *15 FastCGI sent in stderr: "PHP message: PHP Warning:  x in /w/a.php on line 2; PHP message: PHP Fatal error:  Uncaught PDOException: SQLSTATE[HY000] [2002] Connection refused in /w/a.php:3
Stack trace:
#0 /w/a.php(3): PDO->__construct()
#1 {main}
2026/12/01 22:02:36 [error] 28118#28118: *17 recv() failed (104: Connection reset by peer) while reading response header from upstream, client: 127.0.0.1, server: app.test, request: "GET /killself.php HTTP/1.1", upstream: "fastcgi://127.0.0.1:19090", host: "127.0.0.1:19080"
"#;

    #[test]
    fn php_fatal_errors_count_once_per_entry_with_their_vhost() {
        let mut p = NginxError::default();
        let mut r = Recorder::default();
        for line in REAL_STDERR.lines() {
            assert_eq!(p.parse(line.as_bytes(), &mut r), Verdict::Known, "{line}");
        }
        let apps: Vec<(&str, &str)> = r
            .apps
            .iter()
            .map(|(c, v)| (c.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            apps,
            [
                ("database", "app.test"),
                ("memory_exhausted", "app.test"),
                ("execution_timeout", "other.test"),
                ("php_fatal", "app.test"),
                // Cut short: counted when the next entry starts, without its vhost.
                ("database", "-"),
            ]
        );
        assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    }

    #[test]
    fn an_entry_waiting_for_its_last_line_counts_at_the_end_of_input() {
        let mut p = NginxError::default();
        let mut r = Recorder::default();
        let first = format!(
            "{HEAD}FastCGI sent in stderr: \"PHP message: PHP Fatal error:  Uncaught Error: x in /w/a.php:2"
        );
        p.parse(first.as_bytes(), &mut r);
        assert_eq!(p.parse(b"Stack trace:", &mut r), Verdict::Known);
        assert!(r.apps.is_empty());
        p.end_of_input(&mut r);
        p.end_of_input(&mut r);
        assert_eq!(r.apps, [("php_fatal".to_string(), "-".to_string())]);
        // Done with it: a line without the header is nobody's again.
        assert_eq!(p.parse(b"#0 {main}", &mut r), Verdict::Unrecognised);
    }
}
