//! Fills `gateway_build_info{revision, rustversion}` at build time, as the Go exporters'
//! ldflags do: `GATEWAY_EXPORTER_REVISION` from the environment (a build from a tarball)
//! or else from `git rev-parse HEAD` (a checkout), and the version of the rustc in use.

use std::path::Path;
use std::process::Command;

fn main() {
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
