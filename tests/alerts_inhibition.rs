//! Every inhibit rule of alertmanager/alertmanager.yml against a real Alertmanager: alerts
//! are pushed to `/api/v2/alerts` with the labels the rules produce (static labels read from
//! the rule file), and each case checks that the incident the rule explains pages once (the
//! symptom held with `status.inhibitedBy` = the cause) while unrelated incidents beside it
//! (same host, another vhost / upstream / pool / target; or the same thing on another host)
//! still reach their receiver.
//!
//! Each case runs twice: with the rule it is about as the only inhibit rule (the rule alone
//! does it), and with the shipped set (no other rule hides the incident beside it).

mod common;
#[path = "common/prometheus.rs"]
mod prometheus;

use prometheus::{
    Alertmanager, Matcher, Webhook, alertmanager_config, alerts, load_yaml, repo_path,
};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::thread;
use std::time::{Duration, Instant};

/// Labels of one alert beyond those its rule sets statically (alertname first).
type Labels = &'static [(&'static str, &'static str)];

struct Case {
    /// The root cause.
    source: Labels,
    /// Its symptom: must be inhibited by `source`.
    target: Labels,
    /// Incidents of the symptom's kind that `source` does not explain: they must notify.
    beside: &'static [Labels],
}

const SHOP_SOCK: &str = "unix:/run/php/shop.sock";

/// The full labels of an alert as Prometheus would send them: the rule's static labels
/// (severity, layer, cause) plus the given ones.
fn full_labels(labels: Labels) -> Map<String, Value> {
    let name = labels[0].1;
    assert_eq!(labels[0].0, "alertname");
    let rule = alerts()
        .into_iter()
        .find(|r| r.alert.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no alert {name} in the rule file"));
    let mut out: Map<String, Value> = rule
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
        .collect();
    for (k, v) in labels {
        out.insert(k.to_string(), Value::from(*v));
    }
    out
}

/// The receiver an alert of this severity is routed to.
fn receiver(labels: &Map<String, Value>) -> &'static str {
    match labels["severity"].as_str() {
        Some("critical") => "pager",
        Some("warning") => "tickets",
        _ => "blackhole",
    }
}

fn matches_all(matchers: &[Matcher], labels: &Map<String, Value>) -> bool {
    matchers.iter().all(|m| {
        m.is_match(
            labels
                .get(&m.label)
                .and_then(Value::as_str)
                .unwrap_or_default(),
        )
    })
}

/// The shipped inhibit rules that let `source` silence `target`.
fn rules_for(source: &Map<String, Value>, target: &Map<String, Value>) -> Vec<Value> {
    let config = load_yaml(&repo_path("alertmanager/alertmanager.yml"));
    config["inhibit_rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            matches_all(&Matcher::list(&r["source_matchers"]), source)
                && matches_all(&Matcher::list(&r["target_matchers"]), target)
                && r["equal"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|l| source.get(l.as_str().unwrap()) == target.get(l.as_str().unwrap()))
        })
        .cloned()
        .collect()
}

/// A shipped-config Alertmanager whose inhibit rules are `inhibit_rules`, delivering to a webhook.
fn alertmanager(inhibit_rules: Option<Vec<Value>>) -> (Alertmanager, Webhook) {
    let webhook = Webhook::start();
    let mut config: Value = serde_json::from_str(&alertmanager_config(&webhook)).unwrap();
    if let Some(rules) = inhibit_rules {
        config["inhibit_rules"] = Value::from(rules);
    }
    (Alertmanager::start(&config.to_string()), webhook)
}

/// The label sets notified to each receiver.
fn notified(webhook: &Webhook) -> BTreeMap<String, Vec<Map<String, Value>>> {
    let mut out: BTreeMap<String, Vec<Map<String, Value>>> = BTreeMap::new();
    for n in webhook.received() {
        let receiver = n["receiver"].as_str().unwrap().to_string();
        for a in n["alerts"].as_array().unwrap() {
            out.entry(receiver.clone())
                .or_default()
                .push(a["labels"].as_object().unwrap().clone());
        }
    }
    out
}

