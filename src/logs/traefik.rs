//! Traefik access logs, JSON or the common format (CLF), one line per request. The vhost is
//! the router; the upstream is the server (`ServiceURL`) the request went to.
//!
//! Traefik logs no error text in its access log, so a cause is counted only where the line
//! alone proves who failed: its load balancer's `no available server` (503, no server URL),
//! a rate-limit middleware's 429 (no server URL), and the 504 its proxy writes on a timed-out
//! upstream (the body is Go's status text, `Gateway Timeout`, 15 bytes). Its 502 (`Bad
//! Gateway`, 11 bytes) may be a refused connect, a reset or an early close: the line cannot
//! tell, so it counts in the responses and tries only.

use super::cause::Cause;
use super::nginx_access::{own_probe, scan_object};
use super::sink::{Access, Sink, Verdict, normalise_upstream, status_code};

/// The body Traefik's proxy writes on an upstream timeout: `Gateway Timeout`.
const GATEWAY_TIMEOUT_BODY: &[u8] = b"15";

#[derive(Default)]
struct Request<'a> {
    status: &'a [u8],
    /// What the server answered (JSON only; CLF's status is the downstream one).
    origin_status: &'a [u8],
    size: &'a [u8],
    router: &'a [u8],
    service: &'a [u8],
    service_url: &'a [u8],
    host: &'a [u8],
    user_agent: &'a [u8],
    /// Nanoseconds (JSON `OriginDuration`).
    origin_duration: &'a [u8],
}

pub fn parse<S: Sink>(line: &[u8], sink: &mut S) -> Verdict {
    let request = if line.first() == Some(&b'{') {
        match json(line) {
            Json::Request(r) => r,
            Json::Other => return Verdict::Known,
            Json::Invalid => return Verdict::Unrecognised,
        }
    } else {
        match common(line) {
            Some(r) => r,
            None => return Verdict::Unrecognised,
        }
    };
    // Traefik v2's CLF prints the origin status: `-` when Traefik answered itself.
    if request.status == b"-" {
        return Verdict::Known;
    }
    let Some(status) = status_code(request.status) else {
        return Verdict::Unrecognised;
    };
    let r = request;
    let vhost = [r.router, r.host]
        .into_iter()
        .find(|v| !matches!(*v, b"" | b"-"))
        .unwrap_or(b"-");
    let server = (!matches!(r.service_url, b"" | b"-")).then(|| normalise_upstream(r.service_url));
    let cause = match (status, server) {
        (503, None) => Some(Cause::NoLiveUpstreams),
        (429, None) => Some(Cause::RateLimited),
        (504, Some(_)) if r.size == GATEWAY_TIMEOUT_BODY => Some(Cause::Timeout),
        _ => None,
    };
    if let Some(cause) = cause {
        let upstream = server
            .or((!matches!(r.service, b"" | b"-")).then_some(r.service))
            .unwrap_or(b"-");
        sink.error(cause, vhost, upstream);
    }
    if !own_probe(r.user_agent) {
        let origin_status = match r.origin_status {
            b"" | b"0" => r.status,
            s => s,
        };
        sink.access(&Access {
            vhost,
            status,
            upstream_addr: server.unwrap_or(b""),
            upstream_status: if server.is_some() { origin_status } else { b"" },
            upstream_time: std::str::from_utf8(r.origin_duration)
                .ok()
                .and_then(|ns| ns.parse::<f64>().ok())
                .filter(|ns| ns.is_finite() && *ns >= 0.0)
                .map(|ns| ns / 1e9),
        });
    }
    Verdict::Known
}

enum Json<'a> {
    Request(Request<'a>),
    /// A line of Traefik's own log (`level`, `msg`), no request.
    Other,
    Invalid,
}

fn json(line: &[u8]) -> Json<'_> {
    let mut r = Request::default();
    let mut leveled = false;
    let complete = scan_object(line, |key, v| match key {
        b"DownstreamStatus" => r.status = v,
        b"OriginStatus" => r.origin_status = v,
        b"DownstreamContentSize" => r.size = v,
        b"RouterName" => r.router = v,
        b"ServiceName" => r.service = v,
        b"ServiceURL" => r.service_url = v,
        b"RequestHost" => r.host = v,
        b"request_User-Agent" => r.user_agent = v,
        b"OriginDuration" => r.origin_duration = v,
        b"level" => leveled = true,
        _ => {}
    });
    match (complete, r.status.is_empty(), leveled) {
        (true, false, _) => Json::Request(r),
        (true, true, true) => Json::Other,
        _ => Json::Invalid,
    }
}

