//! Saved offsets: where each followed file stopped, so a restart neither re-reads nor
//! skips a line. One file per log, one line per followed file: `dev ino offset path`.

use super::tail;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The checkpoint file of `log`: a readable part (its name with anything but `[A-Za-z0-9.-]`
/// as `_`, at most 80 characters) and a hash of the exact name, so `/x/y.log` and `/x_y.log`
/// never share a file.
pub fn checkpoint_name(log: &str) -> String {
    let readable: String = legacy_stem(log).chars().take(80).collect();
    format!("{readable}-{:016x}.offsets", fnv1a(log.as_bytes()))
}

/// The name earlier versions used (no hash), read once when the new one is missing.
pub fn legacy_name(log: &str) -> String {
    format!("{}.offsets", legacy_stem(log))
}

fn legacy_stem(log: &str) -> String {
    log.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// FNV-1a, 64 bits: stable across versions and platforms, unlike std's hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// One line per file: `dev ino offset path`.
pub fn load(path: &Path) -> Option<Vec<tail::Offset>> {
    let text = std::fs::read_to_string(path).ok()?;
    // Split on `\n` alone: `lines()` would also eat a `\r` that ends a file's name.
    let offsets = text
        .split('\n')
        .filter_map(|l| {
            let mut f = l.splitn(4, ' ');
            let dev = f.next()?.parse().ok()?;
            let ino = f.next()?.parse().ok()?;
            let offset = f.next()?.parse().ok()?;
            Some(tail::Offset {
                id: (dev, ino),
                offset,
                path: PathBuf::from(f.next()?),
            })
        })
        .collect();
    Some(offsets)
}

/// Write `offsets` to `path` so that a crash or a full disk leaves either the old file or
/// the new one, never a torn one: a fresh temp file beside it (created exclusively, never
/// through a symlink), fsync, rename over, fsync the directory. On error the temp file is
/// removed and the old checkpoint stays.
pub fn save(path: &Path, offsets: &[tail::Offset]) -> std::io::Result<()> {
    let mut text = String::new();
    for o in offsets {
        // Offsets match by device and inode; the name is for people. A newline in it would
        // start a line of its own (another file's offset), so it is written escaped.
        text.push_str(&format!(
            "{} {} {} {}\n",
            o.id.0,
            o.id.1,
            o.offset,
            o.path.display().to_string().replace('\n', "\\n")
        ));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = temp_path(path);
    let written = write_new(&tmp, text.as_bytes()).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::File::open(dir)?.sync_all()
}

/// `<path>.<pid>.<n>.tmp`: unique per process and call, so two writers never share one.
fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.{n}.tmp", std::process::id()));
    path.with_file_name(name)
}

fn write_new(tmp: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o600)
        .open(tmp)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir
            .path()
            .join("sub")
            .join(checkpoint_name("/var/log/x y.log"));
        let offsets = vec![tail::Offset {
            id: (1, 2),
            offset: 3,
            path: PathBuf::from("/a b"),
        }];
        save(&p, &offsets).unwrap();
        assert_eq!(load(&p).unwrap(), offsets);
    }

    #[test]
    fn names_never_collide_and_stay_readable() {
        let (a, b) = (checkpoint_name("/x/y.log"), checkpoint_name("/x_y.log"));
        assert_ne!(a, b);
        assert!(a.starts_with("_x_y.log-") && a.ends_with(".offsets"), "{a}");
        assert_eq!(checkpoint_name("/x/y.log"), a, "stable");
        assert!(checkpoint_name(&"a".repeat(5000)).len() < 120);
    }

    #[test]
    fn a_failed_save_keeps_the_old_checkpoint_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.offsets");
        let first = vec![tail::Offset {
            id: (1, 2),
            offset: 3,
            path: PathBuf::from("/a"),
        }];
        save(&p, &first).unwrap();
        // A directory where the checkpoint goes: the rename fails, as on a broken disk.
        let blocked = dir.path().join("blocked.offsets");
        std::fs::create_dir(&blocked).unwrap();
        std::fs::write(blocked.join("x"), "").unwrap();
        assert!(save(&blocked, &first).is_err());
        assert_eq!(load(&p).unwrap(), first);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn a_symlink_planted_at_the_temp_name_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let tmp = dir.path().join("planted.tmp");
        std::os::unix::fs::symlink(&victim, &tmp).unwrap();
        assert!(write_new(&tmp, b"overwritten").is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    }

    #[test]
    fn a_newline_in_a_name_cannot_add_an_offset() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.offsets");
        let offsets = vec![tail::Offset {
            id: (5, 11),
            offset: 3,
            path: PathBuf::from("/var/log/a\n5 12 999 /var/log/b"),
        }];
        save(&p, &offsets).unwrap();
        let loaded = load(&p).unwrap();
        assert_eq!(loaded.len(), 1, "{loaded:?}");
        assert_eq!((loaded[0].id, loaded[0].offset), ((5, 11), 3));
    }

    #[test]
    fn a_name_ending_in_carriage_returns_round_trips() {
        // Found by fuzz/checkpoint: each save and load lost one `\r`.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.offsets");
        let offsets = vec![tail::Offset {
            id: (5, 11),
            offset: 3,
            path: PathBuf::from("/var/log/x\r\r"),
        }];
        save(&p, &offsets).unwrap();
        assert_eq!(load(&p).unwrap(), offsets);
    }
}
