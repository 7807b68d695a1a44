//! Tailing: a writer appends numbered lines while the file is rotated every way (and the
//! exporter's config is reloaded); globs that gain files; files that appear later; a
//! checkpoint across restarts. Counts must be exact: no line lost, none counted twice.

mod common;

use common::*;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn line(n: u64) -> String {
    format!(
        "2026/11/22 00:00:00 [error] 7#7: *{n} connect() failed (111: Connection refused) while connecting to upstream, client: 192.0.2.1, server: s.test, request: \"GET /{n} HTTP/1.1\", upstream: \"http://10.0.0.1:80/{n}\"\n"
    )
}

fn append(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

/// Lines read by the exporter for `log`.
fn read(exporter: &Exporter, log: &str) -> f64 {
    sum(
        &exporter.metrics(),
        "gateway_log_lines_read_total",
        &[("log", log)],
    )
}

/// The writer: appends numbered lines to whatever file it holds; `reopen` makes it open
/// the path again (as nginx does on USR1). The lock pauses it.
struct Writer {
    file: Mutex<File>,
    path: PathBuf,
    written: AtomicU64,
    reopen: AtomicBool,
    stop: AtomicBool,
}

impl Writer {
    fn run(&self) {
        while !self.stop.load(Ordering::Relaxed) {
            {
                let mut f = self.file.lock().unwrap();
                if self.reopen.swap(false, Ordering::Relaxed) {
                    *f = append(&self.path);
                }
                for _ in 0..5 {
                    let n = self.written.load(Ordering::Relaxed) + 1;
                    f.write_all(line(n).as_bytes()).unwrap();
                    self.written.store(n, Ordering::Relaxed);
                }
            }
            std::thread::sleep(Duration::from_micros(300));
        }
    }
}

/// `gateway_log_rotations_total` for `log`.
fn rotations(exporter: &Exporter, log: &str) -> f64 {
    sum(
        &exporter.metrics(),
        "gateway_log_rotations_total",
        &[("log", log)],
    )
}

#[test]
fn rotation_torture_counts_every_line_once() {
    let dir = tempdir();
    let path = dir.path().join("app.log");
    std::fs::write(&path, line(0)).unwrap(); // before the exporter: not counted
    let exporter = Exporter::start(&format!(
        "logs:\n  - {{path: {}, format: nginx_error, name: app}}\nlog_settings: {{poll_interval: 20ms}}\n",
        path.display()
    ));
    exporter.wait_following("app", 1.0);
    let w = Arc::new(Writer {
        file: Mutex::new(append(&path)),
        path: path.clone(),
        written: AtomicU64::new(0),
        reopen: AtomicBool::new(false),
        stop: AtomicBool::new(false),
    });
    let writer = {
        let w = w.clone();
        std::thread::spawn(move || w.run())
    };
    // Each step waits for the exporter to have seen it (a counter moved), never for a
    // poll to fall inside a sleep: a loaded machine only makes the test slower.
    let rotated = std::cell::Cell::new(0.0);
    let wait_rotation = |step: &str| {
        rotated.set(rotated.get() + 1.0);
        eventually(Duration::from_secs(10), step, || {
            (rotations(&exporter, "app") >= rotated.get()).then_some(())
        });
    };
    // With the writer paused: every line so far read, the path missing or not.
    let wait_caught_up = |step: &str| {
        let target = w.written.load(Ordering::Relaxed) as f64;
        eventually(Duration::from_secs(10), step, || {
            (read(&exporter, "app") >= target).then_some(())
        });
    };
    let old = dir.path().join("app.log.1");
    let copy = dir.path().join("app.log.copy");
    let rounds: u32 = 5;
    let reloads_before = sum(&exporter.metrics(), "gateway_config_reloads_total", &[]);
    for round in 0..rounds {
        std::thread::sleep(Duration::from_millis(30)); // let the writer write
        // 1. rename and create, the writer reopening at once.
        {
            let _pause = w.file.lock().unwrap();
            std::fs::rename(&path, &old).unwrap();
            File::create(&path).unwrap();
            w.reopen.store(true, Ordering::Relaxed);
        }
        wait_rotation("rename and create seen");
        // 2. rename, the writer going on in the renamed file for a while (a late USR1):
        // the lines it adds there are read while the path is missing.
        std::fs::rename(&path, &old).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        {
            let _pause = w.file.lock().unwrap();
            wait_caught_up("renamed file read to its end while the path is missing");
            File::create(&path).unwrap();
            w.reopen.store(true, Ordering::Relaxed);
        }
        wait_rotation("late reopen seen");
        // 3. copytruncate. logrotate loses whatever the copy missed and the reader had not
        // read yet; that loss is not ours to measure, so wait until the exporter caught up.
        // The file then regrows past the old offset before the next poll: only the bytes
        // before the offset can tell it was truncated.
        {
            let mut f = w.file.lock().unwrap();
            wait_caught_up("caught up before copytruncate");
            std::fs::copy(&path, &copy).unwrap();
            let size = std::fs::metadata(&path).unwrap().len();
            OpenOptions::new()
                .write(true)
                .open(&path)
                .unwrap()
                .set_len(0)
                .unwrap();
            let mut burst = String::new();
            while (burst.len() as u64) < size + 500 {
                let n = w.written.load(Ordering::Relaxed) + 1;
                burst.push_str(&line(n));
                w.written.store(n, Ordering::Relaxed);
            }
            f.write_all(burst.as_bytes()).unwrap();
        }
        wait_rotation("copytruncate seen");
        // 4. delete and recreate; lines written to the deleted file before the reopen count.
        std::fs::remove_file(&path).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        {
            let _pause = w.file.lock().unwrap();
            wait_caught_up("deleted file read to its end");
            File::create(&path).unwrap();
            w.reopen.store(true, Ordering::Relaxed);
        }
        wait_rotation("delete and recreate seen");
        // 5. a config reload in the middle of it all must neither re-read nor skip.
        if round % 2 == 0 {
            exporter.daemon.signal(libc::SIGHUP);
        }
    }
    std::thread::sleep(Duration::from_millis(30));
    w.stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let written = w.written.load(Ordering::Relaxed) as f64;
    assert!(
        written > 1000.0,
        "the writer wrote too little to test anything: {written}"
    );
    eventually(Duration::from_secs(10), "every line read", || {
        (read(&exporter, "app") >= written).then_some(())
    });
    let reloads = reloads_before + rounds.div_ceil(2) as f64;
    eventually(Duration::from_secs(10), "every SIGHUP handled", || {
        (sum(&exporter.metrics(), "gateway_config_reloads_total", &[]) >= reloads).then_some(())
    });
    std::thread::sleep(Duration::from_millis(200)); // nothing more may come
    let text = exporter.metrics();
    assert_eq!(
        sum(&text, "gateway_log_lines_read_total", &[("log", "app")]),
        written,
        "{text}"
    );
    assert_eq!(
        sum(
            &text,
            "gateway_upstream_errors_total",
            &[("log", "app"), ("cause", "connect_refused")]
        ),
        written
    );
    assert_eq!(
        sample_value(
            &text,
            "gateway_log_lines_unrecognised_total",
            &[("log", "app")]
        ),
        Some(0.0)
    );
    // Rename (x2), copytruncate and delete-and-recreate, each round, each seen once.
    assert_eq!(
        sum(&text, "gateway_log_rotations_total", &[("log", "app")]),
        4.0 * rounds as f64,
        "{text}"
    );
    assert_eq!(
        sum(&text, "gateway_config_reloads_total", &[]),
        reloads,
        "one reload per SIGHUP"
    );
}

#[test]
fn globs_gain_files_and_late_files_are_read_from_their_start() {
    let dir = tempdir();
    let d = dir.path();
    std::fs::write(d.join("a.log"), line(1) + &line(2)).unwrap(); // existing: from its end
    let exporter = Exporter::start(&format!(
        "logs:\n  - {{path: '{d}/*.log', format: nginx_error, name: glob}}\n  - {{path: {d}/later/x.log, format: nginx_error, name: later}}\nlog_settings: {{poll_interval: 20ms}}\n",
        d = d.display()
    ));
    exporter.wait_following("glob", 1.0);
    append(&d.join("a.log"))
        .write_all(line(3).as_bytes())
        .unwrap();
    // Written in full before the exporter can see it: must still count (mtail loses these).
    std::fs::write(d.join("b.log.tmp"), line(4) + &line(5) + &line(6)).unwrap();
    std::fs::rename(d.join("b.log.tmp"), d.join("b.log")).unwrap();
    std::fs::create_dir(d.join("later")).unwrap();
    std::fs::write(d.join("later/x.log"), line(7) + &line(8)).unwrap();
    // An unterminated line waits for its newline.
    let mut c = append(&d.join("c.log"));
    c.write_all(b"2026/11/22 00:00:00 [error] 7#7: *9 no live upstreams while conn")
        .unwrap();
    eventually(Duration::from_secs(5), "files read", || {
        let t = exporter.metrics();
        (sum(&t, "gateway_log_lines_read_total", &[("log", "glob")]) >= 4.0
            && sum(&t, "gateway_log_lines_read_total", &[("log", "later")]) >= 2.0)
            .then_some(())
    });
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        read(&exporter, "glob"),
        4.0,
        "the partial line must not count yet"
    );
    c.write_all(b"ecting to upstream, client: 1.2.3.4, server: s, upstream: \"http://pool/\"\n")
        .unwrap();
    eventually(Duration::from_secs(5), "completed line", || {
        (read(&exporter, "glob") >= 5.0).then_some(())
    });
    std::thread::sleep(Duration::from_millis(200));
    let t = exporter.metrics();
    assert_eq!(
        sum(&t, "gateway_log_lines_read_total", &[("log", "glob")]),
        5.0
    );
    assert_eq!(
        sum(&t, "gateway_log_lines_read_total", &[("log", "later")]),
        2.0
    );
    assert_eq!(
        sum(
            &t,
            "gateway_upstream_errors_total",
            &[
                ("log", "glob"),
                ("cause", "no_live_upstreams"),
                ("upstream", "pool")
            ]
        ),
        1.0
    );
    assert_eq!(
        sum(&t, "gateway_log_files_followed", &[("log", "glob")]),
        3.0
    );
}

