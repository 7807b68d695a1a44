//! Following files like `tail -F`, by polling: rename-and-create, copytruncate,
//! delete-and-recreate, files that appear later and globs that gain files.
//!
//! A file is identified by (device, inode), not by name: a renamed file is drained to
//! its end before it is let go, and a name that comes back with another inode is read from
//! its start. Copytruncate is caught even when the file regrew past the old offset before
//! the poll, by re-reading the bytes just before the offset (the fingerprint).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What the follower reports besides lines.
pub trait Lines {
    fn line(&mut self, line: &[u8]);
    fn too_long(&mut self);
    fn bytes(&mut self, n: u64);
    fn rotation(&mut self);
    /// A problem with `path` (`permission`, `not_a_file`, `io`, `too_many_files`), reported
    /// once per episode.
    fn read_error(&mut self, path: &Path, reason: &'static str, detail: &str);
}

/// A renamed-away or deleted file is read until it has been quiet this long.
const DRAIN_IDLE: Duration = Duration::from_secs(5);
/// Bytes read from one file per poll, so one busy file cannot starve the others.
const BUDGET: u64 = 64 << 20;
const FINGERPRINT: u64 = 32;

type Id = (u64, u64);

struct Followed {
    id: Id,
    path: PathBuf,
    file: File,
    offset: u64,
    carry: Vec<u8>,
    /// Inside a line longer than the limit: drop bytes up to the next newline.
    skipping: bool,
    bound: bool,
    last_growth: Instant,
    /// The last bytes before `offset`, as read (the copytruncate check).
    print: Vec<u8>,
}

/// One saved offset (the checkpoint), at the start of an incomplete line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offset {
    pub id: Id,
    pub offset: u64,
    pub path: PathBuf,
}

pub struct Tail {
    pattern: String,
    is_glob: bool,
    max_line: usize,
    /// Files held open at once; more matches of a glob are reported, not opened.
    max_files: usize,
    /// After the first scan, new files are read from their start.
    started: bool,
    /// Offsets to resume from, used once at the first scan.
    resume: Option<Vec<Offset>>,
    files: Vec<Followed>,
    /// The inode each name pointed to when last seen (survives the name's disappearance).
    names: HashMap<PathBuf, Id>,
    /// (path, reason) already reported and not yet recovered.
    reported: HashSet<(PathBuf, &'static str)>,
    buf: Vec<u8>,
}

impl Tail {
    pub fn new(
        pattern: &str,
        max_line: usize,
        max_files: usize,
        resume: Option<Vec<Offset>>,
    ) -> Tail {
        let is_glob = pattern.contains(['*', '?', '[']);
        Tail {
            pattern: pattern.to_string(),
            is_glob,
            max_line,
            max_files,
            started: false,
            resume,
            files: Vec::new(),
            names: HashMap::new(),
            reported: HashSet::new(),
            buf: vec![0; 256 << 10],
        }
    }

    /// Read every file from its start (one-shot mode).
    pub fn from_start(mut self) -> Tail {
        self.started = true;
        self
    }

    pub fn max_line(&self) -> usize {
        self.max_line
    }

    pub fn files_followed(&self) -> usize {
        self.files.len()
    }

    pub fn offsets(&self) -> Vec<Offset> {
        self.files
            .iter()
            .map(|f| Offset {
                id: f.id,
                offset: f.offset - f.carry.len() as u64,
                path: f.path.clone(),
            })
            .collect()
    }

    fn paths(&mut self, out: &mut dyn Lines) -> Vec<PathBuf> {
        if !self.is_glob {
            return vec![PathBuf::from(&self.pattern)];
        }
        match glob::glob(&self.pattern) {
            Ok(paths) => paths
                .filter_map(Result::ok)
                // Compressed rotations are not text to tail.
                .filter(|p| {
                    !matches!(
                        p.extension().and_then(|e| e.to_str()),
                        Some("gz" | "bz2" | "xz" | "zst")
                    )
                })
                .collect(),
            Err(e) => {
                self.report(out, &PathBuf::from(&self.pattern), "io", &e.to_string());
                Vec::new()
            }
        }
    }

