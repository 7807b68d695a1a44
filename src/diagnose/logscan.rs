//! The last minutes of the configured logs: the end of each file (a bounded number of
//! bytes), lines older than the window dropped when their time can be read, every line run
//! through the log's own parser, and what failed grouped by cause, vhost and upstream with
//! a few of the real lines as evidence.

use crate::base::clock::{days_from_civil, local_utc_offset};
use crate::logs::cause::{AppCause, Cause, Event};
use crate::logs::sink::{Access, Sink, normalise_upstream, upstream_items};
use crate::logs::{LogConfig, Parser};
use serde::Serialize;
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How much of the logs one diagnosis reads.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Read at most this many bytes from the end of each file.
    pub bytes_per_file: u64,
    /// Of a glob, the most recently written files only.
    pub files_per_log: usize,
    /// Lines older than this (when their time is readable) are left out.
    pub window: Duration,
}

/// Real lines quoted per group, the most recent ones.
const QUOTED_LINES: usize = 3;
/// Characters of one quoted line.
const QUOTED_CHARS: usize = 400;
/// Distinct groups kept; a flood of distinct upstreams folds into the first ones.
const MAX_GROUPS: usize = 64;

/// Failures of one cause, vhost and upstream in one log.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorGroup {
    pub log: String,
    #[serde(serialize_with = "as_label")]
    pub cause: Cause,
    pub vhost: String,
    pub upstream: String,
    pub count: u64,
    /// Unix seconds of the latest line, when readable.
    pub last_seen: Option<i64>,
    pub lines: Vec<String>,
}

/// 5xx answers in an access log, by vhost, status and the upstream that answered last.
#[derive(Clone, Debug, Serialize)]
pub struct AccessGroup {
    pub log: String,
    pub vhost: String,
    pub status: u16,
    pub upstream: String,
    pub count: u64,
    pub lines: Vec<String>,
}

/// A reload, restart, worker exit... seen in the window: what changed just before.
#[derive(Clone, Debug, Serialize)]
pub struct EventSeen {
    pub log: String,
    #[serde(serialize_with = "as_label")]
    pub event: Event,
    pub at: Option<i64>,
    pub line: String,
}

/// What the logs said in the window.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LogSummary {
    /// Most frequent first.
    pub errors: Vec<ErrorGroup>,
    pub access_5xx: Vec<AccessGroup>,
    pub events: Vec<EventSeen>,
    /// What was read: `name: path (N lines in the window)`, and what could not be.
    pub read: Vec<String>,
}

fn as_label<S: serde::Serializer, T: Label>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(value.label())
}

/// A vocabulary value written as its label string.
pub trait Label {
    fn label(&self) -> &'static str;
}

impl Label for Cause {
    fn label(&self) -> &'static str {
        self.as_str()
    }
}

impl Label for Event {
    fn label(&self) -> &'static str {
        self.as_str()
    }
}

/// Read and classify the end of every log in `logs`. Blocking file I/O.
pub fn scan(logs: &[LogConfig], limits: Limits, now: i64) -> LogSummary {
    let mut summary = Summariser::default();
    let oldest = now - limits.window.as_secs() as i64;
    let offset = local_utc_offset();
    for log in logs {
        let mut parser = match Parser::new(log) {
            Ok(p) => p,
            Err(e) => {
                summary
                    .read
                    .push(format!("{}: not read: {e:#}", log.name()));
                continue;
            }
        };
        for path in newest_files(&log.path, limits.files_per_log) {
            let text = match read_end(&path, limits.bytes_per_file) {
                Ok(text) => text,
                Err(e) => {
                    summary
                        .read
                        .push(format!("{}: {}: {e}", log.name(), path.display()));
                    continue;
                }
            };
            let mut in_window = 0;
            for line in text.split(|&b| b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.is_empty() {
                    continue;
                }
                let at = line_time(line, offset);
                if at.is_some_and(|t| t < oldest) {
                    continue;
                }
                in_window += 1;
                let mut sink = LineSink::default();
                parser.parse(line, &mut sink);
                summary.add(log.name(), line, at, sink);
            }
            summary.read.push(format!(
                "{}: {} ({in_window} lines in the last {}s, from the last {} bytes at most)",
                log.name(),
                path.display(),
                limits.window.as_secs(),
                limits.bytes_per_file
            ));
        }
    }
    summary.finish()
}

/// The files of `pattern`, most recently modified first, at most `max`.
fn newest_files(pattern: &str, max: usize) -> Vec<PathBuf> {
    if !pattern.contains(['*', '?', '[']) {
        return vec![PathBuf::from(pattern)];
    }
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = glob::glob(pattern)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|p| Some((p.metadata().ok()?.modified().ok()?, p)))
        .collect();
    found.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
    found.into_iter().take(max).map(|(_, p)| p).collect()
}

