//! nginx access logs: a `log_format` in nginx's own `$variable` syntax compiled into a
//! matcher (literal separators found with memchr, no regex), and flat JSON lines.

use super::sink::{Access, Sink, Verdict, status_code, sum_times};
use anyhow::{Result, bail};
use memchr::memmem::Finder;
use std::collections::BTreeMap;

/// nginx's predefined `combined` format (Apache's combined logs have the same shape).
pub const COMBINED: &str = "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\"";

/// How our own requests introduce themselves (`base::http1::USER_AGENT` without the version).
const OWN_USER_AGENT: &[u8] = b"gateway-exporter/";

/// The variables we read; everything else is skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Var {
    Status,
    ServerName,
    Host,
    HttpHost,
    UpstreamAddr,
    UpstreamStatus,
    UpstreamTime,
    UserAgent,
    /// ingress-nginx's `$proxy_upstream_name`: the last resort for the vhost.
    UpstreamName,
    Other,
}

const SLOTS: usize = 9;

impl Var {
    fn from_name(name: &str) -> Var {
        match name {
            "status" => Var::Status,
            "server_name" => Var::ServerName,
            "host" => Var::Host,
            "http_host" => Var::HttpHost,
            "upstream_addr" => Var::UpstreamAddr,
            "upstream_status" => Var::UpstreamStatus,
            "upstream_response_time" => Var::UpstreamTime,
            "http_user_agent" => Var::UserAgent,
            "proxy_upstream_name" => Var::UpstreamName,
            _ => Var::Other,
        }
    }
}

struct Field {
    var: Var,
    /// The literal that ends the field; None: the field runs to the end of the line.
    until: Option<Finder<'static>>,
}

/// A compiled `log_format`.
pub struct AccessFormat {
    prefix: Vec<u8>,
    /// Fields up to the last one we need (the rest of the line is not looked at).
    fields: Vec<Field>,
}

impl AccessFormat {
    /// Compile an nginx `log_format` string (`$var` or `${var}`, the rest literal).
    pub fn compile(format: &str) -> Result<AccessFormat> {
        let mut parts: Vec<(Option<String>, String)> = vec![(None, String::new())];
        let mut chars = format.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '$' {
                parts.last_mut().expect("never empty").1.push(c);
                continue;
            }
            let braced = chars.peek() == Some(&'{');
            if braced {
                chars.next();
            }
            let mut name = String::new();
            while let Some(&n) = chars.peek() {
                if n.is_ascii_alphanumeric() || n == '_' {
                    name.push(n);
                    chars.next();
                } else {
                    break;
                }
            }
            if braced && chars.next() != Some('}') {
                bail!("log_format: unclosed ${{ in {format:?}");
            }
            if name.is_empty() {
                bail!("log_format: a lone $ in {format:?}");
            }
            parts.push((Some(name), String::new()));
        }
        let mut fields = Vec::new();
        for (i, (name, literal)) in parts.iter().enumerate().skip(1) {
            let name = name
                .as_deref()
                .expect("every part after the first starts with a variable");
            let last = i == parts.len() - 1;
            if literal.is_empty() && !last {
                bail!(
                    "log_format: ${name} is followed by another variable with nothing between them, so they cannot be told apart"
                );
            }
            let until = (!literal.is_empty()).then(|| Finder::new(literal.as_bytes()).into_owned());
            fields.push(Field {
                var: Var::from_name(name),
                until,
            });
        }
        let needed = fields.iter().rposition(|f| f.var != Var::Other);
        let Some(needed) = needed else {
            bail!("log_format: none of $status, $upstream_* or $host appear in {format:?}")
        };
        if !fields.iter().any(|f| f.var == Var::Status) {
            bail!("log_format: $status is required");
        }
        fields.truncate(needed + 1);
        Ok(AccessFormat {
            prefix: parts[0].1.as_bytes().to_vec(),
            fields,
        })
    }

    pub fn parse<S: Sink>(&self, line: &[u8], sink: &mut S) -> Verdict {
        match self.values(line) {
            Some(values) => values.emit(sink),
            None => Verdict::Unrecognised,
        }
    }

    /// The variables we read from one line; None when the line does not match the format.
    pub fn values<'a>(&self, line: &'a [u8]) -> Option<Values<'a>> {
        let rest = line.strip_prefix(self.prefix.as_slice())?;
        let mut values: [&[u8]; SLOTS] = [b""; SLOTS];
        let mut pos = 0;
        for field in &self.fields {
            let value = match &field.until {
                Some(finder) => {
                    let at = finder.find(&rest[pos..])?;
                    let v = &rest[pos..pos + at];
                    pos += at + finder.needle().len();
                    v
                }
                None => &rest[pos..],
            };
            if field.var != Var::Other {
                values[field.var as usize] = value;
            }
        }
        Some(Values(values))
    }
}

