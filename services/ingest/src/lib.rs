//! The ingest service: takes raw events from the usage and CRM topics, validates and
//! normalizes them with `pulse-core`, stores them in ClickHouse, forwards the normalized
//! events keyed by account to the topic the scorer reads, and sends everything invalid to
//! the dead-letter topic with its original bytes and a machine-readable reason.
//!
//! Delivery is at-least-once: a batch's offsets are committed only after its rows are in
//! ClickHouse and every forwarded and dead-lettered message is acknowledged by the broker.
//! A crash re-delivers at most the uncommitted batch; ClickHouse collapses the repeated
//! event ids (ReplacingMergeTree, read with FINAL) and the scorer's state is idempotent.
//!
//! Backpressure: while ClickHouse or the broker refuses a batch, the service retries with
//! exponential backoff and pauses its partitions, so memory stays bounded by one batch.

pub mod batch;
pub mod config;
pub mod dlq;
pub mod metrics;
pub mod rows;
pub mod service;

pub use config::IngestConfig;
pub use metrics::IngestMetrics;
pub use service::Ingest;
