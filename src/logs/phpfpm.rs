//! PHP-FPM's own log (`error_log` of php-fpm.conf): pool restarts and saturation warnings;
//! children that crashed or overran `request_terminate_timeout`; and, with
//! `catch_workers_output`, PHP's own messages, one FPM entry per physical line (a stack
//! trace is several entries, of which only the fatal error's first line counts).

use super::cause::{AppCause, Event};
use super::php_error::request_cause;
use super::sink::{Sink, Verdict};
use memchr::memmem::Finder;
use std::sync::LazyLock;

static TIMED_OUT: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b") execution timed out ("));

/// Signals a child dies of when it crashed, not when it was told to stop (SIGTERM after
/// `request_terminate_timeout`, SIGQUIT on reload) or killed from outside (SIGKILL: the
/// OOM killer, `kill -9`, FPM's own `process_control_timeout` cannot be told apart).
const CRASH_SIGNALS: [&[u8]; 6] = [b"4 ", b"6 ", b"7 ", b"8 ", b"11 ", b"31 "];

pub fn parse<S: Sink>(line: &[u8], sink: &mut S) -> Verdict {
    // [22-Nov-2026 00:00:00] WARNING: [pool www] server reached pm.max_children setting (5), ...
    let mut rest = line;
    if let Some(r) = rest.strip_prefix(b"[") {
        let Some(close) = memchr::memchr(b']', r) else {
            return Verdict::Unrecognised;
        };
        rest = r[close + 1..].strip_prefix(b" ").unwrap_or(&r[close + 1..]);
    }
    let Some(colon) = memchr::memchr(b':', rest) else {
        return Verdict::Unrecognised;
    };
    let level = &rest[..colon];
    const LEVELS: [&[u8]; 5] = [b"DEBUG", b"NOTICE", b"WARNING", b"ERROR", b"ALERT"];
    if !LEVELS.contains(&level) {
        return Verdict::Unrecognised;
    }
    let mut msg = rest[colon + 1..]
        .strip_prefix(b" ")
        .unwrap_or(&rest[colon + 1..]);
    if let Some(r) = msg.strip_prefix(b"[pool ") {
        let close = memchr::memchr(b']', r).unwrap_or(r.len().saturating_sub(1));
        msg = r.get(close + 2..).unwrap_or(b"");
    }
    let event = if msg.starts_with(b"server reached pm.max_children")
        || msg.starts_with(b"server reached max_children")
    {
        Some(Event::MaxChildrenReached)
    } else if msg.starts_with(b"ready to handle connections") {
        Some(Event::PoolRestart)
    } else if msg.starts_with(b"Reloading in progress") {
        Some(Event::Reload)
    } else if msg.starts_with(b"fpm is running, pid ") {
        Some(Event::Restart)
    } else if msg.starts_with(b"exiting, bye-bye") {
        Some(Event::Shutdown)
    } else if let Some(r) = msg.strip_prefix(b"child ") {
        let n = r.iter().position(|b| !b.is_ascii_digit()).unwrap_or(0);
        let r = &r[n..];
        if n == 0 {
            None
        } else if r.starts_with(b" started") {
            Some(Event::WorkerStart)
        } else if let Some(how) = r.strip_prefix(b" exited") {
            let signal = how.strip_prefix(b" on signal ");
            if signal.is_some_and(|s| CRASH_SIGNALS.iter().any(|c| s.starts_with(c))) {
                sink.app_error(AppCause::WorkerCrash, b"-");
            }
            Some(Event::WorkerExit)
        } else {
            if let Some(said) = r.strip_prefix(b" said into stderr: ") {
                if let Some(cause) = request_cause(said) {
                    sink.app_error(cause, b"-");
                }
            } else if r.starts_with(b", script ")
                && TIMED_OUT.find(r).is_some()
                && r.ends_with(b"terminating")
            {
                sink.app_error(AppCause::ExecutionTimeout, b"-");
            }
            None
        }
    } else {
        None
    };
    if let Some(e) = event {
        sink.event(e);
    }
    Verdict::Known
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::sink::recorder::Recorder;

    #[test]
    fn fpm_lines() {
        let table = [
            (
                "[22-Nov-2026 00:00:00] WARNING: [pool www] server reached pm.max_children setting (5), consider raising it",
                Some("max_children_reached"),
            ),
            (
                "[22-Nov-2026 00:00:00] NOTICE: ready to handle connections",
                Some("pool_restart"),
            ),
            (
                "[22-Nov-2026 00:00:00] NOTICE: Reloading in progress ...",
                Some("reload"),
            ),
            (
                "[22-Nov-2026 00:00:00] NOTICE: fpm is running, pid 4242",
                Some("restart"),
            ),
            (
                "[22-Nov-2026 00:00:00] NOTICE: exiting, bye-bye!",
                Some("shutdown"),
            ),
            (
                "[22-Nov-2026 00:00:00] NOTICE: [pool www] child 4243 started",
                Some("worker_start"),
            ),
            (
                "[22-Nov-2026 00:00:00] WARNING: [pool www] child 4243 exited on signal 9 (SIGKILL) after 12.5 seconds from start",
                Some("worker_exit"),
            ),
            (
                "[22-Nov-2026 00:00:00] NOTICE: using inherited socket fd=7",
                None,
            ),
            ("NOTICE: ready to handle connections", Some("pool_restart")),
        ];
        for (line, want) in table {
            let mut r = Recorder::default();
            assert_eq!(parse(line.as_bytes(), &mut r), Verdict::Known, "{line}");
            assert_eq!(
                r.events,
                want.into_iter().map(String::from).collect::<Vec<_>>(),
                "{line}"
            );
        }
        for l in ["", "[", "[x] nothing", "hello: world"] {
            assert_eq!(
                parse(l.as_bytes(), &mut Recorder::default()),
                Verdict::Unrecognised,
                "{l}"
            );
        }
    }

    /// A pool's log as PHP-FPM 8.2 wrote it (catch_workers_output = yes) for a database
    /// refusal with its stack trace, memory and time limits, a warning, a child killed by
    /// SIGSEGV and one terminated by request_terminate_timeout.
    const REAL_LOG: &str = r##"[01-Dec-2026 22:02:31] WARNING: [pool www] child 28120 said into stderr: "NOTICE: PHP message: PHP Fatal error:  Uncaught mysqli_sql_exception: Connection refused in /tmp/appexp/mysqli.php:2"
[01-Dec-2026 22:02:31] WARNING: [pool www] child 28120 said into stderr: "Stack trace:"
[01-Dec-2026 22:02:31] WARNING: [pool www] child 28120 said into stderr: "#0 /tmp/appexp/mysqli.php(2): mysqli->__construct()"
[01-Dec-2026 22:02:31] WARNING: [pool www] child 28120 said into stderr: "#1 {main}"
[01-Dec-2026 22:02:31] WARNING: [pool www] child 28120 said into stderr: "  thrown in /tmp/appexp/mysqli.php on line 2"
[01-Dec-2026 22:02:32] WARNING: [pool www] child 28119 said into stderr: "NOTICE: PHP message: PHP Fatal error:  Allowed memory size of 4194304 bytes exhausted (tried to allocate 2097152 bytes) in /tmp/appexp/memory.php on line 4"
[01-Dec-2026 22:02:34] WARNING: [pool www] child 28120 said into stderr: "NOTICE: PHP message: PHP Fatal error:  Maximum execution time of 1 second exceeded in /tmp/appexp/timeout.php on line 4"
[01-Dec-2026 22:02:34] WARNING: [pool www] child 28119 said into stderr: "NOTICE: PHP message: PHP Warning:  just a warning in /tmp/appexp/warn.php on line 2"
[01-Dec-2026 22:02:35] WARNING: [pool www] child 28119 exited on signal 11 (SIGSEGV) after 4.815681 seconds from start
[01-Dec-2026 22:02:35] NOTICE: [pool www] child 28303 started
[01-Dec-2026 22:02:38] WARNING: [pool www] child 28120, script '/tmp/appexp/slow.php' (request: "GET ") execution timed out (3.167137 sec), terminating
[01-Dec-2026 22:02:38] WARNING: [pool www] child 28120 exited on signal 15 (SIGTERM) after 8.035457 seconds from start
[01-Dec-2026 22:02:39] WARNING: [pool www] child 28121 exited on signal 6 (SIGABRT - core dumped) after 1.5 seconds from start
[01-Dec-2026 22:02:40] WARNING: [pool www] child 28122 exited on signal 9 (SIGKILL) after 1.5 seconds from start
"##;

    #[test]
    fn app_errors_from_a_real_pool_log() {
        let mut r = Recorder::default();
        for line in REAL_LOG.lines() {
            assert_eq!(parse(line.as_bytes(), &mut r), Verdict::Known, "{line}");
        }
        let causes: Vec<&str> = r.apps.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(
            causes,
            [
                "database",
                "memory_exhausted",
                "execution_timeout",
                "worker_crash",
                "execution_timeout",
                "worker_crash"
            ]
        );
        assert_eq!(
            r.events.iter().filter(|e| *e == "worker_exit").count(),
            4,
            "every exit stays an event"
        );
    }
}