/// Pushes the case's alerts to an Alertmanager with `inhibit_rules` and checks the outcome.
fn check(case: &Case, inhibit_rules: Option<Vec<Value>>, what: &str) {
    let (am, webhook) = alertmanager(inhibit_rules);
    let source = full_labels(case.source);
    let target = full_labels(case.target);
    let beside: Vec<Map<String, Value>> = case.beside.iter().map(|l| full_labels(l)).collect();
    let all: Vec<&Map<String, Value>> = [&source, &target].into_iter().chain(&beside).collect();
    let payload: Vec<Value> = all
        .iter()
        .map(|l| json!({"labels": l, "annotations": {"summary": "pushed by the test."}}))
        .collect();
    let must_notify: Vec<&Map<String, Value>> = [&source].into_iter().chain(&beside).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // Pushed again each round, as Prometheus resends firing alerts.
        am.push(&Value::from(payload.clone()));
        let held = am.alerts();
        let find = |labels: &Map<String, Value>| {
            held.iter()
                .find(|a| a["labels"].as_object() == Some(labels))
                .cloned()
        };
        let got = notified(&webhook);
        let delivered = |l: &Map<String, Value>| {
            got.get(receiver(l))
                .is_some_and(|v| v.iter().any(|n| n == l))
        };
        let source_fp = find(&source).map(|a| a["fingerprint"].clone());
        let target_by = find(&target).map(|a| a["status"]["inhibitedBy"].clone());
        if source_fp.is_some()
            && target_by == source_fp.clone().map(|fp| json!([fp]))
            && must_notify.iter().all(|l| delivered(l))
        {
            for l in &beside {
                let by = &find(l).unwrap()["status"]["inhibitedBy"];
                assert_eq!(by, &json!([]), "{what}: {l:?} is inhibited by {by}");
            }
            break;
        }
        let beside_by: Vec<Option<Value>> = beside
            .iter()
            .map(|l| find(l).map(|a| a["status"]["inhibitedBy"].clone()))
            .collect();
        assert!(
            Instant::now() < deadline,
            "{what}: after 30s, the symptom is inhibited by {target_by:?} (the cause is {source_fp:?}), \
             the incidents beside it by {beside_by:?}; notified {got:#?}"
        );
        thread::sleep(Duration::from_millis(300));
    }
    // Past another group interval: the symptom reached no receiver at all.
    thread::sleep(Duration::from_secs(3));
    let got = notified(&webhook);
    for (receiver, labels) in &got {
        assert!(
            !labels.contains(&target),
            "{what}: the inhibited {target:?} reached {receiver}"
        );
    }
}

/// Runs a case against the one shipped rule that covers it, alone, then the shipped set.
fn prove(case: &Case) {
    let rules = rules_for(&full_labels(case.source), &full_labels(case.target));
    assert_eq!(
        rules.len(),
        1,
        "exactly one shipped inhibit rule should explain {:?} by {:?}: {rules:#?}",
        case.target[0].1,
        case.source[0].1
    );
    check(
        case,
        Some(rules.clone()),
        &format!("rule {} alone", rules[0]),
    );
    check(case, None, "the shipped rules");
}

const A_DOWN_UPSTREAM_EXPLAINS_THE_REFUSED_CONNECTIONS_TO_IT_ONLY: Case = Case {
    source: &[
        ("alertname", "GatewayUpstreamDown"),
        ("job", "gateway"),
        ("instance", "web1:10211"),
        ("upstream", "127.0.0.1:8080"),
    ],
    target: &[
        ("alertname", "GatewayUpstreamConnectionRefused"),
        ("job", "gateway"),
        ("instance", "web1:10211"),
        ("vhost", "shop.example"),
        ("upstream", "127.0.0.1:8080"),
        ("cause", "connect_refused"),
    ],
    beside: &[
        // Another app on the same host.
        &[
            ("alertname", "GatewayUpstreamConnectionRefused"),
            ("job", "gateway"),
            ("instance", "web1:10211"),
            ("vhost", "blog.example"),
            ("upstream", "127.0.0.1:9000"),
            ("cause", "connect_refused"),
        ],
        // The same address on another host.
        &[
            ("alertname", "GatewayUpstreamConnectionRefused"),
            ("job", "gateway"),
            ("instance", "web2:10211"),
            ("vhost", "shop.example"),
            ("upstream", "127.0.0.1:8080"),
            ("cause", "connect_refused"),
        ],
    ],
};

