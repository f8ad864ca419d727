//! Scorer snapshots (`scorer_snapshots`, `schemas/clickhouse/003_scorer_snapshots.sql`):
//! one encoded partition state per (events topic, partition, config version), the
//! newest `next_offset` wins.
//!
//! Two types for one table: [`SnapshotRef`] borrows the encoded state for writing (a
//! snapshot is tens of megabytes at 10k accounts and is written every few seconds, so
//! it is not copied into the row), [`SnapshotRow`] owns it for reading.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A snapshot as read back.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct SnapshotRow {
    pub topic: String,
    pub partition: i32,
    pub config_version: String,
    /// The first offset not covered by `state`.
    pub next_offset: i64,
    /// The encoded state (`String` column: arbitrary bytes).
    #[serde(with = "serde_bytes")]
    pub state: Vec<u8>,
    #[serde(with = "clickhouse::serde::chrono::datetime")]
    pub created_at: DateTime<Utc>,
}

/// A snapshot to write, borrowing its parts (same columns as [`SnapshotRow`]).
#[derive(Debug, Clone, Copy, clickhouse::Row, Serialize)]
pub struct SnapshotRef<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub config_version: &'a str,
    pub next_offset: i64,
    #[serde(with = "serde_bytes")]
    pub state: &'a [u8],
    #[serde(with = "clickhouse::serde::chrono::datetime")]
    pub created_at: DateTime<Utc>,
}
