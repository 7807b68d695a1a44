//! Envoy access logs, one line per request: the default format string, Istio's default text
//! format (the same with the response code details, the transport failure reason and the
//! cluster), and JSON (`json_format`/`typed_json_format`) with the keys Istio and Envoy
//! Gateway use. `%RESPONSE_FLAGS%` names who failed; a request counts once, under the most
//! telling of its flags.

use super::cause::Cause;
use super::nginx_access::{own_probe, scan_object};
use super::sink::{Access, Sink, Verdict, normalise_upstream, status_code};

/// The fields of one request we use (`-`, `null` or empty when unset).
#[derive(Default)]
struct Request<'a> {
    code: &'a [u8],
    flags: &'a [u8],
    authority: &'a [u8],
    upstream_host: &'a [u8],
    cluster: &'a [u8],
    /// `x-envoy-upstream-service-time`, milliseconds.
    service_time: &'a [u8],
    user_agent: &'a [u8],
    /// `%RESPONSE_CODE_DETAILS%` and `%UPSTREAM_TRANSPORT_FAILURE_REASON%`: they tell a
    /// refused connect from a timed-out or TLS one.
    details: &'a [u8],
    failure_reason: &'a [u8],
}

pub fn parse<S: Sink>(line: &[u8], sink: &mut S) -> Verdict {
    let request = if line.first() == Some(&b'{') {
        json(line)
    } else {
        text(line)
    };
    let Some(r) = request else {
        return Verdict::Unrecognised;
    };
    // Response code 0: nothing was sent (the client left first).
    let status = match r.code {
        b"0" => None,
        code => match status_code(code) {
            Some(s) => Some(s),
            None => return Verdict::Unrecognised,
        },
    };
    let vhost = value(r.authority).unwrap_or(b"-");
    let host = value(r.upstream_host).map(normalise_upstream);
    if let Some(cause) = cause(&r) {
        let upstream = host.or(value(r.cluster)).unwrap_or(b"-");
        sink.error(cause, vhost, upstream);
    }
    if let Some(status) = status
        && !own_probe(r.user_agent)
    {
        let tried = host.is_some();
        sink.access(&Access {
            vhost,
            status,
            upstream_addr: host.unwrap_or(b""),
            upstream_status: if tried { r.code } else { b"" },
            upstream_time: value(r.service_time)
                .and_then(|t| std::str::from_utf8(t).ok()?.parse::<f64>().ok())
                .filter(|ms| ms.is_finite() && *ms >= 0.0)
                .map(|ms| ms / 1000.0),
        });
    }
    Verdict::Known
}

/// A field's value, None when Envoy wrote it unset.
fn value(v: &[u8]) -> Option<&[u8]> {
    (!matches!(v, b"" | b"-" | b"null")).then_some(v)
}

/// The flags that name an upstream failure, most telling first: `UF,URX` is a connect
/// failure whose retries ran out, `LR` (Envoy reset the stream itself) says the least.
/// `URX` alone (the upstream answered every try with a retriable status) names no failure
/// of ours: its status counts in the responses and tries. `DC` (client gone), `NR`/`NC`
/// (no route, no cluster), `LH`, fault injection, `UAEX`, `RLSE`, `IH`, `SI`, `DPE`, `OM`,
/// `DT` and flags newer than this list are not upstream failures here.
const FLAGS: [&[u8]; 11] = [
    b"UH", b"UF", b"DF", b"UT", b"UMSDR", b"UR", b"UC", b"UPE", b"UO", b"RL", b"LR",
];

fn cause(r: &Request<'_>) -> Option<Cause> {
    let flags = value(r.flags)?;
    let rank = flags
        .split(|&b| b == b',')
        .filter_map(|f| FLAGS.iter().position(|known| *known == f))
        .min()?;
    Some(match FLAGS[rank] {
        b"UH" => Cause::NoLiveUpstreams,
        b"UF" => connect_failure(r),
        b"DF" => Cause::Dns,
        b"UT" | b"UMSDR" => Cause::Timeout,
        b"UR" | b"LR" => Cause::Reset,
        b"UC" => Cause::PrematureClose,
        b"UPE" => Cause::InvalidResponse,
        b"UO" => Cause::CircuitOpen,
        _ => Cause::RateLimited,
    })
}

/// `UF` is any failed connect; Istio's formats say which
/// (`upstream_reset_before_response_started{connection_failure,TLS_error:...}`).
fn connect_failure(r: &Request<'_>) -> Cause {
    let said = |needle: &[u8]| {
        memchr::memmem::find(r.details, needle).is_some()
            || memchr::memmem::find(r.failure_reason, needle).is_some()
    };
    if said(b"TLS_error") || said(b"TLS error") {
        Cause::SslHandshake
    } else if said(b"connection_timeout") || said(b"timed_out") || said(b"timed out") {
        Cause::ConnectTimeout
    } else {
        Cause::ConnectRefused
    }
}

