//! Bounds on what clients can make the exporter do at once: requests in flight per route
//! (`--web.max-requests`), one shared collection for overlapping scrapes, one reload per
//! second, and the process' file descriptor limit.

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// At most `max` requests of one route in flight; `0` means no limit (node_exporter's
/// `--web.max-requests`). Beyond it a request is refused at once (503), never queued.
#[derive(Clone)]
pub struct RequestLimit(Option<Arc<Semaphore>>);

/// A place in a [`RequestLimit`], held for the request's lifetime.
pub struct Admitted {
    _place: Option<OwnedSemaphorePermit>,
}

impl RequestLimit {
    pub fn new(max: usize) -> Self {
        RequestLimit((max > 0).then(|| Arc::new(Semaphore::new(max))))
    }

    /// `None` when the limit is reached.
    pub fn try_admit(&self) -> Option<Admitted> {
        match &self.0 {
            None => Some(Admitted { _place: None }),
            Some(places) => places
                .clone()
                .try_acquire_owned()
                .ok()
                .map(|p| Admitted { _place: Some(p) }),
        }
    }
}

/// Overlapping callers share one run of a job: a caller that arrives while a run is in
/// flight waits for that run instead of starting its own. The run is a task of its own,
/// so a caller that goes away (a scrape timed out) does not cancel it for the others.
#[derive(Default)]
pub struct SingleFlight {
    in_flight: Mutex<Option<Shared<BoxFuture<'static, ()>>>>,
}

impl SingleFlight {
    /// Join the run in flight, or start `job` when none is.
    pub async fn run(&self, job: impl Future<Output = ()> + Send + 'static) {
        let shared = {
            let mut in_flight = crate::base::lock::lock(&self.in_flight, "single flight");
            match in_flight.as_ref() {
                Some(run) if run.peek().is_none() => run.clone(),
                _ => {
                    let task = tokio::spawn(job);
                    let run = async move {
                        if let Err(e) = task.await {
                            tracing::error!("collection task failed: {e}");
                        }
                    }
                    .boxed()
                    .shared();
                    *in_flight = Some(run.clone());
                    run
                }
            }
        };
        shared.await;
    }
}

/// Admits one event per `period`; the rest get how long to wait.
pub struct RateLimit {
    period: Duration,
    last: Mutex<Option<Instant>>,
}

impl RateLimit {
    pub fn new(period: Duration) -> Self {
        RateLimit {
            period,
            last: Mutex::new(None),
        }
    }

    /// `Err(wait)` when the last admitted event is younger than the period.
    pub fn admit(&self) -> Result<(), Duration> {
        let mut last = crate::base::lock::lock(&self.last, "rate limit");
        let now = Instant::now();
        if let Some(previous) = *last {
            let since = now.duration_since(previous);
            if since < self.period {
                return Err(self.period - since);
            }
        }
        *last = Some(now);
        Ok(())
    }
}

/// Raise the soft limit on open files to the hard limit (what Go does at start since 1.19),
/// so connections, logs and probes do not run out at the usual soft 1024. Returns the
/// limit now in force.
pub fn raise_fd_limit() -> std::io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit for getrlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: `raised` is a valid rlimit; setrlimit only reads it.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        limit = raised;
    }
    Ok(limit.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn request_limit_admits_up_to_max_and_frees_places() {
        let limit = RequestLimit::new(2);
        let a = limit.try_admit().unwrap();
        let _b = limit.try_admit().unwrap();
        assert!(limit.try_admit().is_none());
        drop(a);
        assert!(limit.try_admit().is_some());
        let unlimited = RequestLimit::new(0);
        let held: Vec<_> = (0..1000).map(|_| unlimited.try_admit().unwrap()).collect();
        assert_eq!(held.len(), 1000);
    }

    #[tokio::test]
    async fn overlapping_callers_share_one_run() {
        let flight = Arc::new(SingleFlight::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let callers: Vec<_> = (0..50)
            .map(|_| {
                let (flight, runs) = (flight.clone(), runs.clone());
                tokio::spawn(async move {
                    flight
                        .run(async move {
                            runs.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        })
                        .await
                })
            })
            .collect();
        for c in callers {
            c.await.unwrap();
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        // After the run ended, the next caller starts a new one.
        let r = runs.clone();
        flight
            .run(async move {
                r.fetch_add(1, Ordering::SeqCst);
            })
            .await;
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn rate_limit_admits_one_per_period() {
        let limit = RateLimit::new(Duration::from_millis(300));
        assert!(limit.admit().is_ok());
        let wait = limit.admit().unwrap_err();
        assert!(wait <= Duration::from_millis(300) && wait > Duration::ZERO);
        std::thread::sleep(Duration::from_millis(320));
        assert!(limit.admit().is_ok());
    }
}