#[test]
fn a_down_upstream_explains_the_refused_connections_to_it_only() {
    prove(&A_DOWN_UPSTREAM_EXPLAINS_THE_REFUSED_CONNECTIONS_TO_IT_ONLY);
}

const A_DOWN_UPSTREAM_EXPLAINS_THE_FULL_QUEUE_OF_THE_SOCKET_POOL_ON_IT_ONLY: Case = Case {
    source: &[
        ("alertname", "GatewayUpstreamDown"),
        ("job", "gateway"),
        ("instance", "web1:10211"),
        ("upstream", "unix:/run/app.sock"),
    ],
    target: &[
        ("alertname", "GatewaySocketPoolSaturated"),
        ("job", "gateway"),
        ("instance", "web1:10211"),
        ("pool", "app"),
        ("kind", "socket"),
        ("upstream", "unix:/run/app.sock"),
    ],
    beside: &[&[
        ("alertname", "GatewaySocketPoolSaturated"),
        ("job", "gateway"),
        ("instance", "web1:10211"),
        ("pool", "api"),
        ("kind", "socket"),
        ("upstream", "unix:/run/api.sock"),
    ]],
};

#[test]
fn a_down_upstream_explains_the_full_queue_of_the_socket_pool_on_it_only() {
    prove(&A_DOWN_UPSTREAM_EXPLAINS_THE_FULL_QUEUE_OF_THE_SOCKET_POOL_ON_IT_ONLY);
}

const THE_DOWN_SERVERS_OF_A_GROUP_EXPLAIN_ITS_NO_LIVE_UPSTREAMS_ONLY: Case = Case {
    source: &[
        ("alertname", "GatewayUpstreamDown"),
        ("job", "gateway"),
        ("instance", "web1:10211"),
        ("upstream", "10.0.0.7:8080"),
        ("group", "backend"),
    ],
    target: &[
        ("alertname", "GatewayNoLiveUpstreams"),
        ("job", "gateway"),
        ("instance", "web1:10211"),
        ("vhost", "shop.example"),
        ("upstream", "backend"),
        ("group", "backend"),
        ("cause", "no_live_upstreams"),
    ],
    beside: &[
        // Another group on the same host.
        &[
            ("alertname", "GatewayNoLiveUpstreams"),
            ("job", "gateway"),
            ("instance", "web1:10211"),
            ("vhost", "api.example"),
            ("upstream", "api"),
            ("group", "api"),
            ("cause", "no_live_upstreams"),
        ],
        // The same group on another host.
        &[
            ("alertname", "GatewayNoLiveUpstreams"),
            ("job", "gateway"),
            ("instance", "web2:10211"),
            ("vhost", "shop.example"),
            ("upstream", "backend"),
            ("group", "backend"),
            ("cause", "no_live_upstreams"),
        ],
    ],
};

#[test]
fn the_down_servers_of_a_group_explain_its_no_live_upstreams_only() {
    prove(&THE_DOWN_SERVERS_OF_A_GROUP_EXPLAIN_ITS_NO_LIVE_UPSTREAMS_ONLY);
}

const A_DOWN_POOL_EXPLAINS_THE_CONNECT_ERRORS_OF_ITS_SOCKET_ONLY: Case = Case {
    source: &[
        ("alertname", "GatewayWorkerPoolDown"),
        ("job", "gateway"),
        ("instance", "web1:10211"),
        ("pool", "shop"),
        ("kind", "phpfpm"),
        ("upstream", SHOP_SOCK),
    ],
    target: &[
        ("alertname", "GatewayUpstreamSocketMissing"),
        ("job", "gateway"),
        ("instance", "web1:10211"),
        ("vhost", "shop.example"),
        ("upstream", SHOP_SOCK),
        ("cause", "socket_missing"),
    ],
    beside: &[&[
        ("alertname", "GatewayUpstreamSocketMissing"),
        ("job", "gateway"),
        ("instance", "web1:10211"),
        ("vhost", "blog.example"),
        ("upstream", "unix:/run/php/blog.sock"),
        ("cause", "socket_missing"),
    ]],
};

