//! Build-time inputs: `gateway_build_info{revision, rustversion}` as the Go exporters' ldflags
//! fill them (`GATEWAY_EXPORTER_REVISION` from the environment for a build from a tarball,
//! else `git rev-parse HEAD` in a checkout; the rustc in use), and alerts/runbooks/*.md
//! embedded so the exporter serves them at /runbooks/<AlertName> (a runbook added to that
//! folder is served without touching the code).

use std::fmt::Write;
use std::path::Path;
use std::process::Command;

fn main() {
    build_info();
    embed_runbooks();
}

fn build_info() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=GATEWAY_EXPORTER_REVISION");
    let revision = match std::env::var("GATEWAY_EXPORTER_REVISION") {
        Ok(given) if !given.trim().is_empty() => Some(given.trim().to_string()),
        _ => git_revision(),
    };
    if let Some(revision) = revision {
        println!("cargo:rustc-env=GATEWAY_EXPORTER_REVISION={revision}");
    }
    if let Some(version) = rustc_version() {
        println!("cargo:rustc-env=GATEWAY_EXPORTER_RUSTC={version}");
    }
}

fn output(program: &str, args: &[&str]) -> Option<String> {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")?;
    let out = Command::new(program)
        .args(args)
        .current_dir(manifest_dir)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}

/// The checked-out commit; rebuilds when HEAD moves (a commit, a checkout), in a worktree too.
fn git_revision() -> Option<String> {
    let revision = output("git", &["rev-parse", "HEAD"])?;
    let git_dir = output("git", &["rev-parse", "--absolute-git-dir"])?;
    let common_dir = output(
        "git",
        &["rev-parse", "--path-format=absolute", "--git-common-dir"],
    )
    .unwrap_or_else(|| git_dir.clone());
    let mut watched = vec![Path::new(&git_dir).join("HEAD")];
    if let Some(branch) = output("git", &["symbolic-ref", "-q", "HEAD"]) {
        watched.push(Path::new(&common_dir).join(branch));
    }
    watched.push(Path::new(&common_dir).join("packed-refs"));
    // A path that does not exist would make cargo rerun this script on every build.
    for path in watched.iter().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    Some(revision)
}

/// `1.95.0` out of `rustc 1.95.0 (59807616e 2026-04-14)`: the rustc cargo builds with.
fn rustc_version() -> Option<String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let text = output(&rustc, &["--version"])?;
    text.split_whitespace().nth(1).map(str::to_string)
}

fn embed_runbooks() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&manifest).join("alerts/runbooks");
    println!("cargo::rerun-if-changed=alerts/runbooks");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".md").map(str::to_string)
        })
        .collect();
    names.sort();
    let mut table = String::from("&[\n");
    for name in &names {
        let path = dir.join(format!("{name}.md"));
        writeln!(table, "    ({name:?}, include_str!({:?})),", path.display()).unwrap();
    }
    table.push(']');
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("runbooks.rs");
    std::fs::write(out, table).expect("write runbooks.rs");
}