/// The values of one matched line, by variable.
pub struct Values<'a>([&'a [u8]; SLOTS]);

impl<'a> Values<'a> {
    /// `$upstream_addr` as matched (ingress_nginx: the rest of the line, lists and all).
    pub fn upstream_addr(&self) -> &'a [u8] {
        self.0[Var::UpstreamAddr as usize]
    }

    /// Set the upstream lists a format carries in one unquoted run (ingress_nginx).
    pub fn set_upstreams(&mut self, addr: &'a [u8], status: &'a [u8], time: &'a [u8]) {
        self.0[Var::UpstreamAddr as usize] = addr;
        self.0[Var::UpstreamStatus as usize] = status;
        self.0[Var::UpstreamTime as usize] = time;
    }

    pub fn emit<S: Sink>(&self, sink: &mut S) -> Verdict {
        emit(&self.0, sink)
    }
}

/// Whether a request's User-Agent is the exporter's own probe.
pub fn own_probe(user_agent: &[u8]) -> bool {
    user_agent.starts_with(OWN_USER_AGENT)
}

/// Turn the extracted values into one [`Access`]. The exporter's own probe requests
/// (`User-Agent: gateway-exporter/<version>`) are known lines that count nothing: they must
/// not weigh in the site's error rate.
fn emit<S: Sink>(values: &[&[u8]; SLOTS], sink: &mut S) -> Verdict {
    let Some(status) = status_code(values[Var::Status as usize]) else {
        return Verdict::Unrecognised;
    };
    if own_probe(values[Var::UserAgent as usize]) {
        return Verdict::Known;
    }
    let vhost = [Var::ServerName, Var::Host, Var::HttpHost, Var::UpstreamName]
        .iter()
        .map(|v| values[*v as usize])
        .find(|v| !v.is_empty() && *v != b"-")
        .unwrap_or(b"-");
    sink.access(&Access {
        vhost,
        status,
        upstream_addr: values[Var::UpstreamAddr as usize],
        upstream_status: values[Var::UpstreamStatus as usize],
        upstream_time: sum_times(values[Var::UpstreamTime as usize]),
    });
    Verdict::Known
}

/// Which JSON keys hold what (`json_keys:`); defaults are the nginx variable names.
#[derive(Debug, Clone, serde::Deserialize, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct JsonKeys {
    pub status: Option<String>,
    /// Default: the first of `server_name`, `host`, `http_host` present.
    pub vhost: Option<String>,
    pub upstream_addr: Option<String>,
    pub upstream_status: Option<String>,
    pub upstream_response_time: Option<String>,
    /// Default `http_user_agent`: lines of the exporter's own probes are not counted.
    pub user_agent: Option<String>,
}

/// A compiled key mapping: key bytes -> slot.
pub struct JsonFormat {
    keys: BTreeMap<Vec<u8>, Var>,
}

impl JsonFormat {
    pub fn new(keys: &JsonKeys) -> JsonFormat {
        let mut map = BTreeMap::new();
        let mut put = |key: &Option<String>, default: &str, var: Var| {
            map.insert(key.as_deref().unwrap_or(default).as_bytes().to_vec(), var);
        };
        put(&keys.status, "status", Var::Status);
        put(&keys.upstream_addr, "upstream_addr", Var::UpstreamAddr);
        put(
            &keys.upstream_status,
            "upstream_status",
            Var::UpstreamStatus,
        );
        put(
            &keys.upstream_response_time,
            "upstream_response_time",
            Var::UpstreamTime,
        );
        put(&keys.user_agent, "http_user_agent", Var::UserAgent);
        match &keys.vhost {
            Some(k) => put(&Some(k.clone()), "", Var::ServerName),
            None => {
                put(&None, "server_name", Var::ServerName);
                put(&None, "host", Var::Host);
                put(&None, "http_host", Var::HttpHost);
            }
        }
        JsonFormat { keys: map }
    }

