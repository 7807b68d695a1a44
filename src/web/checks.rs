//! Checks of client-controlled request parts and of the flags that shape the routes: each
//! answers with a message the client or the operator can act on, never a panic.

use axum::http::{HeaderMap, header};

/// The routes besides the telemetry path; it may not take any of them.
pub const FIXED_ROUTES: &[&str] = &["/", "/probe", "/-/healthy", "/-/ready", "/-/reload"];

/// A scrape timeout longer than this is taken as this: the probe's own module timeout
/// (at most 365 days) is what bounds it anyway.
const MAX_SCRAPE_TIMEOUT_SECONDS: f64 = 365.0 * 86400.0;

/// `--web.telemetry-path`: an absolute path of plain characters that no other route has.
pub fn telemetry_path(path: &str) -> Result<(), String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/-._~".contains(c);
    if !path.starts_with('/') {
        return Err(format!(
            "--web.telemetry-path {path:?} must start with '/' (e.g. /metrics)"
        ));
    }
    if let Some(c) = path.chars().find(|c| !plain(*c)) {
        return Err(format!(
            "--web.telemetry-path {path:?}: {c:?} is not allowed (letters, digits and / - . _ ~ only)"
        ));
    }
    if path.contains("//") {
        return Err(format!(
            "--web.telemetry-path {path:?} has an empty segment"
        ));
    }
    if FIXED_ROUTES.contains(&path) {
        return Err(format!(
            "--web.telemetry-path {path:?} is taken by another route ({})",
            FIXED_ROUTES.join(", ")
        ));
    }
    Ok(())
}

/// `X-Prometheus-Scrape-Timeout-Seconds`: absent is `None`; NaN, infinite, zero, negative
/// or not a number is an error (400); beyond a year it is clamped.
pub fn scrape_timeout(headers: &HeaderMap) -> Result<Option<f64>, String> {
    let Some(value) = headers.get("X-Prometheus-Scrape-Timeout-Seconds") else {
        return Ok(None);
    };
    let seconds = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .ok_or_else(|| {
            format!(
                "invalid X-Prometheus-Scrape-Timeout-Seconds {:?}: a positive number of seconds is expected",
                String::from_utf8_lossy(value.as_bytes())
            )
        })?;
    Ok(Some(seconds.min(MAX_SCRAPE_TIMEOUT_SECONDS)))
}

/// Why a request looks as if a page of another site sent it (a browser tells with
/// `Sec-Fetch-Site`, and with an `Origin` that is not this server); `None` when it does not.
pub fn cross_site(headers: &HeaderMap) -> Option<String> {
    if headers
        .get("Sec-Fetch-Site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return Some("Sec-Fetch-Site: cross-site".into());
    }
    let origin = headers.get(header::ORIGIN)?;
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| url::Url::parse(o).ok())
        .and_then(|u| {
            let host = u.host_str()?.to_string();
            Some(match u.port() {
                Some(port) => format!("{host}:{port}"),
                None => host,
            })
        });
    match (origin_host, host) {
        (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => None,
        _ => Some(format!(
            "Origin {:?} is not this server ({:?})",
            String::from_utf8_lossy(origin.as_bytes()),
            host.unwrap_or("no Host")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn telemetry_paths() {
        for good in ["/metrics", "/x/metrics", "/m-1.2_~"] {
            assert!(telemetry_path(good).is_ok(), "{good}");
        }
        for (bad, says) in [
            ("metrics", "must start with '/'"),
            ("", "must start with '/'"),
            ("/", "taken by another route"),
            ("/probe", "taken by another route"),
            ("/-/healthy", "taken by another route"),
            ("/{x}", "is not allowed"),
            ("/*rest", "is not allowed"),
            ("/a b", "is not allowed"),
            ("//", "empty segment"),
        ] {
            let message = telemetry_path(bad).unwrap_err();
            assert!(message.contains(says), "{bad:?}: {message}");
        }
    }

    #[test]
    fn scrape_timeouts_are_bounded_or_refused() {
        let name = "x-prometheus-scrape-timeout-seconds";
        assert_eq!(scrape_timeout(&headers(&[])), Ok(None));
        assert_eq!(scrape_timeout(&headers(&[(name, "10")])), Ok(Some(10.0)));
        assert_eq!(
            scrape_timeout(&headers(&[(name, "1e20")])),
            Ok(Some(MAX_SCRAPE_TIMEOUT_SECONDS))
        );
        for bad in ["NaN", "inf", "-1", "0", "ten", ""] {
            assert!(scrape_timeout(&headers(&[(name, bad)])).is_err(), "{bad}");
        }
    }

    #[test]
    fn cross_site_requests_are_told_apart() {
        assert_eq!(cross_site(&headers(&[("host", "127.0.0.1:9")])), None);
        assert_eq!(
            cross_site(&headers(&[
                ("host", "127.0.0.1:9"),
                ("origin", "http://127.0.0.1:9")
            ])),
            None
        );
        assert_eq!(
            cross_site(&headers(&[
                ("host", "h"),
                ("sec-fetch-site", "same-origin")
            ])),
            None
        );
        for refused in [
            headers(&[("host", "127.0.0.1:9"), ("origin", "http://evil.example")]),
            headers(&[("host", "127.0.0.1:9"), ("origin", "http://127.0.0.1:10")]),
            headers(&[("host", "127.0.0.1:9"), ("origin", "null")]),
            headers(&[("origin", "http://127.0.0.1:9")]),
            headers(&[("host", "h"), ("sec-fetch-site", "cross-site")]),
        ] {
            assert!(cross_site(&refused).is_some(), "{refused:?}");
        }
    }
}
