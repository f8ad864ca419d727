//! System alerts (`system_alerts`, `schemas/clickhouse/009_system_alerts.sql`): alerts
//! about Pulse's inputs rather than an account, today `source_stalled` (SPEC v3 §10).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::types::Transition;

/// The rule of a stalled source.
pub const SOURCE_STALLED: &str = "source_stalled";

/// One transition of one system alert. Identity: (rule, source, opened_at).
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct SystemAlertRow {
    pub rule: String,
    /// `usage` | `crm`.
    pub source: String,
    /// Wall-clock time the stall was detected.
    #[serde(with = "clickhouse::serde::chrono::datetime64::millis")]
    pub opened_at: DateTime<Utc>,
    pub transition: Transition,
    /// Wall-clock time of this transition.
    #[serde(with = "clickhouse::serde::chrono::datetime64::millis")]
    pub at: DateTime<Utc>,
    /// The source's newest event time when the stall was detected.
    #[serde(with = "clickhouse::serde::chrono::datetime64::millis")]
    pub since: DateTime<Utc>,
    pub lag_seconds: f64,
    pub limit_seconds: f64,
    pub message: String,
    #[serde(with = "clickhouse::serde::chrono::datetime64::millis")]
    pub emitted_at: DateTime<Utc>,
}
