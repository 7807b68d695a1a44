//! Saved offsets: where each followed file stopped, so a restart neither re-reads nor
//! skips a line. One file per log, one line per followed file: `dev ino offset path`.

use super::tail;
use std::path::{Path, PathBuf};

pub fn checkpoint_name(log: &str) -> String {
    let safe: String = log
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.offsets")
}

/// One line per file: `dev ino offset path`.
pub fn load(path: &Path) -> Option<Vec<tail::Offset>> {
    let text = std::fs::read_to_string(path).ok()?;
    let offsets = text
        .lines()
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

pub fn save(path: &Path, offsets: &[tail::Offset]) -> std::io::Result<()> {
    let mut text = String::new();
    for o in offsets {
        text.push_str(&format!(
            "{} {} {} {}\n",
            o.id.0,
            o.id.1,
            o.offset,
            o.path.display()
        ));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(tmp, path)
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
}
