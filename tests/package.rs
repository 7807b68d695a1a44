//! The Debian package as a sysadmin gets it: built by `scripts/package.sh` (with the binary
//! this test run built), its contents and maintainer scripts, the systemd unit through
//! `systemd-analyze verify` and `security`, and a real `dpkg` install into a scratch root
//! (maintainer scripts run with DPKG_ROOT) whose binary is started with the packaged
//! config and scraped: build revision, process metrics, JSON logs, reload, then purge.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

const UNIT: &str = "usr/lib/systemd/system/gateway-exporter.service";
const CONFIG: &str = "etc/gateway-exporter/config.yml";
const DEFAULTS: &str = "etc/default/gateway-exporter";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8(ok(cmd).stdout).unwrap()
}

/// The .deb of this test run, built once for every test of this file.
fn deb() -> &'static Path {
    static DEB: OnceLock<PathBuf> = OnceLock::new();
    DEB.get_or_init(|| {
        let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("package-test");
        let _ = std::fs::remove_dir_all(&out_dir);
        let printed = stdout(
            Command::new(repo().join("scripts/package.sh"))
                .arg("--binary")
                .arg(env!("CARGO_BIN_EXE_gateway-exporter"))
                .arg("--out")
                .arg(&out_dir),
        );
        PathBuf::from(printed.trim())
    })
}

/// The package's files and control files unpacked (no maintainer script run).
fn unpacked() -> tempfile::TempDir {
    let root = tempdir();
    ok(Command::new("dpkg-deb")
        .arg("-x")
        .arg(deb())
        .arg(root.path()));
    ok(Command::new("dpkg-deb")
        .arg("-e")
        .arg(deb())
        .arg(root.path().join("DEBIAN")));
    root
}

fn control_field(control: &str, field: &str) -> String {
    control
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}: ")))
        .unwrap_or_else(|| panic!("no {field} in control:\n{control}"))
        .to_string()
}

#[test]
fn package_holds_what_an_install_needs() {
    let deb = deb();
    let version = env!("CARGO_PKG_VERSION");
    let arch = stdout(Command::new("dpkg").arg("--print-architecture"));
    assert_eq!(
        deb.file_name().unwrap().to_str().unwrap(),
        format!("gateway-exporter_{version}_{}.deb", arch.trim())
    );
    assert!(deb.starts_with(env!("CARGO_TARGET_TMPDIR")));
    let listing = stdout(Command::new("dpkg-deb").arg("-c").arg(deb));
    for path in [
        "./usr/bin/gateway-exporter",
        &format!("./{UNIT}"),
        &format!("./{CONFIG}"),
        &format!("./{DEFAULTS}"),
        "./usr/share/doc/gateway-exporter/copyright",
        "./usr/share/gateway-exporter/rules/gateway-exporter.rules.yml",
        "./usr/share/gateway-exporter/dashboards/gateway-overview.json",
        "./usr/share/gateway-exporter/alertmanager/alertmanager.yml",
    ] {
        let line = listing
            .lines()
            .find(|l| l.ends_with(path))
            .unwrap_or_else(|| panic!("{path} missing from the package:\n{listing}"));
        assert!(line.contains("root/root"), "{line}");
    }
    let binary_line = listing
        .lines()
        .find(|l| l.ends_with("./usr/bin/gateway-exporter"))
        .unwrap();
    assert!(binary_line.starts_with("-rwxr-xr-x"), "{binary_line}");

    let root = unpacked();
    let debian = root.path().join("DEBIAN");
    let control = std::fs::read_to_string(debian.join("control")).unwrap();
    assert_eq!(control_field(&control, "Package"), "gateway-exporter");
    assert_eq!(control_field(&control, "Version"), version);
    let depends = control_field(&control, "Depends");
    assert!(depends.starts_with("adduser, "), "{depends}");
    assert!(depends.contains("libc6 (>= 2."), "{depends}");
    let conffiles = std::fs::read_to_string(debian.join("conffiles")).unwrap();
    assert_eq!(
        conffiles.lines().collect::<Vec<_>>(),
        [format!("/{DEFAULTS}"), format!("/{CONFIG}")]
    );
    // md5sums covers every shipped file outside /etc, and matches it.
    let sums = std::fs::read_to_string(debian.join("md5sums")).unwrap();
    assert!(sums.contains("  usr/bin/gateway-exporter\n"), "{sums}");
    assert!(!sums.contains("  etc/"), "conffiles are not in md5sums");
    let check = Command::new("md5sum")
        .args(["--check", "--quiet"])
        .arg(debian.join("md5sums"))
        .current_dir(root.path())
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");

    // The binary in the package is the one this test run built, stripped of its debug info.
    let version_out =
        stdout(Command::new(root.path().join("usr/bin/gateway-exporter")).arg("--version"));
    assert_eq!(version_out.trim(), format!("gateway-exporter {version}"));
}

