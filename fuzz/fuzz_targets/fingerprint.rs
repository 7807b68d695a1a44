#![no_main]
//! Error responses as raw HTTP/1 text (`HTTP/1.1 502 ...`, headers, blank line, body):
//! any status, any header that HTTP allows, any body.
use gateway_exporter::probe::fingerprint::{Vendor, classify};
use hyper::HeaderMap;
use hyper::header::{HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|&b| b == b'\n');
    let status = lines
        .next()
        .and_then(|l| l.split(|&b| b == b' ').nth(1))
        .and_then(|s| std::str::from_utf8(s).ok()?.parse().ok())
        .unwrap_or(502);
    let mut headers = HeaderMap::new();
    let mut consumed = data
        .len()
        .min(data.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1));
    for line in lines.by_ref() {
        consumed += line.len() + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (line[..colon].trim_ascii(), line[colon + 1..].trim_ascii());
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            headers.append(n, v);
        }
    }
    let body = data.get(consumed..).unwrap_or(&[]);
    let fingerprint = classify(status, &headers, body);
    assert!(Vendor::ALL.contains(&fingerprint.vendor));
    if fingerprint.vendor != Vendor::Unknown {
        assert_eq!(fingerprint.vendor.layer(), fingerprint.layer);
    }
});
