//! The host's state as the exporter's own collectors see it at a scrape: worker pools
//! (active, limit, queue, down), upstream connect checks, maintenance flags. Read from a
//! fresh registry's exposition, so a verdict reads the very series the alerts read.

use crate::base::exposition::Format;
use crate::config::Config;
use crate::registry::Registry;
use serde::Serialize;
use std::collections::BTreeMap;

/// One worker pool.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PoolState {
    pub pool: String,
    pub kind: String,
    /// The listen socket as the web server's logs name the upstream.
    pub upstream: Option<String>,
    pub up: bool,
    /// Why the status scrape failed.
    pub down_reason: Option<String>,
    pub active: Option<f64>,
    pub limit: Option<f64>,
    pub queue: Option<f64>,
}

impl PoolState {
    /// Every worker busy.
    pub fn saturated(&self) -> bool {
        matches!((self.active, self.limit), (Some(a), Some(l)) if l > 0.0 && a >= l)
    }

    pub fn describe(&self) -> String {
        if !self.up {
            return format!(
                "pool {} ({}) down: {}",
                self.pool,
                self.kind,
                self.down_reason.as_deref().unwrap_or("status unreadable")
            );
        }
        let n = |v: Option<f64>| v.map_or("?".to_string(), |v| v.to_string());
        format!(
            "pool {} ({}): {} of {} workers active, {} waiting",
            self.pool,
            self.kind,
            n(self.active),
            n(self.limit),
            n(self.queue)
        )
    }
}

/// A configured upstream's connect check.
#[derive(Clone, Debug, Serialize)]
pub struct UpstreamState {
    pub upstream: String,
    pub up: bool,
    pub reason: Option<String>,
}

/// A maintenance flag that is on.
#[derive(Clone, Debug, Serialize)]
pub struct FlagOn {
    pub path: String,
    pub vhost: String,
    pub target: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct HostState {
    pub pools: Vec<PoolState>,
    pub upstreams: Vec<UpstreamState>,
    pub maintenance: Vec<FlagOn>,
}

impl HostState {
    /// The pool whose listen socket is `upstream`.
    pub fn pool_for(&self, upstream: &str) -> Option<&PoolState> {
        self.pools
            .iter()
            .find(|p| p.upstream.as_deref() == Some(upstream))
    }
}

/// Run the workers collectors of `config` once into a registry of their own and read it.
pub async fn read(config: &Config) -> HostState {
    let registry = Registry::new();
    let collectors = crate::workers::collectors(config.worker_sections(), &registry.workers, None);
    crate::base::collector::execute(&collectors, &registry.collectors).await;
    let text = registry.encode(Format::Text004);
    let samples = samples(&text);
    let mut pools: BTreeMap<(String, String), PoolState> = BTreeMap::new();
    let mut upstreams: BTreeMap<String, UpstreamState> = BTreeMap::new();
    let mut flags: BTreeMap<String, FlagOn> = BTreeMap::new();
    let mut flag_on: Vec<String> = Vec::new();
    for s in &samples {
        let label = |k: &str| s.label(k).to_string();
        match s.name.as_str() {
            "gateway_worker_info" => pool_of(&mut pools, s).upstream = Some(label("upstream")),
            "gateway_worker_up" => pool_of(&mut pools, s).up = s.value == 1.0,
            "gateway_worker_down_info" if s.value == 1.0 => {
                pool_of(&mut pools, s).down_reason = Some(label("reason"))
            }
            "gateway_workers" if s.label("state") == "active" => {
                pool_of(&mut pools, s).active = Some(s.value)
            }
            "gateway_workers_limit" => pool_of(&mut pools, s).limit = Some(s.value),
            "gateway_worker_queue" => pool_of(&mut pools, s).queue = Some(s.value),
            "gateway_upstream_up" => {
                let u = label("upstream");
                upstreams
                    .entry(u.clone())
                    .or_insert(UpstreamState {
                        upstream: u,
                        up: false,
                        reason: None,
                    })
                    .up = s.value == 1.0;
            }
            "gateway_upstream_down_info" if s.value == 1.0 => {
                let u = label("upstream");
                upstreams
                    .entry(u.clone())
                    .or_insert(UpstreamState {
                        upstream: u,
                        up: false,
                        reason: None,
                    })
                    .reason = Some(label("reason"));
            }
            "gateway_maintenance_info" => {
                flags.insert(
                    label("path"),
                    FlagOn {
                        path: label("path"),
                        vhost: label("vhost"),
                        target: label("target"),
                    },
                );
            }
            "gateway_maintenance_mode" if s.value == 1.0 => flag_on.push(label("path")),
            _ => {}
        }
    }
    HostState {
        pools: pools.into_values().collect(),
        upstreams: upstreams.into_values().collect(),
        maintenance: flag_on
            .iter()
            .filter_map(|path| flags.get(path).cloned())
            .collect(),
    }
}

/// The pool a sample's `pool` and `kind` labels name, created on first sight.
fn pool_of<'a>(
    pools: &'a mut BTreeMap<(String, String), PoolState>,
    s: &Sample,
) -> &'a mut PoolState {
    let (pool, kind) = (s.label("pool").to_string(), s.label("kind").to_string());
    pools
        .entry((pool.clone(), kind.clone()))
        .or_insert_with(|| PoolState {
            pool,
            kind,
            ..Default::default()
        })
}

/// One sample of a text exposition.
#[derive(Debug, PartialEq)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

impl Sample {
    fn label(&self, key: &str) -> &str {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// The samples of a text 0.0.4 exposition (comments skipped, label values unescaped).
fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(sample)
        .collect()
}

fn sample(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_string();
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        rest = inner;
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = rest.find("=\"")?;
            let key = rest[..eq].trim_start_matches(',').to_string();
            let mut value = String::new();
            let mut chars = rest[eq + 2..].char_indices();
            let end = loop {
                match chars.next()? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        c => value.push(c),
                    },
                    (_, c) => value.push(c),
                }
            };
            labels.push((key, value));
            rest = &rest[eq + 2 + end + 1..];
        }
    }
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some(Sample {
        name,
        labels,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_samples_with_escaped_label_values() {
        let text = "# HELP x y\ngateway_workers{pool=\"w\\\"w\",kind=\"phpfpm\",state=\"active\"} 5\nplain 1.5\nbroken{a=\"\n";
        let s = samples(text);
        assert_eq!(s.len(), 2, "{s:?}");
        assert_eq!(s[0].label("pool"), "w\"w");
        assert_eq!(s[0].label("state"), "active");
        assert_eq!(s[0].value, 5.0);
        assert_eq!((s[1].name.as_str(), s[1].value), ("plain", 1.5));
    }

    #[test]
    fn saturation_needs_a_known_limit() {
        let pool = |active, limit| PoolState {
            up: true,
            active,
            limit,
            ..Default::default()
        };
        assert!(pool(Some(5.0), Some(5.0)).saturated());
        assert!(!pool(Some(4.0), Some(5.0)).saturated());
        assert!(!pool(Some(5.0), None).saturated());
    }
}