fn json(line: &[u8]) -> Option<Request<'_>> {
    let mut r = Request::default();
    let complete = scan_object(line, |key, v| match key {
        b"response_code" => r.code = v,
        b"response_flags" => r.flags = v,
        b"authority" | b":authority" => r.authority = v,
        b"upstream_host" => r.upstream_host = v,
        b"upstream_cluster" => r.cluster = v,
        b"upstream_service_time" | b"x-envoy-upstream-service-time" => r.service_time = v,
        b"user_agent" | b"user-agent" => r.user_agent = v,
        b"response_code_details" => r.details = v,
        b"upstream_transport_failure_reason" => r.failure_reason = v,
        _ => {}
    });
    (complete && !r.code.is_empty() && !r.flags.is_empty()).then_some(r)
}

/// `[START] "METHOD PATH PROTO" CODE FLAGS` then, in Envoy's default, `RECEIVED SENT
/// DURATION SERVICE_TIME "XFF" "UA" "ID" "AUTHORITY" "UPSTREAM_HOST"`; Istio puts `DETAILS
/// TERMINATION "FAILURE_REASON"` before the byte counts and `CLUSTER ...` after.
fn text(line: &[u8]) -> Option<Request<'_>> {
    let rest = line.strip_prefix(b"[")?;
    let close = memchr::memchr(b']', rest)?;
    let rest = rest[close + 1..].strip_prefix(b" \"")?;
    let end = memchr::memmem::find(rest, b"\" ")?;
    let mut w = Words(&rest[end + 2..]);
    let mut r = Request {
        code: w.word()?,
        flags: w.word()?,
        ..Request::default()
    };
    let third = w.word()?;
    if !third.iter().all(u8::is_ascii_digit) {
        // Istio: `third` is the response code details.
        r.details = third;
        w.word()?; // connection termination details
        r.failure_reason = w.quoted(false)?;
        w.word()?; // bytes received
    }
    w.word()?; // bytes sent
    w.word()?; // duration
    r.service_time = w.word()?;
    w.quoted(true)?; // x-forwarded-for
    r.user_agent = w.quoted(true)?;
    w.quoted(true)?; // request id
    r.authority = w.quoted(true)?;
    r.upstream_host = w.quoted(false)?;
    r.cluster = w.word().unwrap_or(b"");
    Some(r)
}

/// A cursor over space-separated words and quoted strings.
struct Words<'a>(&'a [u8]);

