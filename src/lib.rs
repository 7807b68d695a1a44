//! gateway-exporter: tells which layer and which cause produced a 502, 503 or 504.
//!
//! The house: [`base`] (metric types, exposition, durations, shared helpers; imports
//! nothing from the crate) under three sources, [`probe`], [`logs`] and [`workers`], each
//! owning its config section and its metric families; on top, the aggregate: [`config`]
//! (the whole file), [`detect`] (auto-detection), [`registry`] (every family), [`runtime`]
//! (running sources, reload) and [`server`] (HTTP).

pub mod base;
pub mod config;
pub mod detect;
pub mod logs;
pub mod probe;
pub mod registry;
pub mod runtime;
pub mod server;
pub mod workers;