    fn report(&mut self, out: &mut dyn Lines, path: &Path, reason: &'static str, detail: &str) {
        if self.reported.insert((path.to_path_buf(), reason)) {
            out.read_error(path, reason, detail);
        }
    }

    fn recovered(&mut self, path: &Path) {
        self.reported.retain(|(p, _)| p != path);
    }

    /// One round: find files, read what they gained. True when a read budget ran out
    /// (call again soon).
    pub fn poll(&mut self, out: &mut dyn Lines) -> bool {
        let now = Instant::now();
        for f in &mut self.files {
            f.bound = false;
        }
        for path in self.paths(out) {
            self.bind(&path, out);
        }
        let mut more = false;
        let mut i = 0;
        while i < self.files.len() {
            match self.read(i, out) {
                Ok(budget_hit) => {
                    more |= budget_hit;
                    let f = &self.files[i];
                    if !f.bound && now.duration_since(f.last_growth) > DRAIN_IDLE {
                        self.files.swap_remove(i);
                        continue;
                    }
                }
                Err(e) => {
                    let path = self.files[i].path.clone();
                    self.report(out, &path, "io", &e.to_string());
                    self.files.swap_remove(i);
                    continue;
                }
            }
            i += 1;
        }
        self.started = true;
        self.resume = None;
        more
    }