impl<'a> Words<'a> {
    fn word(&mut self) -> Option<&'a [u8]> {
        if self.0.is_empty() {
            return None;
        }
        let end = memchr::memchr(b' ', self.0).unwrap_or(self.0.len());
        let w = &self.0[..end];
        self.0 = self.0.get(end + 1..).unwrap_or(b"");
        Some(w)
    }

    /// `"..."` up to the quote that ends the line or is followed by a space, and by another
    /// quoted field when `then_quoted` (Envoy does not escape quotes inside header values:
    /// a User-Agent may hold `" `, never `" "` before the next field).
    fn quoted(&mut self, then_quoted: bool) -> Option<&'a [u8]> {
        let body = self.0.strip_prefix(b"\"")?;
        let mut from = 0;
        loop {
            let q = from + memchr::memchr(b'"', &body[from..])?;
            let after = &body[q + 1..];
            let ends = after.is_empty()
                || (after[0] == b' ' && (!then_quoted || after.get(1) == Some(&b'"')));
            if ends {
                self.0 = after.get(1..).unwrap_or(b"");
                return Some(&body[..q]);
            }
            from = q + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::sink::recorder::Recorder;

    /// Envoy's default format (docs: configuration/observability/access_log/usage).
    fn default_line(code: u16, flags: &str, host: &str) -> String {
        format!(
            "[2026-11-22T10:00:00.310Z] \"GET /api/v1/x HTTP/1.1\" {code} {flags} 0 91 3 - \"10.0.35.28\" \"curl/7.88.1\" \"cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2\" \"shop.test\" \"{host}\"\n"
        )
        .trim_end()
        .to_string()
    }

    fn run(line: &str) -> (Verdict, Recorder) {
        let mut r = Recorder::default();
        (parse(line.as_bytes(), &mut r), r)
    }

    #[test]
    fn every_response_flag() {
        // (flags, code, upstream host, cause, upstream label)
        let table: &[(&str, u16, &str, Option<&str>, &str)] = &[
            (
                "UF",
                503,
                "10.0.2.1:80",
                Some("connect_refused"),
                "10.0.2.1:80",
            ),
            (
                "UF,URX",
                503,
                "10.0.2.1:80",
                Some("connect_refused"),
                "10.0.2.1:80",
            ),
            (
                "URX,UF",
                503,
                "10.0.2.1:80",
                Some("connect_refused"),
                "10.0.2.1:80",
            ),
            ("UH", 503, "-", Some("no_live_upstreams"), "-"),
            ("UT", 504, "10.0.2.1:80", Some("timeout"), "10.0.2.1:80"),
            ("UT,URX", 504, "10.0.2.1:80", Some("timeout"), "10.0.2.1:80"),
            ("UMSDR", 504, "10.0.2.1:80", Some("timeout"), "10.0.2.1:80"),
            ("UR", 503, "10.0.2.1:80", Some("reset"), "10.0.2.1:80"),
            (
                "UC",
                503,
                "10.0.2.1:80",
                Some("premature_close"),
                "10.0.2.1:80",
            ),
            (
                "UPE",
                502,
                "10.0.2.1:80",
                Some("invalid_response"),
                "10.0.2.1:80",
            ),
            ("UO", 503, "-", Some("circuit_open"), "-"),
            ("RL", 429, "-", Some("rate_limited"), "-"),
            ("LR", 503, "10.0.2.1:80", Some("reset"), "10.0.2.1:80"),
            (
                "LR,UF",
                503,
                "10.0.2.1:80",
                Some("connect_refused"),
                "10.0.2.1:80",
            ),
            ("DF", 503, "-", Some("dns"), "-"),
            ("UT,DC", 0, "10.0.2.1:80", Some("timeout"), "10.0.2.1:80"),
            ("-", 503, "tcp://10.0.2.1:80", None, ""),
            // not upstream failures
            ("URX", 503, "10.0.2.1:80", None, ""),
            ("DC", 0, "10.0.2.1:80", None, ""),
            ("NR", 404, "-", None, ""),
            ("NC", 503, "-", None, ""),
            ("LH", 503, "-", None, ""),
            ("DI", 200, "10.0.2.1:80", None, ""),
            ("FI", 503, "-", None, ""),
            ("UAEX", 403, "-", None, ""),
            ("RLSE", 500, "-", None, ""),
            ("IH", 400, "-", None, ""),
            ("SI", 408, "10.0.2.1:80", None, ""),
            ("DPE", 400, "-", None, ""),
            ("OM", 503, "-", None, ""),
            ("DT", 200, "10.0.2.1:80", None, ""),
            ("-", 200, "10.0.2.1:80", None, ""),
            ("-", 503, "10.0.2.1:80", None, ""),
        ];
        for (flags, code, host, cause, upstream) in table {
            let (v, r) = run(&default_line(*code, flags, host));
            assert_eq!(v, Verdict::Known, "{flags}");
            let want: Vec<(String, String, String)> = cause
                .iter()
                .map(|c| (c.to_string(), "shop.test".into(), upstream.to_string()))
                .collect();
            assert_eq!(r.errors, want, "{flags}");
            if *code == 0 {
                assert!(r.access.is_empty(), "{flags}: no response was sent");
                continue;
            }
            let a = &r.access[0];
            assert_eq!((a.0.as_str(), a.1), ("shop.test", *code), "{flags}");
            if *host == "-" {
                assert_eq!((a.2.as_str(), a.3.as_str()), ("", ""), "{flags}");
            } else {
                let code = code.to_string();
                assert_eq!(
                    (a.2.as_str(), a.3.as_str()),
                    ("10.0.2.1:80", code.as_str()),
                    "{flags}"
                );
            }
            assert_eq!(a.4, None, "{flags}: service time `-`");
        }
    }

    #[test]
    fn istio_text_refines_connect_failures() {
        let istio = |flags: &str, details: &str, reason: &str, host: &str| {
            format!(
                "[2026-11-22T10:00:00.310Z] \"GET /productpage HTTP/1.1\" 503 {flags} {details} - \"{reason}\" 0 91 30 12 \"-\" \"curl/7.88.1\" \"7d1c\" \"productpage:9080\" \"{host}\" outbound|9080||productpage.default.svc.cluster.local 10.244.0.7:44612 10.96.3.4:9080 10.244.0.7:50188 - default"
            )
        };
        let table = [
            (
                "UF,URX",
                "upstream_reset_before_response_started{connection_failure}",
                "-",
                "connect_refused",
            ),
            (
                "UF,URX",
                "upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_Connection_refused}",
                "delayed_connect_error:_Connection_refused",
                "connect_refused",
            ),
            (
                "UF",
                "upstream_reset_before_response_started{connection_failure,TLS_error:_268435703:SSL_routines:OPENSSL_internal:WRONG_VERSION_NUMBER}",
                "TLS_error:_268435703:SSL_routines:OPENSSL_internal:WRONG_VERSION_NUMBER",
                "ssl_handshake",
            ),
            (
                "UF",
                "upstream_reset_before_response_started{connection_timeout}",
                "-",
                "connect_timeout",
            ),
        ];
        for (flags, details, reason, cause) in table {
            let (v, r) = run(&istio(flags, details, reason, "10.244.0.9:9080"));
            assert_eq!(v, Verdict::Known, "{details}");
            assert_eq!(
                r.errors,
                [(
                    cause.into(),
                    "productpage:9080".into(),
                    "10.244.0.9:9080".into()
                )],
                "{details}"
            );
            assert_eq!(r.access[0].4, Some(0.012), "{details}");
        }
        // No healthy host: the upstream label is the cluster.
        let (_, r) = run(&istio("UH", "no_healthy_upstream", "-", "-"));
        assert_eq!(
            r.errors,
            [(
                "no_live_upstreams".into(),
                "productpage:9080".into(),
                "outbound|9080||productpage.default.svc.cluster.local".into()
            )]
        );
        assert_eq!((r.access[0].2.as_str(), r.access[0].3.as_str()), ("", ""));
    }

    #[test]
    fn json_lines() {
        // Istio's JSON keys, strings.
        let line = r#"{"authority":"shop.test","bytes_received":0,"response_code":"503","response_flags":"UF,URX","response_code_details":"upstream_reset_before_response_started{connection_failure}","upstream_cluster":"outbound|80||web","upstream_host":"10.0.2.1:80","upstream_service_time":"-","upstream_transport_failure_reason":"delayed_connect_error:_Connection_timed_out","user_agent":"curl/7.88.1"}"#;
        let (v, r) = run(line);
        assert_eq!(v, Verdict::Known);
        assert_eq!(
            r.errors,
            [(
                "connect_timeout".into(),
                "shop.test".into(),
                "10.0.2.1:80".into()
            )]
        );
        assert_eq!(r.access[0].1, 503);
        // Envoy Gateway's keys, typed JSON: numbers and nulls.
        let line = r#"{":authority":"gw.test","response_code":200,"response_flags":"-","upstream_host":"10.0.2.2:8080","x-envoy-upstream-service-time":"7","user-agent":"gateway-exporter/0.1.0"}"#;
        let (v, r) = run(line);
        assert_eq!(
            (v, r.errors.len(), r.access.len()),
            (Verdict::Known, 0, 0),
            "our own probe"
        );
        let line = r#"{":authority":"gw.test","response_code":504,"response_flags":"UT","upstream_host":null,"upstream_cluster":"httproute/default/web/rule/0","x-envoy-upstream-service-time":null,"user-agent":"curl"}"#;
        let (_, r) = run(line);
        assert_eq!(
            r.errors,
            [(
                "timeout".into(),
                "gw.test".into(),
                "httproute/default/web/rule/0".into()
            )]
        );
        assert_eq!(
            r.access,
            [("gw.test".into(), 504, "".into(), "".into(), None)]
        );
    }

    #[test]
    fn traps_and_bad_lines() {
        // The upstream's own 503 (no flag) is a response and a try, not a failure of ours.
        let (_, r) = run(&default_line(503, "-", "10.0.2.1:80"));
        assert!(r.errors.is_empty());
        assert_eq!(r.access[0].3, "503");
        // A quote inside a header value does not end the field.
        let ua = "[2026-11-22T10:00:00.310Z] \"GET / HTTP/1.1\" 503 UH 0 91 3 - \"-\" \"a \"quoted\" agent\" \"id\" \"shop.test\" \"-\"";
        let (v, r) = run(ua);
        assert_eq!(v, Verdict::Known);
        assert_eq!(r.errors[0].1, "shop.test");
        for bad in [
            "",
            "[2026-11-22T10:00:00.310Z] \"GET / HTTP/1.1\" 503",
            "[2026-11-22T10:00:00.310Z] \"GET / HTTP/1.1\" abc UF 0 91 3 - \"-\" \"-\" \"-\" \"-\" \"-\"",
            "[2026-11-22T10:00:00.310Z] \"GET / HTTP/1.1\" 503 UF 0 91 3 - \"-\" \"-\"",
            r#"{"response_code":"503"}"#,
            r#"{"response_code":"503","response_flags":"UF""#,
            "127.0.0.1 - - [21/Nov/2026:23:57:38 +0000] \"GET / HTTP/1.1\" 502 157 \"-\" \"curl/7.88.1\"",
        ] {
            let (v, r) = run(bad);
            assert_eq!(v, Verdict::Unrecognised, "{bad}");
            assert!(r.errors.is_empty() && r.access.is_empty(), "{bad}");
        }
    }
}