/// `HOST - USER [TIME] "METHOD PATH PROTO" STATUS SIZE "REFERER" "UA" COUNT "ROUTER" "URL"
/// DURATIONms`. The User-Agent is free text (Traefik does not escape its quotes), so the
/// fields after it are read from the end.
fn common(line: &[u8]) -> Option<Request<'_>> {
    let open = memchr::memmem::find(line, b"] \"")?;
    let rest = &line[open + 3..];
    let rest = &rest[memchr::memmem::find(rest, b"\" ")? + 2..];
    let (status, rest) = split_word(rest)?;
    let (size, rest) = split_word(rest)?;
    // From the end: ` "ROUTER" "URL" DURATIONms`.
    let duration_at = memchr::memrchr(b' ', rest)?;
    if !rest[duration_at + 1..].ends_with(b"ms") {
        return None;
    }
    let rest = rest[..duration_at].strip_suffix(b"\"")?;
    let url_at = memchr::memrchr(b'"', rest)?;
    let service_url = &rest[url_at + 1..];
    let rest = rest[..url_at].strip_suffix(b"\" ")?;
    let router_at = memchr::memrchr(b'"', rest)?;
    let router = &rest[router_at + 1..];
    // `"REFERER" "UA" COUNT ` remains: the User-Agent runs from the second field's quote to
    // the quote before the count.
    let quoted = rest[..router_at].strip_suffix(b" ")?;
    let count_at = memchr::memrchr(b' ', quoted)?;
    let pair = quoted[..count_at].strip_suffix(b"\"")?;
    let user_agent = memchr::memmem::find(pair, b"\" \"").map_or(&b""[..], |at| &pair[at + 3..]);
    Some(Request {
        status,
        size,
        router,
        service_url,
        user_agent,
        ..Request::default()
    })
}