/// A log `app.log` holding one line, followed with offsets checkpointed in `state/`:
/// (log, state dir, config).
fn checkpointed_log(dir: &Path) -> (PathBuf, PathBuf, String) {
    let log = dir.join("app.log");
    let state = dir.join("state");
    std::fs::write(&log, line(0)).unwrap();
    let config = format!(
        "logs:\n  - {{path: {}, format: nginx_error, name: app}}\nlog_settings: {{poll_interval: 20ms, state_dir: {}}}\n",
        log.display(),
        state.display()
    );
    (log, state, config)
}

#[test]
fn a_checkpoint_continues_where_the_last_run_stopped() {
    let dir = tempdir();
    let (log, state, config) = checkpointed_log(dir.path());
    let first = Exporter::start(&config);
    first.wait_following("app", 1.0);
    let mut f = append(&log);
    for n in 1..=10 {
        f.write_all(line(n).as_bytes()).unwrap();
    }
    eventually(Duration::from_secs(5), "10 lines", || {
        (read(&first, "app") >= 10.0).then_some(())
    });
    // Offsets are saved at most once a second.
    let size = std::fs::metadata(&log).unwrap().len();
    eventually(Duration::from_secs(5), "checkpoint written", || {
        (checkpointed_offset(&state, &log) == Some(size)).then_some(())
    });
    drop(first);
    for n in 11..=15 {
        f.write_all(line(n).as_bytes()).unwrap(); // while the exporter is down
    }
    let second = Exporter::start(&config);
    eventually(Duration::from_secs(5), "5 lines", || {
        (read(&second, "app") >= 5.0).then_some(())
    });
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(read(&second, "app"), 5.0);
}

