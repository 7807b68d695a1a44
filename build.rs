//! Embeds alerts/runbooks/*.md: the exporter serves them at /runbooks/<AlertName>, so a
//! runbook added to that folder is served without touching the code.

use std::fmt::Write;
use std::path::Path;

fn main() {
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
