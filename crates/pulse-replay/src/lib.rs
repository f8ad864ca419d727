//! Offline replay (`pulse replay`) and event generators (`pulse gen`).
//!
//! - [`replay`]: NDJSON events through the scoring core, the same code the services
//!   run, with one [`Engine`](pulse_core::engine::Engine) per account shard so the
//!   work spreads over every core. Output is identical for any thread count.
//! - [`gen`]: seeded generators for the bench workload and the demo data set.
//!
//! No clock, no network: input, output and dates are arguments.

pub mod backtest;
pub mod chunks;
pub mod fast;
pub mod gen;
pub mod replay;
pub mod shard;

pub use replay::{load, replay, replay_file, Loaded, ReplayError, ReplayOptions, ReplaySummary, Window};
