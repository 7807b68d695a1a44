//! The shared base: metric types and registration, the exposition formats, durations, the
//! clock, address and HTTP/1 helpers, the scrape-time collector contract, the lock policy.
//!
//! Everything here imports nothing from the rest of the crate (only from `base` itself), so
//! every source can build on it without a cycle.

pub mod clock;
pub mod collector;
pub mod duration;
pub mod exposition;
pub mod http1;
pub mod lock;
pub mod metrics;
pub mod net;
