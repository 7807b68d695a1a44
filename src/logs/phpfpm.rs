//! PHP-FPM's own log (`error_log` of php-fpm.conf): pool restarts and saturation warnings.

use super::cause::Event;
use super::sink::{Sink, Verdict};

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
        if n > 0 && r[n..].starts_with(b" started") {
            Some(Event::WorkerStart)
        } else if n > 0 && r[n..].starts_with(b" exited") {
            Some(Event::WorkerExit)
        } else {
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
}