    pub fn parse<S: Sink>(&self, line: &[u8], sink: &mut S) -> Verdict {
        let mut values: [&[u8]; SLOTS] = [b""; SLOTS];
        let complete = scan_object(line, |key, value| {
            if let Some(var) = self.keys.get(key) {
                values[*var as usize] = value;
            }
        });
        if !complete {
            return Verdict::Unrecognised;
        }
        emit(&values, sink)
    }
}

/// Walk the top-level members of a flat JSON object, calling `f(key, raw value)` (strings
/// without their quotes, escapes left as they are). Tolerant where nginx writes invalid
/// JSON (`"status":009`). False when the line is not an object.
pub fn scan_object<'a>(line: &'a [u8], mut f: impl FnMut(&'a [u8], &'a [u8])) -> bool {
    let mut i = skip_ws(line, 0);
    if line.get(i) != Some(&b'{') {
        return false;
    }
    i = skip_ws(line, i + 1);
    if line.get(i) == Some(&b'}') {
        return true;
    }
    loop {
        if line.get(i) != Some(&b'"') {
            return false;
        }
        let Some(end) = string_end(line, i + 1) else {
            return false;
        };
        let key = &line[i + 1..end];
        i = skip_ws(line, end + 1);
        if line.get(i) != Some(&b':') {
            return false;
        }
        i = skip_ws(line, i + 1);
        let value = match line.get(i) {
            Some(b'"') => {
                let Some(end) = string_end(line, i + 1) else {
                    return false;
                };
                let v = &line[i + 1..end];
                i = end + 1;
                v
            }
            Some(b'{' | b'[') => {
                let Some(end) = nested_end(line, i) else {
                    return false;
                };
                let v = &line[i..end];
                i = end;
                v
            }
            Some(_) => {
                let start = i;
                while i < line.len() && !matches!(line[i], b',' | b'}' | b' ' | b'\t') {
                    i += 1;
                }
                &line[start..i]
            }
            None => return false,
        };
        f(key, value);
        i = skip_ws(line, i);
        match line.get(i) {
            Some(b',') => i = skip_ws(line, i + 1),
            Some(b'}') => return true,
            _ => return false,
        }
    }
}

fn skip_ws(line: &[u8], mut i: usize) -> usize {
    while i < line.len() && matches!(line[i], b' ' | b'\t' | b'\r') {
        i += 1;
    }
    i
}

/// Index of the closing quote of a string whose content starts at `i`.
fn string_end(line: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let q = i + memchr::memchr2(b'"', b'\\', &line[i..])?;
        if line[q] == b'"' {
            return Some(q);
        }
        i = q + 2;
        if i > line.len() {
            return None;
        }
    }
}