/// The last `max` bytes of the file, starting at a line boundary.
fn read_end(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let start = len.saturating_sub(max);
    file.seek(SeekFrom::Start(start))?;
    let mut text = Vec::new();
    file.take(max).read_to_end(&mut text)?;
    if start > 0 {
        // The first line was cut by the bound: drop it.
        let cut = memchr::memchr(b'\n', &text).map_or(text.len(), |i| i + 1);
        text.drain(..cut);
    }
    Ok(text)
}

/// What the parser said about one line.
#[derive(Default)]
struct LineSink {
    errors: Vec<(Cause, String, String)>,
    events: Vec<Event>,
    access_5xx: Option<(String, u16, String)>,
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl Sink for LineSink {
    fn error(&mut self, cause: Cause, vhost: &[u8], upstream: &[u8]) {
        self.errors.push((cause, text(vhost), text(upstream)));
    }
    fn event(&mut self, event: Event) {
        self.events.push(event);
    }
    /// The app's own words (PHP fatal errors, a database it cannot reach) are counted by
    /// the exporter (`gateway_app_errors_total`); the walk names an app cause from the error
    /// page it got (`judge_probe`), not yet from these lines.
    fn app_error(&mut self, _cause: AppCause, _vhost: &[u8]) {}
    fn access(&mut self, access: &Access<'_>) {
        if access.status >= 500 {
            let last = upstream_items(access.upstream_addr).last().unwrap_or(b"-");
            self.access_5xx = Some((
                text(access.vhost),
                access.status,
                text(normalise_upstream(last)),
            ));
        }
    }
}

#[derive(Default)]
struct Summariser {
    errors: HashMap<(String, &'static str, String, String), ErrorGroup>,
    access: HashMap<(String, String, u16, String), AccessGroup>,
    events: Vec<EventSeen>,
    read: Vec<String>,
}

fn quote(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    match text.char_indices().nth(QUOTED_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.into_owned(),
    }
}

fn keep_latest(lines: &mut Vec<String>, line: &[u8]) {
    if lines.len() == QUOTED_LINES {
        lines.remove(0);
    }
    lines.push(quote(line));
}

impl Summariser {
    fn add(&mut self, log: &str, line: &[u8], at: Option<i64>, sink: LineSink) {
        for (cause, vhost, upstream) in sink.errors {
            let key = (log.to_string(), cause.as_str(), vhost, upstream);
            if !self.errors.contains_key(&key) && self.errors.len() >= MAX_GROUPS {
                continue;
            }
            let group = self.errors.entry(key).or_insert_with_key(|k| ErrorGroup {
                log: k.0.clone(),
                cause,
                vhost: k.2.clone(),
                upstream: k.3.clone(),
                count: 0,
                last_seen: None,
                lines: Vec::new(),
            });
            group.count += 1;
            group.last_seen = at.or(group.last_seen);
            keep_latest(&mut group.lines, line);
        }
        if let Some((vhost, status, upstream)) = sink.access_5xx {
            let key = (log.to_string(), vhost, status, upstream);
            if self.access.contains_key(&key) || self.access.len() < MAX_GROUPS {
                let group = self.access.entry(key).or_insert_with_key(|k| AccessGroup {
                    log: k.0.clone(),
                    vhost: k.1.clone(),
                    status: k.2,
                    upstream: k.3.clone(),
                    count: 0,
                    lines: Vec::new(),
                });
                group.count += 1;
                keep_latest(&mut group.lines, line);
            }
        }
        for event in sink.events {
            if self.events.len() == MAX_GROUPS {
                self.events.remove(0);
            }
            self.events.push(EventSeen {
                log: log.to_string(),
                event,
                at,
                line: quote(line),
            });
        }
    }