    /// Attach `path` to the file it names now, opening it if it is new to us.
    fn bind(&mut self, path: &Path, out: &mut dyn Lines) {
        let md = match std::fs::metadata(path) {
            Ok(md) => md,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return self.report(out, path, "permission", &e.to_string());
            }
            Err(e) => return self.report(out, path, "io", &e.to_string()),
        };
        if !md.is_file() {
            return self.report(out, path, "not_a_file", "not a regular file");
        }
        let id = (md.dev(), md.ino());
        if let Some(f) = self.files.iter_mut().find(|f| f.id == id) {
            self.names.insert(path.to_path_buf(), id);
            f.bound = true;
            f.path = path.to_path_buf();
            return;
        }
        if self.files.len() >= self.max_files {
            let detail = format!("more than {} files open for this log", self.max_files);
            return self.report(out, path, "too_many_files", &detail);
        }
        let previous = self.names.insert(path.to_path_buf(), id);
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                self.names.remove(path);
                return self.report(out, path, "permission", &e.to_string());
            }
            Err(e) => {
                self.names.remove(path);
                return self.report(out, path, "io", &e.to_string());
            }
        };
        self.recovered(path);
        if previous.is_some_and(|p| p != id) {
            out.rotation();
        }
        let offset = match &self.resume {
            // Resuming: a file we knew continues; one we did not know appeared meanwhile.
            Some(saved) => saved
                .iter()
                .find(|o| o.id == id && o.offset <= md.len())
                .map_or(0, |o| o.offset),
            None if self.started => 0,
            None => md.len(),
        };
        let mut f = Followed {
            id,
            path: path.to_path_buf(),
            file,
            offset,
            carry: Vec::new(),
            skipping: false,
            bound: true,
            last_growth: Instant::now(),
            print: Vec::new(),
        };
        f.print = bytes_before(&f.file, offset).unwrap_or_default();
        self.files.push(f);
    }

    /// Read file `i` from its offset to EOF (or the budget). Ok(true) when the budget ran out.
    fn read(&mut self, i: usize, out: &mut dyn Lines) -> std::io::Result<bool> {
        let f = &mut self.files[i];
        let len = f.file.metadata()?.len();
        if len < f.offset || bytes_before(&f.file, f.offset)? != f.print {
            // Truncated (copytruncate), possibly regrown already: start over.
            out.rotation();
            f.offset = 0;
            f.carry.clear();
            f.skipping = false;
            f.print.clear();
        }
        let mut budget = BUDGET;
        while f.offset < len {
            let want = (len - f.offset).min(self.buf.len() as u64) as usize;
            let n = f.file.read_at(&mut self.buf[..want], f.offset)?;
            if n == 0 {
                break;
            }
            f.offset += n as u64;
            f.last_growth = Instant::now();
            out.bytes(n as u64);
            let read = &self.buf[..n];
            let keep = FINGERPRINT.min(f.offset) as usize;
            if n >= keep {
                f.print.clear();
                f.print.extend_from_slice(&read[n - keep..]);
            } else {
                f.print.extend_from_slice(read);
                f.print.drain(..f.print.len() - keep);
            }
            split_lines(read, &mut f.carry, &mut f.skipping, self.max_line, out);
            budget = budget.saturating_sub(n as u64);
            if budget == 0 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// One-shot: hand over an unterminated last line too (the file is complete).
    pub fn flush(&mut self, out: &mut dyn Lines) {
        for f in &mut self.files {
            if !f.carry.is_empty() && !f.skipping {
                out.line(&f.carry);
            }
            f.carry.clear();
        }
    }
}

/// Up to [`FINGERPRINT`] bytes just before `offset`, as the file holds them now.
fn bytes_before(file: &File, offset: u64) -> std::io::Result<Vec<u8>> {
    let n = FINGERPRINT.min(offset) as usize;
    let mut v = vec![0u8; n];
    let got = file.read_at(&mut v, offset - n as u64)?;
    v.truncate(got);
    Ok(v)
}

/// Cut `chunk` into lines, joining the start with the incomplete line kept from before.
pub fn split_lines(
    chunk: &[u8],
    carry: &mut Vec<u8>,
    skipping: &mut bool,
    max_line: usize,
    out: &mut dyn Lines,
) {
    let mut start = 0;
    for nl in memchr::memchr_iter(b'\n', chunk) {
        let piece = &chunk[start..nl];
        start = nl + 1;
        if *skipping {
            *skipping = false;
            continue;
        }
        let line: &[u8] = if carry.is_empty() {
            piece
        } else {
            carry.extend_from_slice(piece);
            carry
        };
        if line.len() > max_line {
            out.too_long();
        } else {
            out.line(line.strip_suffix(b"\r").unwrap_or(line));
        }
        carry.clear();
    }
    if !*skipping {
        carry.extend_from_slice(&chunk[start..]);
        if carry.len() > max_line {
            out.too_long();
            carry.clear();
            *skipping = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Seen {
        lines: usize,
        errors: Vec<(PathBuf, &'static str)>,
    }

    impl Lines for Seen {
        fn line(&mut self, _: &[u8]) {
            self.lines += 1;
        }
        fn too_long(&mut self) {}
        fn bytes(&mut self, _: u64) {}
        fn rotation(&mut self) {}
        fn read_error(&mut self, path: &Path, reason: &'static str, _: &str) {
            self.errors.push((path.to_path_buf(), reason));
        }
    }

    #[test]
    fn a_glob_holds_at_most_max_files_open_and_reports_the_rest_once() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..5 {
            std::fs::write(dir.path().join(format!("{i}.log")), "a line\n").unwrap();
        }
        let pattern = format!("{}/*.log", dir.path().display());
        let mut tail = Tail::new(&pattern, 1 << 20, 3, None).from_start();
        let mut seen = Seen::default();
        tail.poll(&mut seen);
        tail.poll(&mut seen);
        assert_eq!(tail.files_followed(), 3);
        assert_eq!(seen.lines, 3);
        let excess: Vec<_> = seen
            .errors
            .iter()
            .filter(|(_, r)| *r == "too_many_files")
            .collect();
        assert_eq!(
            excess.len(),
            2,
            "each excess file reported once: {excess:?}"
        );
    }
}