/// One past the end of the object or array starting at `i`.
fn nested_end(line: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 0usize;
    while i < line.len() {
        match line[i] {
            b'"' => i = string_end(line, i + 1)?,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::sink::recorder::Recorder;

    fn run(format: &AccessFormat, line: &str) -> (Verdict, Recorder) {
        let mut r = Recorder::default();
        (format.parse(line.as_bytes(), &mut r), r)
    }

    #[test]
    fn combined_lines() {
        let f = AccessFormat::compile(COMBINED).unwrap();
        let (v, r) = run(
            &f,
            "127.0.0.1 - - [21/Nov/2026:23:57:38 +0000] \"GET /refused HTTP/1.1\" 502 157 \"http://ref.test/\" \"curl/7.88.1\"",
        );
        assert_eq!(v, Verdict::Known);
        assert_eq!(
            r.access,
            vec![("-".into(), 502, "".into(), "".into(), None)]
        );
        let (v, _) = run(&f, "garbage line");
        assert_eq!(v, Verdict::Unrecognised);
        let (v, _) = run(&f, "1.2.3.4 - - [x] \"GET / HTTP/1.1\" abc 1 \"-\" \"-\"");
        assert_eq!(v, Verdict::Unrecognised);
    }

    #[test]
    fn our_own_probes_count_nothing() {
        let f = AccessFormat::compile(COMBINED).unwrap();
        let (v, r) = run(
            &f,
            "127.0.0.1 - - [21/Nov/2026:23:57:38 +0000] \"GET / HTTP/1.1\" 502 157 \"-\" \"gateway-exporter/0.1.0\"",
        );
        assert_eq!((v, r.access.len()), (Verdict::Known, 0));
        // Someone else naming us in passing is counted.
        let (_, r) = run(
            &f,
            "127.0.0.1 - - [21/Nov/2026:23:57:38 +0000] \"GET / HTTP/1.1\" 502 157 \"-\" \"curl (like gateway-exporter/0.1)\"",
        );
        assert_eq!(r.access.len(), 1);
        let json = JsonFormat::new(&JsonKeys::default());
        let mut rec = Recorder::default();
        let line =
            br#"{"status":"502","host":"a.test","http_user_agent":"gateway-exporter/0.1.0"}"#;
        assert_eq!(json.parse(line, &mut rec), Verdict::Known);
        assert!(rec.access.is_empty());
    }

    #[test]
    fn upstream_format_zips_tries() {
        let f = AccessFormat::compile(
            "$remote_addr [$time_local] \"$request\" $status $host ua=\"$upstream_addr\" us=\"$upstream_status\" urt=\"$upstream_response_time\" x=$request_id",
        )
        .unwrap();
        let (v, r) = run(
            &f,
            "127.0.0.1 [21/Nov/2026:23:57:38 +0000] \"GET / HTTP/1.1\" 200 app.test ua=\"127.0.0.1:18082, 127.0.0.1:18083 : 127.0.0.1:18086\" us=\"502, 502 : 200\" urt=\"0.001, -, 0.250\" x=abc",
        );
        assert_eq!(v, Verdict::Known);
        let a = &r.access[0];
        assert_eq!(
            (a.0.as_str(), a.1, a.2.as_str(), a.3.as_str()),
            (
                "app.test",
                200,
                "127.0.0.1:18082, 127.0.0.1:18083 : 127.0.0.1:18086",
                "502, 502 : 200"
            )
        );
        assert!((a.4.unwrap() - 0.251).abs() < 1e-9);
    }

    #[test]
    fn bad_formats_are_refused() {
        assert!(AccessFormat::compile("$remote_addr$status").is_err());
        assert!(AccessFormat::compile("$remote_addr $body_bytes_sent").is_err());
        assert!(AccessFormat::compile("${status").is_err());
        assert!(AccessFormat::compile("$ $status").is_err());
        assert!(AccessFormat::compile("${status} ${host}").is_ok());
    }

    #[test]
    fn json_lines_tolerate_nginx_quirks() {
        let f = JsonFormat::new(&JsonKeys::default());
        let mut r = Recorder::default();
        let line = br#"{"time":"x","host":"a.test","status":009,"upstream_addr":"","upstream_status":"","req":{"a":[1,"}"]},"upstream_response_time":"0.5"}"#;
        assert_eq!(f.parse(line, &mut r), Verdict::Known);
        assert_eq!(
            r.access,
            vec![("a.test".into(), 9, "".into(), "".into(), Some(0.5))]
        );
        assert_eq!(f.parse(b"{\"status\":\"50", &mut r), Verdict::Unrecognised);
        assert_eq!(f.parse(b"not json", &mut r), Verdict::Unrecognised);
        let mapped = JsonFormat::new(&JsonKeys {
            status: Some("st".into()),
            vhost: Some("vh".into()),
            ..Default::default()
        });
        let mut r = Recorder::default();
        assert_eq!(
            mapped.parse(br#"{"st":"503","vh":"b.test","host":"ignored"}"#, &mut r),
            Verdict::Known
        );
        assert_eq!(r.access[0].0, "b.test");
        assert_eq!(r.access[0].1, 503);
    }
}
