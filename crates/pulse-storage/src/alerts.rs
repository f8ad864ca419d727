//! Alert history (`health_alerts`, `schemas/clickhouse/005_alert_history.sql`) and
//! acknowledgements (`alert_acks`, `004_alert_acks.sql`).

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, NaiveDate, Utc};
use pulse_core::{alerts::TransitionReason, AlertTransition};
use serde::{Deserialize, Serialize};

use crate::types::{name_of, Transition, TransitionState};

/// One row of `health_alerts`: one transition of one alert, or (`state = retracted`)
/// the withdrawal of one; a retraction is the same (account, rule, opened_on,
/// transition) row again with a higher `version`.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct AlertRow {
    pub alert_id: String,
    pub account_id: String,
    pub rule: String,
    /// The transition this row states or (`state = retracted`) withdraws.
    pub transition: Transition,
    pub state: TransitionState,
    #[serde(with = "clickhouse::serde::chrono::date")]
    pub opened_on: NaiveDate,
    #[serde(with = "clickhouse::serde::chrono::date")]
    pub as_of: NaiveDate,
    pub severity: String,
    pub message: String,
    pub details: String,
    /// ReplacingMergeTree version: the newest word on a transition wins.
    pub version: u64,
    /// `DateTime64(3, 'UTC')`.
    #[serde(with = "clickhouse::serde::chrono::datetime64::millis")]
    pub emitted_at: DateTime<Utc>,
    /// Why a resolve is not the rule's own: `churned` (SPEC v3 §8); `''` (none) otherwise.
    #[serde(with = "crate::types::reason")]
    pub reason: Option<TransitionReason>,
}

impl AlertRow {
    pub fn new(t: &AlertTransition, version: u64, emitted_at: DateTime<Utc>) -> Self {
        Self {
            alert_id: alert_id(t),
            account_id: t.account_id.clone(),
            rule: t.rule.as_str().to_owned(),
            transition: t.transition().into(),
            state: t.state.into(),
            opened_on: t.opened_on,
            as_of: t.as_of,
            severity: name_of(&t.severity),
            message: t.message.clone(),
            details: t.details.to_string(),
            version,
            emitted_at,
            reason: t.reason,
        }
    }

    /// The row that withdraws this transition, with a newer version.
    pub fn retracted(&self, version: u64, emitted_at: DateTime<Utc>) -> Self {
        Self { state: TransitionState::Retracted, version, emitted_at, ..self.clone() }
    }
}

/// Identity of one alert across its `opened` and `resolved` transitions.
pub fn alert_id(t: &AlertTransition) -> String {
    format!("{}/{}/{}", t.account_id, t.rule.as_str(), t.opened_on)
}

static LAST_VERSION: AtomicU64 = AtomicU64::new(0);

/// A row version for `health_alerts`: strictly increasing within the process and
/// `max(now in microseconds, last + 1)`, so a later word on a transition (a retraction,
/// a re-derivation) always replaces the earlier one, also across restarts (the clock
/// moves on).
pub fn next_version(now_us: i64) -> u64 {
    let now = u64::try_from(now_us).unwrap_or(0);
    let mut last = LAST_VERSION.load(Ordering::Relaxed);
    loop {
        let v = now.max(last + 1);
        match LAST_VERSION.compare_exchange_weak(last, v, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return v,
            Err(x) => last = x,
        }
    }
}

/// One row of `alert_acks`: who acknowledged an alert, when and why (the newest
/// acknowledgement of an alert wins).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clickhouse::Row)]
pub struct AckRow {
    pub alert_id: String,
    pub account_id: String,
    pub rule: String,
    /// The person named in the request.
    pub acknowledged_by: String,
    /// The API credential's name (audit).
    pub principal: String,
    pub note: String,
    /// `DateTime('UTC')`: whole seconds.
    #[serde(with = "clickhouse::serde::chrono::datetime")]
    pub acknowledged_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_strictly_increase() {
        let a = next_version(1_000);
        let b = next_version(1_000);
        let c = next_version(0);
        assert!(a < b && b < c, "{a} {b} {c}");
        assert!(next_version(i64::MAX / 2) >= (i64::MAX / 2) as u64);
    }
}