#[test]
fn a_down_pool_explains_the_connect_errors_of_its_socket_only() {
    prove(&A_DOWN_POOL_EXPLAINS_THE_CONNECT_ERRORS_OF_ITS_SOCKET_ONLY);
}

const A_SATURATED_POOL_EXPLAINS_THE_TIMEOUTS_OF_ITS_SOCKET_ONLY: Case = Case {
    source: &[
        ("alertname", "GatewayWorkerPoolSaturated"),
        ("job", "gateway"),
        ("instance", "web1:10211"),
        ("pool", "shop"),
        ("kind", "phpfpm"),
        ("upstream", SHOP_SOCK),
    ],
    target: &[
        ("alertname", "GatewayUpstreamTimeout"),
        ("job", "gateway"),
        ("instance", "web1:10211"),
        ("vhost", "shop.example"),
        ("upstream", SHOP_SOCK),
        ("cause", "timeout"),
    ],
    beside: &[
        // A slow app behind the same nginx.
        &[
            ("alertname", "GatewayUpstreamTimeout"),
            ("job", "gateway"),
            ("instance", "web1:10211"),
            ("vhost", "api.example"),
            ("upstream", "127.0.0.1:9000"),
            ("cause", "timeout"),
        ],
    ],
};

#[test]
fn a_saturated_pool_explains_the_timeouts_of_its_socket_only() {
    prove(&A_SATURATED_POOL_EXPLAINS_THE_TIMEOUTS_OF_ITS_SOCKET_ONLY);
}

const A_BUILDING_QUEUE_EXPLAINS_THE_STALLED_STATUS_OF_ITS_POOL_ONLY: Case = Case {
    source: &[
        ("alertname", "GatewayWorkerQueueBuilding"),
        ("job", "gateway"),
        ("instance", "web1:10211"),
        ("pool", "shop"),
        ("kind", "phpfpm"),
    ],
    target: &[
        ("alertname", "GatewayWorkerStatusStalled"),
        ("job", "gateway"),
        ("instance", "web1:10211"),
        ("pool", "shop"),
        ("kind", "phpfpm"),
    ],
    beside: &[
        &[
            ("alertname", "GatewayWorkerStatusStalled"),
            ("job", "gateway"),
            ("instance", "web1:10211"),
            ("pool", "blog"),
            ("kind", "phpfpm"),
        ],
        &[
            ("alertname", "GatewayWorkerStatusStalled"),
            ("job", "gateway"),
            ("instance", "web2:10211"),
            ("pool", "shop"),
            ("kind", "phpfpm"),
        ],
    ],
};

#[test]
fn a_building_queue_explains_the_stalled_status_of_its_pool_only() {
    prove(&A_BUILDING_QUEUE_EXPLAINS_THE_STALLED_STATUS_OF_ITS_POOL_ONLY);
}

const A_LOGGED_CONNECT_FAILURE_EXPLAINS_NO_LIVE_UPSTREAMS_OF_ITS_VHOST_ONLY: Case = Case {
    source: &[
        ("alertname", "GatewayUpstreamConnectTimeout"),
        ("job", "gateway"),
        ("instance", "web1:10211"),
        ("vhost", "shop.example"),
        ("upstream", "10.0.0.7:8080"),
        ("cause", "connect_timeout"),
    ],
    target: &[
        ("alertname", "GatewayNoLiveUpstreams"),
        ("job", "gateway"),
        ("instance", "web1:10211"),
        ("vhost", "shop.example"),
        ("upstream", "backend"),
        ("group", "backend"),
        ("cause", "no_live_upstreams"),
    ],
    beside: &[&[
        ("alertname", "GatewayNoLiveUpstreams"),
        ("job", "gateway"),
        ("instance", "web1:10211"),
        ("vhost", "api.example"),
        ("upstream", "api"),
        ("group", "api"),
        ("cause", "no_live_upstreams"),
    ]],
};

#[test]
fn a_logged_connect_failure_explains_no_live_upstreams_of_its_vhost_only() {
    prove(&A_LOGGED_CONNECT_FAILURE_EXPLAINS_NO_LIVE_UPSTREAMS_OF_ITS_VHOST_ONLY);
}

