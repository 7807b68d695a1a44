//! Auto-detection as its own step: each source offers what it finds on this host, and the
//! entries the config does not already have are added. Turned on per source by the
//! `autodetect:` section (all on in the embedded default).

use crate::config::Config;

/// Add what the sources `config.autodetect` names find on this host.
pub fn apply(config: &mut Config) {
    let wanted = config.autodetect;
    if wanted.probes {
        merge(
            &mut config.probes,
            crate::probe::detect::detect(),
            |a, b| a.name == b.name || a.url == b.url,
        );
    }
    if wanted.logs {
        merge(&mut config.logs, crate::logs::detect(), |a, b| {
            a.path == b.path || a.name() == b.name()
        });
    }
    if wanted.workers {
        merge(&mut config.workers, crate::workers::detect(), |a, b| {
            a.kind == b.kind && a.pool() == b.pool()
        });
        merge(
            &mut config.upstreams,
            crate::workers::detect_databases(),
            |a, b| a.address == b.address || a.label() == b.label(),
        );
    }
}

/// Append each found entry that no configured (or earlier found) entry already covers.
fn merge<T: std::fmt::Debug>(
    configured: &mut Vec<T>,
    found: Vec<T>,
    same: impl Fn(&T, &T) -> bool,
) {
    for entry in found {
        if !configured.iter().any(|c| same(c, &entry)) {
            tracing::info!(entry = ?entry, "auto-detected");
            configured.push(entry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_entries_win_over_found_ones() {
        let mut have = vec![(1, "www"), (2, "api")];
        merge(
            &mut have,
            vec![(1, "www2"), (3, "www"), (3, "www"), (4, "new")],
            |a, b| a.1 == b.1,
        );
        assert_eq!(have, [(1, "www"), (2, "api"), (1, "www2"), (4, "new")]);
    }
}
