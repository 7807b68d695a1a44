#![no_main]
//! Checkpoint files (saved tail offsets) as found on disk after a crash or by hand: what is
//! loaded saves and loads back the same.
use gateway_exporter::logs::fuzzing::{load_checkpoint, save_checkpoint};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

/// In memory where there is a tmpfs: a disk write per input would slow the target down 100x.
static DIR: LazyLock<tempfile::TempDir> = LazyLock::new(|| {
    tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap()
});

fuzz_target!(|data: &[u8]| {
    let path = DIR.path().join("log.offsets");
    std::fs::write(&path, data).unwrap();
    let Some(offsets) = load_checkpoint(&path) else {
        return;
    };
    save_checkpoint(&path, &offsets).unwrap();
    assert_eq!(load_checkpoint(&path).as_ref(), Some(&offsets));
});
