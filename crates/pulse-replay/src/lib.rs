//! Offline replay (`pulse replay`) and the renewal backtest (`pulse backtest`).
//!
//! - [`replay`]: NDJSON events through the scoring core, the same code the services
//!   run, with one [`Engine`](pulse_core::engine::Engine) per account shard so the
//!   work spreads over every core. Output is identical for any thread count.
//! - [`backtest`]: renewal outcomes scored against the health replayed before them.
//!
//! The seeded generators (`pulse gen`) are the `pulse-gen` crate.
//!
//! No clock, no network: input, output and dates are arguments.

pub mod backtest;
pub mod chunks;
pub mod fast;
mod output;
pub mod replay;
pub mod shard;

pub use replay::{load, replay, replay_file, Loaded, ReplayError, ReplayOptions, ReplaySummary, Window};
