//! ingress-nginx access logs: the controller's default `log-format-upstream` (`upstreaminfo`).
//! The head is nginx's `combined` plus the request length and time and the bracketed upstream
//! names, matched by [`nginx_access`]'s compiled matcher; the tail is four unquoted upstream
//! lists (`$upstream_addr $upstream_response_length $upstream_response_time
//! $upstream_status`) and `$req_id`. The lists hold spaces (`, ` between tries, ` : ` between
//! internal redirects), so no literal separator ends them; they all have the same shape,
//! though, so the tail splits into four runs of equally many words.
//! Its error log is nginx's (`nginx_error`).

use super::nginx_access::AccessFormat;
use super::sink::{Sink, Verdict};

/// The default `log-format-upstream` up to the lists; `$upstream_addr`, the last variable,
/// takes the rest of the line.
pub const HEAD: &str = "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\" $request_length $request_time [$proxy_upstream_name] [$proxy_alternative_upstream_name] $upstream_addr";

/// The lists after the upstream names: addresses, response lengths, times, statuses.
const LISTS: usize = 4;

pub struct IngressNginx {
    head: AccessFormat,
}

impl IngressNginx {
    pub fn new() -> IngressNginx {
        IngressNginx {
            head: AccessFormat::compile(HEAD).expect("the preset format compiles"),
        }
    }

    pub fn parse<S: Sink>(&self, line: &[u8], sink: &mut S) -> Verdict {
        let Some(mut values) = self.head.values(line) else {
            return Verdict::Unrecognised;
        };
        let Some([addr, _lengths, times, statuses]) = split_lists(values.upstream_addr()) else {
            return Verdict::Unrecognised;
        };
        values.set_upstreams(addr, statuses, times);
        values.emit(sink)
    }
}

/// `A L T S id` -> `[A, L, T, S]`, each list of the same number of words; None when the
/// words do not split evenly.
fn split_lists(tail: &[u8]) -> Option<[&[u8]; LISTS]> {
    let spaces = memchr::memchr_iter(b' ', tail).count();
    // `spaces + 1` words: the lists' words and the request id.
    if spaces == 0 || !spaces.is_multiple_of(LISTS) {
        return None;
    }
    let per_list = spaces / LISTS;
    let mut lists = [&tail[..0]; LISTS];
    let mut start = 0;
    let mut list = 0;
    for (n, at) in memchr::memchr_iter(b' ', tail).enumerate() {
        if (n + 1).is_multiple_of(per_list) {
            lists[list] = &tail[start..at];
            list += 1;
            start = at + 1;
            if list == LISTS {
                break;
            }
        }
    }
    let request_id = &tail[start..];
    if lists.iter().any(|l| l.is_empty()) || request_id.is_empty() {
        return None;
    }
    Some(lists)
}

impl Default for IngressNginx {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::sink::recorder::Recorder;

    fn run(line: &str) -> (Verdict, Recorder) {
        let mut r = Recorder::default();
        (IngressNginx::new().parse(line.as_bytes(), &mut r), r)
    }

    fn line(status: u16, name: &str, tail: &str) -> String {
        format!(
            "10.244.0.1 - - [22/Nov/2026:10:00:00 +0000] \"GET /x HTTP/1.1\" {status} 150 \"-\" \"curl/7.88.1\" 77 0.012 [{name}] [] {tail}"
        )
    }

    #[test]
    fn lists_of_every_shape() {
        let table: &[(&str, &str, &str, Option<f64>)] = &[
            // one try
            (
                "10.244.1.5:8080 612 0.010 200 5f1c0ffee",
                "10.244.1.5:8080",
                "200",
                Some(0.010),
            ),
            // a retried request: 502 then 200
            (
                "10.244.1.5:8080, 10.244.1.6:8080 0, 612 0.001, 0.011 502, 200 abc",
                "10.244.1.5:8080, 10.244.1.6:8080",
                "502, 200",
                Some(0.012),
            ),
            // an internal redirect to the default backend
            (
                "10.244.1.5:8080 : 10.244.9.9:80 0 : 20 0.004 : 0.001 502 : 404 abc",
                "10.244.1.5:8080 : 10.244.9.9:80",
                "502 : 404",
                Some(0.005),
            ),
            // answered by nginx itself (no upstream)
            ("- - - - abc", "-", "-", None),
        ];
        for (tail, addr, statuses, time) in table {
            let (v, r) = run(&line(502, "default-web-80", tail));
            assert_eq!(v, Verdict::Known, "{tail}");
            let a = &r.access[0];
            assert_eq!(
                (a.0.as_str(), a.1, a.2.as_str(), a.3.as_str()),
                ("default-web-80", 502, *addr, *statuses),
                "{tail}"
            );
            match (a.4, time) {
                (Some(got), Some(want)) => assert!((got - want).abs() < 1e-9, "{tail}"),
                (got, want) => assert_eq!(got, *want, "{tail}"),
            }
            assert!(r.errors.is_empty(), "access lines name no cause");
        }
        // No upstream name (a request nginx answered before routing): the vhost is `-`.
        let (_, r) = run(&line(404, "", "- - - - abc"));
        assert_eq!((r.access[0].0.as_str(), r.access[0].1), ("-", 404));
    }

    #[test]
    fn traps_count_nothing() {
        // Our own probes: known, not counted.
        let own = "10.244.0.1 - - [22/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 502 150 \"-\" \"gateway-exporter/0.1.0\" 77 0.012 [default-web-80] [] 10.244.1.5:8080 0 0.001 502 abc";
        let (v, r) = run(own);
        assert_eq!((v, r.access.len()), (Verdict::Known, 0));
        for bad in [
            // plain combined: no upstream names
            "127.0.0.1 - - [21/Nov/2026:23:57:38 +0000] \"GET / HTTP/1.1\" 502 157 \"-\" \"curl/7.88.1\"",
            // lists that do not split in four
            &line(502, "default-web-80", "10.244.1.5:8080 0 0.001 abc"),
            &line(502, "default-web-80", "10.244.1.5:8080"),
            &line(502, "default-web-80", "a  b c d e"),
            "",
        ] {
            let (v, r) = run(bad);
            assert_eq!(v, Verdict::Unrecognised, "{bad}");
            assert!(r.access.is_empty(), "{bad}");
        }
    }
}
