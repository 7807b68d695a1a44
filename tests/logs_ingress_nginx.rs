//! ingress-nginx's default access log (`log-format-upstream`, the `upstreaminfo` format),
//! written by a real nginx set up the way the controller sets it up: the upstream name per
//! location, a retried request, an internal redirect, a timeout and nginx's own answer. The
//! `ingress_nginx` format reads each try of the unquoted upstream lists; the error log is
//! nginx's and counts the causes.

mod common;
#[path = "common/servers.rs"]
mod servers;

use common::*;
use gateway_exporter::logs::ingress_nginx::HEAD;
use servers::one_shot;
use std::time::Duration;

#[test]
fn ingress_nginx_upstreaminfo_lines_by_try() {
    let ok = FakeUpstream::respond("200 OK", &[], "fine");
    let hang = FakeUpstream::start(Behaviour::Hang);
    let (dead, dead2) = (free_port(), free_port());
    let port = free_port();
    // The controller's format: the preset head and the four lists with the request id.
    let format = format!(
        "{HEAD} $upstream_response_length $upstream_response_time $upstream_status $req_id"
    );
    let http = format!(
        r#"
  log_format upstreaminfo '{format}';
  upstream default-web-80 {{ server 127.0.0.1:{dead}; server 127.0.0.1:{ok}; }}
  upstream default-dead-80 {{ server 127.0.0.1:{dead2}; }}
  upstream default-slow-80 {{ server 127.0.0.1:{hang}; }}
  upstream default-fallback-80 {{ server 127.0.0.1:{ok}; }}
  server {{
    listen 127.0.0.1:{port};
    server_name shop.test;
    access_log {{dir}}/ingress.log upstreaminfo;
    set $req_id $request_id;
    set $proxy_alternative_upstream_name "";
    proxy_connect_timeout 1s; proxy_read_timeout 1s;
    location /web {{
      set $proxy_upstream_name "default-web-80";
      proxy_next_upstream error timeout;
      proxy_pass http://default-web-80;
    }}
    location /dead {{
      set $proxy_upstream_name "default-dead-80";
      proxy_pass http://default-dead-80;
    }}
    location /slow {{
      set $proxy_upstream_name "default-slow-80";
      proxy_pass http://default-slow-80;
    }}
    location /redirected {{
      set $proxy_upstream_name "default-dead-80";
      proxy_intercept_errors on;
      error_page 502 = @fallback;
      proxy_pass http://default-dead-80;
    }}
    location @fallback {{
      set $proxy_upstream_name "default-fallback-80";
      proxy_pass http://default-fallback-80;
    }}
    location /nginx {{ return 404; }}
  }}
"#,
        ok = ok.port,
        hang = hang.port,
    );
    let nginx = Nginx::start(&http, port);
    let paths = ["/web", "/web", "/dead", "/slow", "/redirected", "/nginx"];
    let statuses: Vec<u16> = paths.iter().map(|p| get(port, p).status).collect();
    let access = nginx.dir.path().join("ingress.log");
    let lines = eventually(Duration::from_secs(5), "requests logged", || {
        let text = std::fs::read_to_string(&access).unwrap_or_default();
        (text.lines().count() >= paths.len()).then_some(text)
    });
    let metrics = one_shot(&format!(
        "logs:\n  - {{path: {}, format: ingress_nginx, name: ing}}\n  - {{path: {}, format: nginx_error, name: err}}\n",
        access.display(),
        nginx.error_log.display()
    ));
    let ctx = format!(
        "statuses {statuses:?}\n{lines}\n{}\n{metrics}",
        nginx.error_log_text()
    );
    assert_eq!(statuses, [200, 200, 502, 504, 200, 404], "{ctx}");
    assert_eq!(
        sum(
            &metrics,
            "gateway_log_lines_unrecognised_total",
            &[("log", "ing")]
        ),
        0.0,
        "{ctx}"
    );
    // Responses under the upstream name (the format logs no host); nginx's own 404 under `-`.
    let responses = |vhost: &str, status: &str| {
        sum(
            &metrics,
            "gateway_http_responses_total",
            &[("log", "ing"), ("vhost", vhost), ("status", status)],
        )
    };
    assert_eq!(responses("default-web-80", "200"), 2.0, "{ctx}");
    assert_eq!(responses("default-dead-80", "502"), 1.0, "{ctx}");
    assert_eq!(responses("default-slow-80", "504"), 1.0, "{ctx}");
    // `$proxy_upstream_name` is the last one set: the fallback's, after the redirect.
    assert_eq!(responses("default-fallback-80", "200"), 1.0, "{ctx}");
    assert_eq!(responses("-", "404"), 1.0, "{ctx}");
    // Every try: the dead peer's synthesised 502s (twice as first try of /web, once behind
    // the redirect), the timeout's 504, the good peer's 200s.
    let tries = |upstream: String, status: &str| {
        sum(
            &metrics,
            "gateway_upstream_tries_total",
            &[("log", "ing"), ("upstream", &upstream), ("status", status)],
        )
    };
    let web_first_dead = tries(format!("127.0.0.1:{dead}"), "502");
    assert_eq!(
        web_first_dead, 1.0,
        "round robin: one /web request tried the dead peer first\n{ctx}"
    );
    assert_eq!(tries(format!("127.0.0.1:{dead2}"), "502"), 2.0, "{ctx}");
    assert_eq!(
        tries(format!("127.0.0.1:{}", hang.port), "504"),
        1.0,
        "{ctx}"
    );
    assert_eq!(tries(format!("127.0.0.1:{}", ok.port), "200"), 3.0, "{ctx}");
    // The causes come from the error log, one per failed try.
    let errors = |cause: &str| {
        sum(
            &metrics,
            "gateway_upstream_errors_total",
            &[("log", "err"), ("cause", cause)],
        )
    };
    assert_eq!(
        (errors("connect_refused"), errors("timeout")),
        (3.0, 1.0),
        "{ctx}"
    );
    promtool_check_metrics(&metrics).unwrap();
}
