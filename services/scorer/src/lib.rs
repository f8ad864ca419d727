//! The streaming scorer: keeps every account's scoring state live from the normalized
//! event topic (keyed by account, so one account's events stay in one partition) and
//! publishes health, readiness and alert transitions to Kafka and ClickHouse.
//!
//! State follows the partition. Each assigned partition has its own `pulse_core::Engine`
//! and `AlertTracker`, restored from the latest snapshot in ClickHouse
//! (`scorer_snapshots`), and the log after the snapshot is replayed. Because applying an
//! event twice changes nothing, replaying from any offset at or before the snapshot's is
//! correct; so a Kafka offset is committed only after a snapshot covering it is stored,
//! and outputs (deterministic keys, ReplacingMergeTree) are idempotent under the replay.
//!
//! Time: results are evaluated "as of" today (UTC) by an injected [`clock::Clock`]; at
//! every day boundary every account is re-evaluated even without events, so silence
//! lowers WAU and fires decline alerts, and history has a row per account per day.

pub mod backfill;
pub mod clock;
pub mod config;
mod in_flight;
pub mod metrics;
pub mod notifier;
pub mod notify;
pub mod outputs;
pub mod rebuild;
pub mod rows;
pub mod service;
pub mod snapshot;
pub mod sources;
pub mod state;
pub mod webhook;

pub use clock::{Clock, FixedClock, SystemClock};
pub use config::ScorerConfig;
pub use metrics::ScorerMetrics;
pub use notifier::Notifier;
pub use service::Scorer;