#[test]
fn maintainer_scripts_follow_the_debian_protocol() {
    let root = unpacked();
    let debian = root.path().join("DEBIAN");
    for script in ["postinst", "prerm", "postrm"] {
        let path = debian.join(script);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o755, "{script}");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("#!/bin/sh\n"), "{script}");
        assert!(text.contains("\nset -e\n"), "{script}");
        // Never systemctl against the host when installing into another root.
        if text.contains("systemctl") || text.contains("deb-systemd-invoke") {
            assert!(text.contains("${DPKG_ROOT:-}"), "{script}");
        }
        ok(Command::new("sh").arg("-n").arg(&path));
    }
    let postinst = std::fs::read_to_string(debian.join("postinst")).unwrap();
    assert!(
        postinst.contains("adduser --quiet --system --group"),
        "{postinst}"
    );
    assert!(postinst.contains("deb-systemd-helper enable"), "{postinst}");
    let unknown = Command::new(debian.join("postinst"))
        .arg("bogus-action")
        .output()
        .unwrap();
    assert!(!unknown.status.success(), "an unknown action must fail");
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown argument"));
    let postrm = std::fs::read_to_string(debian.join("postrm")).unwrap();
    assert!(postrm.contains("purge)"), "{postrm}");
}

/// `[Service]` settings of the unit, every value of a key in order.
fn unit_values(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(str::to_string)
        .collect()
}

/// `systemd-analyze verify` against `root`, which must hold the targets and /bin/kill the
/// unit names: what it prints is what it found wrong.
fn systemd_verify(root: &Path, unit: &Path) -> String {
    let units = root.join("usr/lib/systemd/system");
    for entry in std::fs::read_dir("/usr/lib/systemd/system").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "target") {
            let _ = std::fs::copy(&path, units.join(path.file_name().unwrap()));
        }
    }
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy(require("kill"), root.join("bin/kill")).unwrap();
    let out = Command::new(require("systemd-analyze"))
        .arg("verify")
        .arg(format!("--root={}", root.display()))
        .arg(unit)
        .output()
        .unwrap();
    format!(
        "{}{}{}",
        if out.status.success() { "" } else { "failed\n" },
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn unit_is_hardened_and_passes_systemd_analyze() {
    let root = unpacked();
    let unit_path = root.path().join(UNIT);
    let unit = std::fs::read_to_string(&unit_path).unwrap();
    for (key, want) in [
        ("User", "gateway-exporter"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("CapabilityBoundingSet", ""),
        (
            "RestrictAddressFamilies",
            "AF_UNIX AF_INET AF_INET6 AF_NETLINK",
        ),
        ("StateDirectory", "gateway-exporter"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
        ("EnvironmentFile", "-/etc/default/gateway-exporter"),
        ("ExecStart", "/usr/bin/gateway-exporter $ARGS"),
    ] {
        assert_eq!(unit_values(&unit, key), [want], "{key}");
    }
    let groups = unit_values(&unit, "SupplementaryGroups").join(" ");
    for group in ["adm", "www-data"] {
        assert!(
            groups.split(' ').any(|g| g == group),
            "{group} in {groups:?}"
        );
    }
    // PrivateUsers would map root:adm files to nobody and lose the group read.
    assert!(unit_values(&unit, "PrivateUsers").is_empty());

    let found = systemd_verify(root.path(), &unit_path);
    assert_eq!(found, "", "systemd-analyze verify found problems");
    // And the check is not blind: a misspelt key and a bad value are reported.
    let broken = unit
        .replace("ProtectHome=yes", "ProtectHom=yes")
        .replace("ProtectSystem=strict", "ProtectSystem=stricter");
    let broken_path = unit_path.with_file_name("broken.service");
    std::fs::write(&broken_path, broken).unwrap();
    let found = systemd_verify(root.path(), &broken_path);
    assert!(found.contains("Unknown key 'ProtectHom'"), "{found}");
    assert!(found.contains("stricter"), "{found}");

    let security = stdout(
        Command::new(require("systemd-analyze"))
            .args(["security", "--offline=yes", "--no-pager"])
            .arg(format!("--root={}", root.path().display()))
            .arg(&unit_path),
    );
    let score: f64 = security
        .lines()
        .find_map(|l| l.split("gateway-exporter.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{security}"));
    assert!(
        score <= 2.0,
        "exposure {score} (measured 1.7 when written):\n{security}"
    );
}

#[test]
fn packaged_config_is_the_default_and_its_examples_are_valid() {
    let root = unpacked();
    let config = std::fs::read_to_string(root.path().join(CONFIG)).unwrap();
    let unit = std::fs::read_to_string(root.path().join(UNIT)).unwrap();
    // The checkpoints go to the unit's StateDirectory, the one place it may write.
    let state_dir = format!("/var/lib/{}", unit_values(&unit, "StateDirectory")[0]);
    assert!(
        config.contains(&format!("log_settings:\n  state_dir: {state_dir}\n")),
        "{config}"
    );
    // Every setting of the embedded default is written out.
    let embedded = std::fs::read_to_string(repo().join("src/default.yml")).unwrap();
    for line in embedded.lines().filter(|l| !l.starts_with('#')) {
        assert!(
            config.lines().any(|c| c == line),
            "{line:?} not in the packaged config"
        );
    }
    let check = |text: &str| {
        let dir = tempdir();
        let file = dir.path().join("config.yml");
        std::fs::write(&file, text).unwrap();
        stdout(
            Command::new(env!("CARGO_BIN_EXE_gateway-exporter"))
                .arg("--config.check")
                .arg("--config.file")
                .arg(&file),
        )
    };
    assert!(
        check(&config).contains("config OK: 0 probes, 0 logs"),
        "{config}"
    );
    // Example lines are commented as `#key:` or `#  - ...`; prose as `# text`.
    let uncommented: String = config
        .lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest) if !rest.starts_with(' ') || rest.starts_with("  ") => rest,
            _ => l,
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let out = check(&uncommented);
    assert!(
        out.contains("config OK: 1 probes, 5 logs, 3 worker pools, 2 upstreams"),
        "{out}\n{uncommented}"
    );
}

/// `KEY=value` lines of the /etc/default file (shell syntax, values maybe quoted).
fn defaults(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && l.contains('='))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_string(), v.trim_matches('"').to_string())
        })
        .collect()
}

