//! Metric types and registration written once as a table.
//!
//! Each source declares its families with [`families!`]: one row per family (field, metric
//! type with its label set, name, unit, help). The macro builds the struct and its
//! `register`, so families are registered exactly once at start-up and then only written.

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Metric, Registry, Unit};
use std::sync::atomic::AtomicU64;

/// A float gauge (prometheus-client's default gauge is integral).
pub type FGauge = Gauge<f64, AtomicU64>;

/// Register `metric` under `name` (the registry adds its prefix), with a unit when given.
pub fn register(
    registry: &mut Registry,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    metric: impl Metric,
) {
    match unit {
        Some(unit) => registry.register_with_unit(name, help, unit, metric),
        None => registry.register(name, help, metric),
    }
}

/// Declare a struct of metric families and its `register(&mut Registry) -> Self`:
///
/// ```ignore
/// families! {
///     /// Families of the scheduled probes.
///     pub struct ProbeMetrics {
///         success: Family<ProbeLabels, Gauge> = ("probe_success", None, "Whether the last probe passed"),
///         duration: Family<ProbeLabels, FGauge> = ("probe_duration", Some(Unit::Seconds), "Total time"),
///     }
/// }
/// ```
/// A field is built with `Default` unless the row gives its constructor in brackets after
/// the type (a histogram family with its buckets: `Family<L, Histogram, C> [Family::new_with_constructor(C)]`).
#[macro_export]
macro_rules! families {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $field:ident : $ty:ty $([$init:expr])? = ($metric:literal, $unit:expr, $help:literal) ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $( pub $field: $ty, )*
        }

        impl $name {
            /// Register every family of the table, once.
            pub fn register(registry: &mut prometheus_client::registry::Registry) -> Self {
                let families = $name { $( $field: $crate::families!(@init $($init)?), )* };
                $(
                    $crate::base::metrics::register(
                        registry, $metric, $help, $unit, families.$field.clone(),
                    );
                )*
                families
            }
        }
    };
    (@init) => { Default::default() };
    (@init $init:expr) => { $init };
}