    fn finish(self) -> LogSummary {
        let mut errors: Vec<ErrorGroup> = self.errors.into_values().collect();
        errors.sort_by(|a, b| b.count.cmp(&a.count).then(b.last_seen.cmp(&a.last_seen)));
        let mut access_5xx: Vec<AccessGroup> = self.access.into_values().collect();
        access_5xx.sort_by_key(|a| std::cmp::Reverse(a.count));
        LogSummary {
            errors,
            access_5xx,
            events: self.events,
            read: self.read,
        }
    }
}

/// Unix seconds of a log line's own time, for the formats that start with one (nginx's
/// error log, Apache's, PHP-FPM's, in local time) or carry one (the access log's
/// `[01/Dec/2026:10:00:00 +0100]`); None when there is none to read.
pub fn line_time(line: &[u8], local_offset: i64) -> Option<i64> {
    let head = &line[..line.len().min(512)];
    if let Some(t) = nginx_error_time(head) {
        return Some(t - local_offset);
    }
    if let Some(t) = bracketed_local_time(head) {
        return Some(t - local_offset);
    }
    access_time(head)
}

fn number(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

fn month(name: &[u8]) -> Option<i64> {
    const MONTHS: [&[u8]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    MONTHS.iter().position(|m| *m == name).map(|i| i as i64 + 1)
}

/// `HH:MM:SS` as seconds of the day.
fn clock(bytes: &[u8]) -> Option<i64> {
    if bytes.len() != 8 || bytes[2] != b':' || bytes[5] != b':' {
        return None;
    }
    let (h, m, s) = (
        number(&bytes[..2])?,
        number(&bytes[3..5])?,
        number(&bytes[6..])?,
    );
    (h < 24 && m < 60 && s <= 60).then_some(h * 3600 + m * 60 + s)
}

fn civil(year: i64, month: i64, day: i64, seconds: i64) -> Option<i64> {
    ((1..=12).contains(&month) && (1..=31).contains(&day))
        .then(|| days_from_civil(year, month, day) * 86400 + seconds)
}

/// `2026/12/01 10:00:00 ` at the start (nginx error log).
fn nginx_error_time(head: &[u8]) -> Option<i64> {
    let date = head.get(..19)?;
    if date[4] != b'/' || date[7] != b'/' || date[10] != b' ' {
        return None;
    }
    civil(
        number(&date[..4])?,
        number(&date[5..7])?,
        number(&date[8..10])?,
        clock(&date[11..19])?,
    )
}

/// `[01-Dec-2026 10:00:00]` (PHP-FPM) or `[Tue Dec 01 10:00:00.123456 2026]` (Apache) at
/// the start.
fn bracketed_local_time(head: &[u8]) -> Option<i64> {
    let inner = head.strip_prefix(b"[")?;
    let inner = &inner[..memchr::memchr(b']', inner)?];
    if inner.len() == 20 && inner[2] == b'-' && inner[6] == b'-' {
        return civil(
            number(&inner[7..11])?,
            month(&inner[3..6])?,
            number(&inner[..2])?,
            clock(&inner[12..20])?,
        );
    }
    let fields: Vec<&[u8]> = inner
        .split(|&b| b == b' ')
        .filter(|f| !f.is_empty())
        .collect();
    match fields[..] {
        [_weekday, mon, day, time, year] => civil(
            number(year)?,
            month(mon)?,
            number(day)?,
            clock(time.get(..8)?)?,
        ),
        _ => None,
    }
}

/// `[01/Dec/2026:10:00:00 +0100]` anywhere in the head (nginx, Apache access logs).
fn access_time(head: &[u8]) -> Option<i64> {
    let mut rest = head;
    while let Some(open) = memchr::memchr(b'[', rest) {
        rest = &rest[open + 1..];
        let stamp = rest.get(..26)?;
        if stamp[2] == b'/' && stamp[6] == b'/' && stamp[11] == b':' && stamp[20] == b' ' {
            let sign = match stamp[21] {
                b'+' => 1,
                b'-' => -1,
                _ => continue,
            };
            let zone = number(&stamp[22..24])? * 3600 + number(&stamp[24..26])? * 60;
            let local = civil(
                number(&stamp[7..11])?,
                month(&stamp[3..6])?,
                number(&stamp[..2])?,
                clock(&stamp[12..20])?,
            )?;
            return Some(local - sign * zone);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const T: i64 = 1_764_583_200; // 2025-12-01 10:00:00 UTC

    #[test]
    fn reads_the_time_of_each_format() {
        let table: &[(&str, Option<i64>)] = &[
            (
                "2025/12/01 10:00:00 [error] 7#7: *1 connect() failed",
                Some(T),
            ),
            (
                "[01-Dec-2025 10:00:00] WARNING: [pool www] server reached pm.max_children",
                Some(T),
            ),
            (
                "[Mon Dec 01 10:00:00.123456 2025] [proxy:error] [pid 9] AH00957: ...",
                Some(T),
            ),
            ("[Mon Dec  1 10:00:00 2025] [error] old Apache", Some(T)),
            (
                "1.2.3.4 - - [01/Dec/2025:11:00:00 +0100] \"GET / HTTP/1.1\" 502 157",
                Some(T),
            ),
            (
                "1.2.3.4 - - [01/Dec/2025:09:30:00 -0030] \"GET / HTTP/1.1\" 502 157",
                Some(T),
            ),
            ("<134>Dec  1 10:00:00 haproxy[1]: no year here", None),
            ("2025/13/01 10:00:00 [error] bad month", None),
            ("[01-Dec-2025 25:00:00] bad hour", None),
            ("", None),
            ("[", None),
        ];
        for (line, want) in table {
            assert_eq!(line_time(line.as_bytes(), 0), *want, "{line}");
        }
        // Local wall-clock formats are shifted by the zone; the access log carries its own.
        assert_eq!(line_time(b"2025/12/01 11:00:00 [error] x", 3600), Some(T));
        assert_eq!(
            line_time(b"x [01/Dec/2025:10:00:00 +0000] y", 3600),
            Some(T)
        );
    }

    fn nginx_log(dir: &Path, lines: &[String]) -> LogConfig {
        let path = dir.join("error.log");
        let mut f = std::fs::File::create(&path).unwrap();
        for l in lines {
            writeln!(f, "{l}").unwrap();
        }
        serde_saphyr::from_str(&format!(
            "{{path: {}, format: nginx_error, name: web}}",
            path.display()
        ))
        .unwrap()
    }

    fn refused(at: &str, n: u32, upstream: &str) -> String {
        format!(
            "{at} [error] 7#7: *{n} connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: shop, request: \"GET / HTTP/1.1\", upstream: \"http://{upstream}/\", host: \"shop\""
        )
    }

    fn stamp(t: i64) -> String {
        let days = t.div_euclid(86400);
        // Inverse of days_from_civil for the test's dates (Hinnant's civil_from_days).
        let z = days + 719468;
        let era = z.div_euclid(146097);
        let doe = z - era * 146097;
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        let s = t.rem_euclid(86400);
        format!(
            "{y:04}/{m:02}/{d:02} {:02}:{:02}:{:02}",
            s / 3600,
            s / 60 % 60,
            s % 60
        )
    }

    #[test]
    fn groups_failures_in_the_window_with_their_latest_lines() {
        let dir = tempfile::tempdir().unwrap();
        let offset = local_utc_offset();
        let now = T + 3600;
        let local = |t: i64| stamp(t + offset);
        let mut lines = vec![refused(&local(T), 1, "10.0.0.1:80")]; // an hour old: out
        for n in 2..=6 {
            lines.push(refused(&local(now - 60), n, "10.0.0.9:80"));
        }
        lines.push(refused(&local(now - 30), 7, "10.0.0.8:80"));
        lines.push(format!(
            "{} [notice] 1#1: signal 1 (SIGHUP) received from 9, reconfiguring",
            local(now - 90)
        ));
        lines.push("not a line nginx writes".into());
        let log = nginx_log(dir.path(), &lines);
        let limits = Limits {
            bytes_per_file: 1 << 20,
            files_per_log: 4,
            window: Duration::from_secs(900),
        };
        let summary = scan(&[log], limits, now);
        let top = &summary.errors[0];
        assert_eq!(
            (
                top.cause,
                top.upstream.as_str(),
                top.vhost.as_str(),
                top.count
            ),
            (Cause::ConnectRefused, "10.0.0.9:80", "shop", 5)
        );
        assert_eq!(top.lines.len(), QUOTED_LINES);
        assert!(
            top.lines[2].contains("*6 connect() failed"),
            "{:?}",
            top.lines
        );
        assert_eq!(summary.errors.len(), 2, "{:?}", summary.errors);
        assert_eq!(summary.events.len(), 1);
        assert_eq!(summary.events[0].event, Event::Reload);
        assert!(
            summary.read[0].contains("8 lines in the last 900s"),
            "{:?}",
            summary.read
        );
    }

    #[test]
    fn reads_only_the_end_of_a_big_file_from_a_line_start() {
        let dir = tempfile::tempdir().unwrap();
        let lines: Vec<String> = (1..=2000)
            .map(|n| refused("2025/12/01 10:00:00", n, "10.0.0.9:80"))
            .collect();
        let log = nginx_log(dir.path(), &lines);
        let limits = Limits {
            bytes_per_file: 10_000,
            files_per_log: 4,
            window: Duration::from_secs(u64::MAX / 4),
        };
        let summary = scan(&[log], limits, T);
        let count = summary.errors[0].count;
        assert!((20..=50).contains(&count), "{count} lines from 10 kB");
        assert!(summary.errors[0].lines[2].contains("*2000 connect()"));
        assert_eq!(summary.errors.len(), 1, "a cut first line is not a failure");
    }

    #[test]
    fn an_unreadable_log_is_said_not_hidden() {
        let log: LogConfig =
            serde_saphyr::from_str("{path: /nonexistent/error.log, format: nginx_error}").unwrap();
        let limits = Limits {
            bytes_per_file: 1000,
            files_per_log: 1,
            window: Duration::from_secs(60),
        };
        let summary = scan(&[log], limits, T);
        assert!(summary.errors.is_empty());
        assert!(
            summary.read[0].contains("/nonexistent/error.log"),
            "{:?}",
            summary.read
        );
    }
}