fn dpkg(root: &Path, args: &[&str]) -> String {
    let out = ok(Command::new(require("dpkg"))
        .arg(format!("--root={}", root.display()))
        .args([
            "--force-script-chrootless",
            "--force-depends",
            "--log=/dev/null",
        ])
        .args(args));
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn dpkg_installs_into_a_scratch_root_runs_and_purges() {
    let scratch = tempdir();
    let root = scratch.path();
    for dir in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "etc"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    for file in ["var/lib/dpkg/status", "var/lib/dpkg/available"] {
        std::fs::write(root.join(file), "").unwrap();
    }
    // The accounts of a fresh Debian (base-passwd), which the unit's groups refer to.
    for (file, text) in [
        (
            "passwd",
            "root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n",
        ),
        ("group", "root:x:0:\nadm:x:4:\nwww-data:x:33:\n"),
        (
            "shadow",
            "root:*:19000:0:99999:7:::\nwww-data:*:19000:0:99999:7:::\n",
        ),
        ("gshadow", "root:*::\nadm:*::\nwww-data:*::\n"),
    ] {
        std::fs::write(root.join("etc").join(file), text).unwrap();
    }

    let log = dpkg(root, &["-i", deb().to_str().unwrap()]);
    assert!(log.contains("Setting up gateway-exporter"), "{log}");
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    let user = passwd
        .lines()
        .find(|l| l.starts_with("gateway-exporter:"))
        .unwrap_or_else(|| panic!("postinst made no user:\n{passwd}"));
    let uid: u32 = user.split(':').nth(2).unwrap().parse().unwrap();
    assert!((100..1000).contains(&uid), "a system uid: {user}");
    assert!(
        user.ends_with(":/var/lib/gateway-exporter:/usr/sbin/nologin"),
        "{user}"
    );
    let wants = root.join("etc/systemd/system/multi-user.target.wants/gateway-exporter.service");
    assert_eq!(
        std::fs::read_link(&wants).unwrap(),
        Path::new("/usr/lib/systemd/system/gateway-exporter.service"),
        "enabled on first install"
    );

    // Start the installed binary as the unit would: its environment file, its config.
    let env = defaults(&std::fs::read_to_string(root.join(DEFAULTS)).unwrap());
    let config = env
        .iter()
        .find(|(k, _)| k == "GATEWAY_EXPORTER_CONFIG")
        .map(|(_, v)| v.clone())
        .expect("the defaults file names the config file");
    assert_eq!(config, format!("/{CONFIG}"));
    let port = free_port();
    let mut cmd = Command::new(root.join("usr/bin/gateway-exporter"));
    cmd.env("GATEWAY_EXPORTER_CONFIG", root.join(CONFIG))
        .args(["--log.format", "json"])
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let mut daemon = Daemon::spawn("packaged", cmd, root);
    wait_for_port(port, Duration::from_secs(10));
    daemon.assert_running();
    let metrics = get(port, "/metrics").body;
    promtool_check_metrics(&metrics).unwrap_or_else(|e| panic!("{e}\n{metrics}"));

    let revision = stdout(
        Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(repo()),
    );
    let rustc =
        stdout(Command::new(std::env::var("RUSTC").unwrap_or("rustc".into())).arg("--version"));
    let rustversion = rustc.split_whitespace().nth(1).unwrap();
    assert_eq!(
        sample_value(
            &metrics,
            "gateway_build_info",
            &[
                ("version", env!("CARGO_PKG_VERSION")),
                ("revision", revision.trim()),
                ("rustversion", rustversion),
            ]
        ),
        Some(1.0),
        "build_info does not carry the checkout's revision and rustc:\n{metrics}"
    );

    let process = |name: &str| {
        sample_value(&metrics, name, &[]).unwrap_or_else(|| panic!("no {name}:\n{metrics}"))
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let started = process("process_start_time_seconds");
    assert!(
        started <= now + 1.0 && started > now - 60.0,
        "{started} vs {now}"
    );
    assert!(process("process_resident_memory_bytes") > 1e6);
    assert!(process("process_virtual_memory_bytes") >= process("process_resident_memory_bytes"));
    assert!(
        process("process_open_fds") >= 4.0,
        "stdio and the listener at least"
    );
    assert!(process("process_max_fds") >= process("process_open_fds"));
    assert!(process("process_cpu_seconds_total") >= 0.0);
    assert!(metrics.contains("# TYPE process_cpu_seconds_total counter"));

    // SIGHUP, what `systemctl reload` sends, re-reads the packaged config.
    daemon.signal(libc::SIGHUP);
    eventually(Duration::from_secs(5), "reload on SIGHUP", || {
        daemon
            .stderr()
            .contains("configuration reloaded")
            .then_some(())
    });
    let after = get(port, "/metrics").body;
    assert_eq!(
        sample_value(&after, "gateway_config_reloads_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        sample_value(&after, "gateway_config_last_reload_successful", &[]),
        Some(1.0)
    );
    let stderr = daemon.stderr();
    assert!(
        !stderr.contains('\x1b'),
        "ESC codes in a log file: {stderr:?}"
    );
    let lines: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["msg"] == "listening" && l["level"] == "INFO"),
        "{stderr}"
    );
    assert!(
        lines.iter().any(|l| l["msg"] == "configuration reloaded"),
        "{stderr}"
    );
    drop(daemon);

    // Remove keeps the conffiles and masks the unit; purge takes everything.
    std::fs::create_dir_all(root.join("var/lib/gateway-exporter")).unwrap();
    std::fs::write(root.join("var/lib/gateway-exporter/checkpoint"), "x").unwrap();
    dpkg(root, &["--remove", "gateway-exporter"]);
    assert!(!root.join("usr/bin/gateway-exporter").exists());
    assert!(root.join(CONFIG).exists(), "remove keeps the conffiles");
    dpkg(root, &["--purge", "gateway-exporter"]);
    for gone in [CONFIG, DEFAULTS, "var/lib/gateway-exporter"] {
        assert!(!root.join(gone).exists(), "{gone} left after purge");
    }
    let leftovers: Vec<_> = walk(&root.join("etc/systemd"));
    assert!(
        leftovers.is_empty(),
        "unit links left after purge: {leftovers:?}"
    );
}

/// Every non-directory under `dir` (none when it does not exist).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flat_map(|e| {
            let path = e.unwrap().path();
            if path.is_dir() && !path.is_symlink() {
                walk(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

#[test]
fn log_colour_only_on_a_terminal() {
    let run = |through_terminal: bool| {
        let port = free_port();
        let exporter = format!(
            "timeout -s TERM 2 {} --web.listen-address=127.0.0.1:{port} 2>&1",
            env!("CARGO_BIN_EXE_gateway-exporter")
        );
        let out = if through_terminal {
            // script(1) gives the command a pseudo-terminal as stdout and stderr.
            Command::new(require("script"))
                .args(["-qec", &exporter, "/dev/null"])
                .output()
                .unwrap()
        } else {
            Command::new("sh").args(["-c", &exporter]).output().unwrap()
        };
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let tty = run(true);
    assert!(tty.contains("msg=listening"), "{tty:?}");
    assert!(tty.contains("level=\x1b[32mINFO\x1b[0m"), "{tty:?}");
    let piped = run(false);
    assert!(piped.contains("level=INFO source="), "{piped:?}");
    assert!(!piped.contains('\x1b'), "{piped:?}");
}

/// The fenced YAML block of the README whose first line is `first_line`.
fn readme_block(first_line: &str) -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    readme
        .split("```yaml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .find(|b| b.starts_with(first_line))
        .unwrap_or_else(|| panic!("no ```yaml block starting with {first_line:?} in README.md"))
        .to_string()
}

#[test]
fn readme_quick_start_prometheus_config_scrapes_metrics_and_probe() {
    let root = unpacked();
    // The packaged exporter with the packaged config, where the README's config expects it.
    let port = free_port();
    let mut exporter = Command::new(root.path().join("usr/bin/gateway-exporter"));
    exporter
        .arg(format!(
            "--config.file={}",
            root.path().join(CONFIG).display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let exporter = Daemon::spawn("exporter", exporter, root.path());
    wait_for_port(port, Duration::from_secs(10));
    let site = FakeUpstream::respond("200 OK", &["Content-Type: text/plain"], "up\n");
    let site_url = format!("http://127.0.0.1:{}/", site.port);

    // The README's prometheus.yml, with this test's ports and a fast interval.
    let readme = readme_block("# /etc/prometheus/prometheus.yml");
    let rules = "/usr/share/gateway-exporter/rules/gateway-exporter.rules.yml";
    assert!(readme.contains(rules));
    let config = readme
        .replace(rules, &root.path().join(&rules[1..]).display().to_string())
        .replace("localhost:10211", &format!("127.0.0.1:{port}"))
        .replace("'http://127.0.0.1/'", &format!("'{site_url}'"))
        .replace(
            "scrape_interval: 15s",
            "scrape_interval: 1s\n  evaluation_interval: 1s",
        );
    let dir = tempdir();
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, &config).unwrap();
    let check = stdout(
        Command::new(require("promtool"))
            .args(["check", "config"])
            .arg(&config_path),
    );
    assert!(check.contains("SUCCESS"), "{check}");

    let prometheus_port = free_port();
    let mut cmd = Command::new(require("prometheus"));
    cmd.arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"));
    let mut prometheus = Daemon::spawn("prometheus", cmd, dir.path());
    wait_for_port(prometheus_port, Duration::from_secs(20));
    let query = |promql: &str| -> Vec<Value> {
        let path = format!("/api/v1/query?query={}", url_escape(promql));
        // Not JSON while Prometheus is still starting: no result yet.
        let body: Value =
            serde_json::from_str(&get(prometheus_port, &path).body).unwrap_or_default();
        body["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    eventually(Duration::from_secs(30), "both jobs scraped", || {
        prometheus.assert_running();
        let up = query("up == 1");
        (up.len() == 2).then_some(())
    });
    let probe = query("probe_success{job=\"gateway_probe\"}");
    assert_eq!(probe.len(), 1, "{probe:?}");
    assert_eq!(
        probe[0]["metric"]["instance"], site_url,
        "instance is the probed URL"
    );
    assert_eq!(probe[0]["value"][1], "1");
    let build = query("gateway_build_info{job=\"gateway\"}");
    assert_eq!(build.len(), 1, "{build:?}");
    let rules: Value = serde_json::from_str(&get(prometheus_port, "/api/v1/rules").body).unwrap();
    let groups = rules["data"]["groups"].as_array().unwrap();
    assert!(
        !groups.is_empty(),
        "the packaged rules were not loaded: {rules}"
    );
    drop(exporter);

    // Grafana's provider points at the directory the package fills with the dashboards.
    let provider: Value =
        serde_saphyr::from_str(&readme_block("# /etc/grafana/provisioning/dashboards/")).unwrap();
    let path = provider["providers"][0]["options"]["path"]
        .as_str()
        .unwrap();
    let dashboards = std::fs::read_dir(root.path().join(&path[1..]))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json")
        })
        .count();
    assert_eq!(
        dashboards,
        std::fs::read_dir(repo().join("dashboards"))
            .unwrap()
            .count(),
        "every dashboard is where the provider looks"
    );
}

/// Percent-encode a PromQL expression for a query string.
fn url_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