/// The example: a cause on vhost `blog` must not hide the probe of `shop`.
const A_CRITICAL_CAUSE_EXPLAINS_THE_PROBE_OF_ITS_VHOST_ONLY: Case = Case {
    source: &[
        ("alertname", "GatewayUpstreamTimeout"),
        ("job", "gateway"),
        ("instance", "web1:10211"),
        ("vhost", "blog.example"),
        ("upstream", "127.0.0.1:9000"),
        ("cause", "timeout"),
    ],
    target: &[
        ("alertname", "GatewayProbe5xx"),
        ("job", "gateway"),
        ("instance", "web1:10211"),
        ("target", "blog"),
        ("vhost", "blog.example"),
    ],
    beside: &[
        &[
            ("alertname", "GatewayProbe5xx"),
            ("job", "gateway"),
            ("instance", "web1:10211"),
            ("target", "shop"),
            ("vhost", "shop.example"),
        ],
        &[
            ("alertname", "GatewayProbe5xx"),
            ("job", "gateway"),
            ("instance", "web2:10211"),
            ("target", "blog"),
            ("vhost", "blog.example"),
        ],
    ],
};

#[test]
fn a_critical_cause_explains_the_probe_of_its_vhost_only() {
    prove(&A_CRITICAL_CAUSE_EXPLAINS_THE_PROBE_OF_ITS_VHOST_ONLY);
}

const A_CRITICAL_CAUSE_EXPLAINS_THE_BURN_RATE_OF_ITS_VHOST_ONLY: Case = Case {
    source: &[
        ("alertname", "GatewayUpstreamConnectionRefused"),
        ("job", "gateway"),
        ("instance", "web1:10211"),
        ("vhost", "shop.example"),
        ("upstream", "127.0.0.1:8080"),
        ("cause", "connect_refused"),
    ],
    target: &[
        ("alertname", "GatewayVhost5xxBurnRateFast"),
        ("job", "gateway"),
        ("vhost", "shop.example"),
    ],
    beside: &[
        // Another vhost of the fleet.
        &[
            ("alertname", "GatewayVhost5xxBurnRateFast"),
            ("job", "gateway"),
            ("vhost", "blog.example"),
        ],
        // The same vhost name in another fleet (job).
        &[
            ("alertname", "GatewayVhost5xxBurnRateFast"),
            ("job", "gateway-eu"),
            ("vhost", "shop.example"),
        ],
    ],
};

#[test]
fn a_critical_cause_explains_the_burn_rate_of_its_vhost_only() {
    prove(&A_CRITICAL_CAUSE_EXPLAINS_THE_BURN_RATE_OF_ITS_VHOST_ONLY);
}

const A_FAILING_ORIGIN_EXPLAINS_ITS_PUBLIC_PROBE_ONLY: Case = Case {
    source: &[
        ("alertname", "GatewayProbeOriginFailing"),
        ("job", "gateway"),
        ("instance", "web1:10211"),
        ("target", "shop"),
        ("vhost", "shop.example"),
    ],
    target: &[
        ("alertname", "GatewayProbeConnectFailed"),
        ("job", "gateway"),
        ("instance", "web1:10211"),
        ("target", "shop"),
        ("vhost", "shop.example"),
    ],
    beside: &[&[
        ("alertname", "GatewayProbeConnectFailed"),
        ("job", "gateway"),
        ("instance", "web1:10211"),
        ("target", "blog"),
        ("vhost", "blog.example"),
    ]],
};

#[test]
fn a_failing_origin_explains_its_public_probe_only() {
    prove(&A_FAILING_ORIGIN_EXPLAINS_ITS_PUBLIC_PROBE_ONLY);
}

