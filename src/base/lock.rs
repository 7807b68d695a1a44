//! One policy for a poisoned lock: a panic while a lock was held must not stop a log from
//! being followed or fail every later scrape. The data behind our locks (counters, offsets,
//! label caches) stays usable after a panic, so we recover it, log the first and
//! count every recovery in `gateway_lock_recoveries_total`.

use prometheus_client::metrics::counter::Counter;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard};

/// Recoveries from poisoned locks since start (registered by the aggregate registry).
pub static RECOVERIES: LazyLock<Counter> = LazyLock::new(Counter::default);

/// Lock `mutex`, recovering the data if a previous holder panicked.
pub fn lock<'a, T>(mutex: &'a Mutex<T>, what: &'static str) -> MutexGuard<'a, T> {
    mutex.lock().unwrap_or_else(|poisoned| {
        static LOGGED: AtomicBool = AtomicBool::new(false);
        RECOVERIES.inc();
        if !LOGGED.swap(true, Ordering::Relaxed) {
            tracing::error!(
                lock = what,
                "a task panicked while holding a lock; recovered (counted in gateway_lock_recoveries_total, logged once)"
            );
        }
        mutex.clear_poison();
        poisoned.into_inner()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_lock_is_recovered_and_counted() {
        let m = std::sync::Arc::new(Mutex::new(5));
        let m2 = m.clone();
        let _ = std::thread::spawn(move || {
            let _g = m2.lock().unwrap();
            panic!("poison it");
        })
        .join();
        assert!(m.is_poisoned());
        let before = RECOVERIES.get();
        assert_eq!(*lock(&m, "test"), 5);
        assert_eq!(RECOVERIES.get(), before + 1);
        assert!(!m.is_poisoned());
    }
}
