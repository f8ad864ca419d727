//! One scorecard dimension's result and where its score comes from: produced by
//! `facts` (which derives each dimension) and reported by `readiness` (which re-exports
//! them). Its own module so that `facts` does not import `readiness`, which imports
//! `facts`.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Where a dimension's score comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The latest unexpired CSM assessment.
    Assessment,
    /// A usage assessment replacing the telemetry score (shown as such; the
    /// telemetry score stays visible as `computed_score`).
    Override,
    /// Usage computed from telemetry against the profile thresholds.
    Computed,
    /// Derived from evidence events (checklist, training, KPIs, stakeholders).
    Evidence,
    /// No data: contributes 0 and blocks graduation.
    #[default]
    Unassessed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct DimensionResult {
    /// 0..10; null when unassessed.
    pub score: Option<f64>,
    pub source: Source,
    /// Percent weight in the total.
    pub weight: f64,
    /// Usage only: the telemetry score, also when an assessment overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub computed_score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assessed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_on: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Human explanation of the score.
    pub detail: String,
    /// The newest input behind the score (SPEC v3 §10); null when none (unassessed):
    /// an assessment's or override's day; evidence: the newest event it is derived from
    /// (milestones of the checklist, training, KPIs, stakeholder events); usage computed
    /// from telemetry: the newest `account` event (the attributes behind seats).
    #[serde(default)]
    pub as_of: Option<NaiveDate>,
    /// `ok` | `missing` (unassessed) | `stale` (input older than its limit,
    /// `quality.stale_after_days`; or, set by the services, resting on a stalled
    /// source). Stale still counts in the total: it only lowers `coverage`.
    #[serde(default)]
    pub state: crate::quality::InputState,
}

impl DimensionResult {
    pub(crate) fn unassessed(weight: f64, detail: String) -> Self {
        Self { weight, detail, ..Self::default() }
    }
}
