//! The running PHP-FPM masters' own config: each master's title names its php-fpm.conf
//! (`/proc/<pid>/cmdline`), which defines pools itself or `include`s their files. This finds
//! a pool's `pm.status_listen` and `pm.max_children` wherever the host keeps them.

use super::confs;
use std::path::Path;

/// Glob patterns for every running master's php-fpm.conf and the files it includes.
pub fn fpm_config_patterns() -> Vec<String> {
    patterns_under(Path::new("/proc"))
}

fn patterns_under(proc_root: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(proc_root) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let is_pid = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
        if !is_pid {
            continue;
        }
        // A process may exit between the listing and the read: skip it.
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let Some(conf) = confs::fpm_master_config(&cmdline) else {
            continue;
        };
        let conf_pattern = glob::Pattern::escape(conf);
        if out.contains(&conf_pattern) {
            continue;
        }
        let includes = std::fs::read_to_string(conf)
            .map(|text| confs::fpm_includes(&text))
            .unwrap_or_default();
        out.push(conf_pattern);
        out.extend(
            includes
                .into_iter()
                .filter(|i| glob::Pattern::new(i).is_ok()),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_masters_by_their_title() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("php-fpm.conf");
        std::fs::write(
            &conf,
            format!("[global]\ninclude={}/pool.d/*.conf\n", dir.path().display()),
        )
        .unwrap();
        let proc_root = dir.path().join("proc");
        for (pid, title) in [
            (
                "101",
                format!("php-fpm: master process ({})\0\0", conf.display()),
            ),
            ("102", "php-fpm: pool www\0".to_string()),
            (
                "103",
                format!("php-fpm: master process ({})\0", conf.display()),
            ),
            (
                "self",
                format!("php-fpm: master process ({})\0", conf.display()),
            ),
        ] {
            std::fs::create_dir_all(proc_root.join(pid)).unwrap();
            std::fs::write(proc_root.join(pid).join("cmdline"), title).unwrap();
        }
        std::fs::create_dir_all(proc_root.join("104")).unwrap(); // exited: no cmdline
        assert_eq!(
            patterns_under(&proc_root),
            [
                conf.display().to_string(),
                format!("{}/pool.d/*.conf", dir.path().display())
            ]
        );
        assert!(patterns_under(&dir.path().join("missing")).is_empty());
    }
}