fn split_word(v: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = memchr::memchr(b' ', v)?;
    Some((&v[..end], &v[end + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::sink::recorder::Recorder;

    fn run(line: &str) -> (Verdict, Recorder) {
        let mut r = Recorder::default();
        (parse(line.as_bytes(), &mut r), r)
    }

    /// A JSON access line as Traefik writes it (docs: observability/access-logs, the
    /// `DownstreamStatus`/`OriginStatus` fields), headers dropped (the default).
    fn json_line(status: u16, size: u32, url: &str) -> String {
        let server = if url.is_empty() {
            String::new()
        } else {
            format!(
                r#""ServiceURL":"{url}","ServiceAddr":"{}","OriginStatus":{status},"OriginContentSize":{size},"OriginDuration":2500000,"#,
                &url[7..]
            )
        };
        format!(
            r#"{{"ClientAddr":"10.0.0.1:51234","ClientHost":"10.0.0.1","DownstreamContentSize":{size},"DownstreamStatus":{status},"Duration":3100000,{server}"RequestAddr":"shop.test","RequestHost":"shop.test","RequestMethod":"GET","RequestPath":"/","RequestProtocol":"HTTP/1.1","RetryAttempts":0,"RouterName":"shop@docker","ServiceName":"shop@docker","StartUTC":"2026-11-22T10:00:00.123Z","entryPointName":"web","level":"info","msg":"","time":"2026-11-22T10:00:00Z"}}"#
        )
    }

    /// The common format (Traefik v3: the downstream status).
    fn clf_line(status: u16, size: u32, ua: &str, router: &str, url: &str) -> String {
        format!(
            "10.0.0.1 - - [22/Nov/2026:10:00:00 +0000] \"GET /x HTTP/1.1\" {status} {size} \"-\" \"{ua}\" 42 \"{router}\" \"{url}\" 3ms"
        )
    }

    #[test]
    fn responses_tries_and_the_causes_a_line_proves() {
        // (status, body size, server URL, cause, upstream label)
        let table: &[(u16, u32, &str, Option<&str>, &str)] = &[
            (200, 612, "http://10.0.0.5:80", None, ""),
            (503, 19, "", Some("no_live_upstreams"), "shop@docker"),
            (429, 17, "", Some("rate_limited"), "shop@docker"),
            (
                504,
                15,
                "http://10.0.0.5:80",
                Some("timeout"),
                "10.0.0.5:80",
            ),
            // the upstream's own 504 (its body is not Traefik's)
            (504, 167, "http://10.0.0.5:80", None, ""),
            // refused, reset or closed: the line cannot tell
            (502, 11, "http://10.0.0.5:80", None, ""),
            // the upstream's own 503
            (503, 299, "http://10.0.0.5:80", None, ""),
            // no router matched
            (404, 19, "", None, ""),
        ];
        for (status, size, url, cause, upstream) in table {
            let j = json_line(*status, *size, url);
            let router = if url.is_empty() && *status == 404 {
                "-"
            } else {
                "shop@docker"
            };
            let c = clf_line(
                *status,
                *size,
                "curl/8.5.0",
                router,
                if url.is_empty() { "-" } else { url },
            );
            for (kind, line) in [("json", j), ("clf", c)] {
                let (v, r) = run(&line);
                assert_eq!(v, Verdict::Known, "{kind} {status} {line}");
                let vhost = if router == "-" && kind == "clf" {
                    "-"
                } else {
                    "shop@docker"
                };
                // CLF has no service name: a 503 without a server is the router's.
                let upstream = if kind == "clf" && url.is_empty() {
                    "-"
                } else {
                    upstream
                };
                let want: Vec<(String, String, String)> = cause
                    .iter()
                    .map(|c| (c.to_string(), vhost.to_string(), upstream.to_string()))
                    .collect();
                assert_eq!(r.errors, want, "{kind} {status} {size}");
                let a = &r.access[0];
                assert_eq!((a.0.as_str(), a.1), (vhost, *status), "{kind} {status}");
                if url.is_empty() {
                    assert_eq!((a.2.as_str(), a.3.as_str()), ("", ""), "{kind}");
                } else {
                    let s = status.to_string();
                    assert_eq!(
                        (a.2.as_str(), a.3.as_str()),
                        ("10.0.0.5:80", s.as_str()),
                        "{kind}"
                    );
                }
                if kind == "json" && !url.is_empty() {
                    assert_eq!(a.4, Some(0.0025));
                }
            }
        }
    }

    #[test]
    fn origin_status_is_the_try_downstream_the_response() {
        // An errors middleware turned the server's 502 into a 503 page.
        let line = json_line(503, 900, "http://10.0.0.5:80")
            .replace("\"OriginStatus\":503", "\"OriginStatus\":502");
        let (_, r) = run(&line);
        assert!(r.errors.is_empty());
        assert_eq!((r.access[0].1, r.access[0].3.as_str()), (503, "502"));
    }

    #[test]
    fn traps_and_bad_lines() {
        // Our own probes (CLF logs the User-Agent; JSON only when headers are kept).
        let (v, r) = run(&clf_line(
            502,
            11,
            "gateway-exporter/0.1.0",
            "shop@docker",
            "http://10.0.0.5:80",
        ));
        assert_eq!((v, r.access.len()), (Verdict::Known, 0));
        let (_, r) = run(&json_line(200, 2, "http://10.0.0.5:80").replace(
            "\"level\"",
            "\"request_User-Agent\":\"gateway-exporter/0.1.0\",\"level\"",
        ));
        assert!(r.access.is_empty());
        // A User-Agent with quotes in it.
        let (v, r) = run(&clf_line(
            200,
            2,
            "a \"quoted\" \"agent\" 7 \"x\"",
            "shop@docker",
            "http://10.0.0.5:80",
        ));
        assert_eq!(v, Verdict::Known);
        assert_eq!(r.access[0].0, "shop@docker");
        // Traefik v2's CLF: no origin status when Traefik answered itself.
        let (v, r) =
            run(&clf_line(503, 19, "curl", "shop@docker", "-").replace("\" 503 19 ", "\" - 19 "));
        assert_eq!((v, r.access.len(), r.errors.len()), (Verdict::Known, 0, 0));
        // Traefik's own log lines.
        let (v, r) = run(
            r#"{"level":"info","msg":"Configuration loaded from flags.","time":"2026-11-22T10:00:00Z"}"#,
        );
        assert_eq!((v, r.access.len()), (Verdict::Known, 0));
        for bad in [
            "",
            "not a log line",
            r#"{"msg":"no level, no status"}"#,
            r#"{"DownstreamStatus":"abc","level":"info"}"#,
            "10.0.0.1 - - [22/Nov/2026:10:00:00 +0000] \"GET /x HTTP/1.1\" 502 11 \"-\" \"curl\" 42 \"r\" \"u\" 3",
            // nginx's combined: no router, no server, no duration
            "127.0.0.1 - - [21/Nov/2026:23:57:38 +0000] \"GET / HTTP/1.1\" 502 157 \"-\" \"curl/7.88.1\"",
        ] {
            let (v, r) = run(bad);
            assert_eq!(v, Verdict::Unrecognised, "{bad}");
            assert!(r.errors.is_empty() && r.access.is_empty(), "{bad}");
        }
    }
}
