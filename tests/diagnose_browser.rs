//! The served diagnosis in a real browser: Debian's chromium, headless, driven by
//! playwright-core from npm (installed under target/, like scripts/fetch-tools.sh does for
//! helm). The page renders, states the same verdict as `gateway-exporter diagnose`, every
//! link on it answers 200, the runbook link shows the live evidence, and a phone needs no
//! sideways scrolling. Screenshots land in target/tmp/browser/ (docs/diagnose.png is one).

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The version of playwright-core the script is written against.
const PLAYWRIGHT: &str = "playwright-core@1.65.1";
const CHROMIUM: &str = "/usr/bin/chromium";

/// The browser and playwright-core's module, installed into `dir` when missing; an error
/// that says what to install when the machine lacks chromium, node or npm.
fn browser_tools(dir: &Path) -> Result<PathBuf, String> {
    if !Path::new(CHROMIUM).exists() {
        return Err(format!(
            "{CHROMIUM} is missing: install Debian's chromium (./scripts/test.sh does)"
        ));
    }
    for tool in ["node", "npm"] {
        let works = Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !works {
            return Err(format!(
                "{tool} is missing: install Debian's npm (./scripts/test.sh does)"
            ));
        }
    }
    let module = dir.join("node_modules/playwright-core/index.mjs");
    if !module.exists() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let out = Command::new("npm")
            .args([
                "install",
                "--no-save",
                "--no-audit",
                "--no-fund",
                "--prefix",
            ])
            .arg(dir)
            .arg(PLAYWRIGHT)
            .output()
            .map_err(|e| format!("npm install {PLAYWRIGHT}: {e}"))?;
        if !out.status.success() || !module.exists() {
            return Err(format!(
                "npm install {PLAYWRIGHT} into {} failed: {}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    Ok(module)
}

/// What the CLI says, for the page to say the same.
fn cli_verdict(config_path: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_gateway-exporter"))
        .arg("diagnose")
        .arg("--config.file")
        .arg(config_path)
        .args(["--output", "json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["healthy"] == false)
        .cloned()
        .unwrap_or_else(|| panic!("the CLI found no fault: {report}"))
}

#[test]
fn diagnose_page_in_chromium() -> Result<(), String> {
    let _beside = run_beside_others();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    let module = browser_tools(&dir)?;

    let dead = free_port();
    let healthy = FakeUpstream::respond("200 OK", &[], "hello");
    let (shop, blog) = (free_port(), free_port());
    let nginx = Nginx::start(
        &format!(
            "server {{ listen 127.0.0.1:{shop}; server_name shop.test; location / {{ proxy_pass http://127.0.0.1:{dead}; }} }}\n\
             server {{ listen 127.0.0.1:{blog}; server_name blog.test; location / {{ proxy_pass http://{}; }} }}",
            healthy.addr()
        ),
        shop,
    );
    let exporter = Exporter::start(&format!(
        "logs:\n  - {{path: '{}', format: nginx_error, name: web}}\n\
         probes:\n  - {{name: shop, url: 'http://127.0.0.1:{shop}/', timeout: 3s}}\n\
         \x20 - {{name: blog, url: 'http://127.0.0.1:{blog}/', timeout: 3s}}\n",
        nginx.error_log.display()
    ));
    let cli = cli_verdict(&exporter.config_path);

    let out = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/pages.mjs"))
        .arg(format!("http://127.0.0.1:{}", exporter.port))
        .arg(&dir)
        .env("PLAYWRIGHT_CORE", &module)
        .env("CHROMIUM", CHROMIUM)
        .output()
        .map_err(|e| format!("node: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "the browser script failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let seen: Value = serde_json::from_str(&stdout).map_err(|e| format!("{e}: {stdout}"))?;

    assert_eq!(seen["status"], 200, "{seen}");
    assert_eq!(seen["heading"], "Diagnosis: 1 fault", "{seen}");
    let page = &seen["verdict"];
    let field = |name: &str| page["fields"][name].as_str().unwrap_or("").to_string();
    assert_eq!(page["cause"], cli["cause"], "{seen}\n{cli}");
    assert_eq!(page["summary"], cli["summary"], "{seen}\n{cli}");
    assert_eq!(field("status"), cli["status"].to_string());
    assert_eq!(
        field("layer"),
        format!(
            "{} (vendor {})",
            cli["layer"].as_str().unwrap(),
            cli["vendor"].as_str().unwrap()
        )
    );
    assert_eq!(field("upstream"), cli["upstream"].as_str().unwrap());
    assert_eq!(field("runbook"), cli["runbook"].as_str().unwrap());
    assert_eq!(cli["upstream"], format!("127.0.0.1:{dead}"));
    // The fix steps as the CLI prints them, code spans rendered (no backticks on the page).
    let cli_fix: Vec<String> = cli["fix"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().replace('`', ""))
        .collect();
    let page_fix: Vec<String> = page["fix"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    assert_eq!(page_fix, cli_fix);

    let links = seen["links"].as_object().unwrap();
    assert!(links.len() >= 5, "{links:?}");
    for (href, status) in links {
        assert_eq!(status, 200, "{href}");
    }
    let runbook = &seen["runbook"];
    assert!(
        runbook["url"].as_str().unwrap().contains(&format!(
            "/runbooks/GatewayUpstreamConnectionRefused?target=shop&upstream=127.0.0.1%3A{dead}"
        )),
        "{runbook}"
    );
    assert_eq!(
        runbook["live_causes"],
        serde_json::json!(["connect_refused"])
    );
    assert_eq!(
        runbook["headings"],
        serde_json::json!(["Meaning", "Impact", "Diagnosis", "Mitigation"])
    );

    let phone = &seen["phone"];
    assert!(
        phone["page_width"].as_f64() <= phone["viewport"].as_f64(),
        "sideways scrolling on a phone: {phone}"
    );
    assert!(phone["font_px"].as_f64().unwrap() >= 14.0, "{phone}");
    for shot in ["diagnose.png", "diagnose-phone.png"] {
        let size = std::fs::metadata(dir.join(shot)).map_or(0, |m| m.len());
        assert!(size > 10_000, "{shot}: {size} bytes");
    }
    Ok(())
}