/// The offset `state` records for `log`, if any (the log `app` checkpoints into
/// `app-<hash of the name>.offsets`).
fn checkpointed_offset(state: &Path, log: &Path) -> Option<u64> {
    let file = std::fs::read_dir(state).ok()?.flatten().find(|e| {
        let name = e.file_name().to_string_lossy().to_string();
        name.starts_with("app-") && name.ends_with(".offsets")
    })?;
    let text = std::fs::read_to_string(file.path()).ok()?;
    text.lines().find_map(|l| {
        let fields: Vec<&str> = l.splitn(4, ' ').collect();
        (fields.get(3) == Some(&log.to_str()?)).then(|| fields[2].parse().ok())?
    })
}

#[test]
fn a_clean_shutdown_saves_the_offsets() {
    let dir = tempdir();
    let (log, state, config) = checkpointed_log(dir.path());
    let first = Exporter::start(&config);
    first.wait_following("app", 1.0);
    let mut f = append(&log);
    // Lines read but not yet checkpointed (saves are at most once a second): if a periodic
    // save caught up meanwhile, append more until the checkpoint is stale again.
    let mut written = 0;
    loop {
        written += 1;
        f.write_all(line(written).as_bytes()).unwrap();
        eventually(Duration::from_secs(5), "line read", || {
            (read(&first, "app") >= written as f64).then_some(())
        });
        let size = std::fs::metadata(&log).unwrap().len();
        if checkpointed_offset(&state, &log) != Some(size) {
            break;
        }
        assert!(written < 50, "every line was checkpointed at once");
    }
    let size = std::fs::metadata(&log).unwrap().len();
    drop(first); // SIGTERM
    assert_eq!(
        checkpointed_offset(&state, &log),
        Some(size),
        "the shutdown saved the offset of the last line read"
    );
    for n in 1..=5 {
        f.write_all(line(written + n).as_bytes()).unwrap();
    }
    let second = Exporter::start(&config);
    eventually(Duration::from_secs(5), "5 lines", || {
        (read(&second, "app") >= 5.0).then_some(())
    });
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(read(&second, "app"), 5.0);
}