/// A host out of CPU explains its timeouts, never its TLS errors nor another host's timeouts.
const AN_EXHAUSTED_HOST_EXPLAINS_ITS_OWN_TIMEOUTS_ONLY: Case = Case {
    source: &[
        ("alertname", "GatewayErrorsWithCpuSaturated"),
        ("job", "gateway"),
        ("instance", "web1:10211"),
        ("host", "web1"),
    ],
    target: &[
        ("alertname", "GatewayUpstreamTimeout"),
        ("job", "gateway"),
        ("instance", "web1:10211"),
        ("vhost", "shop.example"),
        ("upstream", "127.0.0.1:8080"),
        ("cause", "timeout"),
    ],
    beside: &[
        &[
            ("alertname", "GatewayUpstreamTLSError"),
            ("job", "gateway"),
            ("instance", "web1:10211"),
            ("vhost", "shop.example"),
            ("upstream", "10.0.0.9:443"),
            ("cause", "ssl_handshake"),
        ],
        &[
            ("alertname", "GatewayUpstreamTimeout"),
            ("job", "gateway"),
            ("instance", "web2:10211"),
            ("vhost", "shop.example"),
            ("upstream", "127.0.0.1:8080"),
            ("cause", "timeout"),
        ],
    ],
};

#[test]
fn an_exhausted_host_explains_its_own_timeouts_only() {
    prove(&AN_EXHAUSTED_HOST_EXPLAINS_ITS_OWN_TIMEOUTS_ONLY);
}

/// Every case above, for the coverage check.
const CASES: &[&Case] = &[
    &A_DOWN_UPSTREAM_EXPLAINS_THE_REFUSED_CONNECTIONS_TO_IT_ONLY,
    &A_DOWN_UPSTREAM_EXPLAINS_THE_FULL_QUEUE_OF_THE_SOCKET_POOL_ON_IT_ONLY,
    &THE_DOWN_SERVERS_OF_A_GROUP_EXPLAIN_ITS_NO_LIVE_UPSTREAMS_ONLY,
    &A_DOWN_POOL_EXPLAINS_THE_CONNECT_ERRORS_OF_ITS_SOCKET_ONLY,
    &A_SATURATED_POOL_EXPLAINS_THE_TIMEOUTS_OF_ITS_SOCKET_ONLY,
    &A_BUILDING_QUEUE_EXPLAINS_THE_STALLED_STATUS_OF_ITS_POOL_ONLY,
    &A_LOGGED_CONNECT_FAILURE_EXPLAINS_NO_LIVE_UPSTREAMS_OF_ITS_VHOST_ONLY,
    &A_CRITICAL_CAUSE_EXPLAINS_THE_PROBE_OF_ITS_VHOST_ONLY,
    &A_CRITICAL_CAUSE_EXPLAINS_THE_BURN_RATE_OF_ITS_VHOST_ONLY,
    &A_FAILING_ORIGIN_EXPLAINS_ITS_PUBLIC_PROBE_ONLY,
    &AN_EXHAUSTED_HOST_EXPLAINS_ITS_OWN_TIMEOUTS_ONLY,
    &A_CHECKED_DATABASE_EXPLAINS_THE_APP_ERRORS_OF_ITS_HOST_ONLY,
];

const A_CHECKED_DATABASE_EXPLAINS_THE_APP_ERRORS_OF_ITS_HOST_ONLY: Case = Case {
    source: &[
        ("alertname", "GatewayUpstreamDown"),
        ("job", "gateway"),
        ("instance", "web1:10211"),
        ("upstream", "mysql@127.0.0.1:3306"),
    ],
    target: &[
        ("alertname", "GatewayAppDatabaseDown"),
        ("job", "gateway"),
        ("instance", "web1:10211"),
        ("vhost", "shop.example"),
    ],
    beside: &[
        // The database errors of another host.
        &[
            ("alertname", "GatewayAppDatabaseDown"),
            ("job", "gateway"),
            ("instance", "web2:10211"),
            ("vhost", "shop.example"),
        ],
    ],
};

#[test]
fn a_checked_database_explains_the_app_errors_of_its_host_only() {
    prove(&A_CHECKED_DATABASE_EXPLAINS_THE_APP_ERRORS_OF_ITS_HOST_ONLY);
}

/// Each shipped inhibit rule is the one rule of at least one case above.
#[test]
fn every_inhibit_rule_has_its_case() {
    let covered: Vec<Value> = CASES
        .iter()
        .flat_map(|c| rules_for(&full_labels(c.source), &full_labels(c.target)))
        .collect();
    let config = load_yaml(&repo_path("alertmanager/alertmanager.yml"));
    for rule in config["inhibit_rules"].as_array().unwrap() {
        assert!(covered.contains(rule), "no case proves {rule}");
    }
}
