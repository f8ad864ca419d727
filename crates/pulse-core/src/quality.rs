//! Data quality (SPEC v3 §10): "the customer went quiet" is not "our data went quiet".
//!
//! Every health and readiness result says how much of it rests on current data
//! (`coverage`, `data_status`), and every measure and dimension says how old its newest
//! input is (`as_of`) and whether it counts (`state`). The core judges staleness at the
//! end of the result's day from the events alone (no clock); whether a *source* is
//! stalled needs the wall clock, so the services decide that and mark results
//! [`DataStatus::Stale`].

use serde::{Deserialize, Serialize};

/// How far a result rests on current data, worst last in severity order of SPEC §10's
/// rule: `stale` (a source is stalled) before `insufficient` (coverage < 0.6) before
/// `partial` (a measure missing or stale) before `ok`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DataStatus {
    #[default]
    Ok,
    Partial,
    Stale,
    Insufficient,
}

impl DataStatus {
    pub const ALL: [DataStatus; 4] = [DataStatus::Ok, DataStatus::Partial, DataStatus::Stale, DataStatus::Insufficient];

    pub fn as_str(&self) -> &'static str {
        match self {
            DataStatus::Ok => "ok",
            DataStatus::Partial => "partial",
            DataStatus::Stale => "stale",
            DataStatus::Insufficient => "insufficient",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// Whether one measure's or dimension's input counts toward coverage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum InputState {
    #[default]
    Ok,
    /// No value that day (unassessed, no comparison data, mau = 0, seats unknown).
    Missing,
    /// Scored from an input older than its limit (CRM-fed), or while its source is
    /// stalled (usage-fed).
    Stale,
}

impl InputState {
    pub fn as_str(&self) -> &'static str {
        match self {
            InputState::Ok => "ok",
            InputState::Missing => "missing",
            InputState::Stale => "stale",
        }
    }
}

/// `coverage`'s default for results stored before v3 (serde).
pub(crate) fn full_coverage() -> f64 {
    1.0
}
