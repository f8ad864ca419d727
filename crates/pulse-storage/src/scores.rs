//! The scoring outputs: `account_health` and `graduation_readiness`
//! (`schemas/clickhouse/002_scores.sql`), one row per account and day. Written by the
//! scorer, by `pulse backfill` and by the API's fixtures, all through
//! [`HealthRow::new`] and [`ReadinessRow::new`]; ReplacingMergeTree keeps the newest
//! `computed_at` of each (account, day).

use chrono::{DateTime, NaiveDate, Utc};
use pulse_core::{Color, DataStatus, Evaluation, HealthResult, InputState, ReadinessResult};
use serde::{Deserialize, Serialize};

use crate::types::{name_of, Verdict};

/// Account attributes shown next to results (from the CRM `account` events).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributes {
    pub name: String,
    pub csm: String,
    pub arr: Option<f64>,
    pub renewal_on: Option<NaiveDate>,
}

impl From<pulse_core::AccountAttributes> for Attributes {
    fn from(a: pulse_core::AccountAttributes) -> Self {
        Self { name: a.name.unwrap_or_default(), csm: a.csm.unwrap_or_default(), arr: a.arr, renewal_on: a.renewal_on }
    }
}

/// One row of `account_health`.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct HealthRow {
    pub account_id: String,
    #[serde(with = "clickhouse::serde::chrono::date")]
    pub as_of: NaiveDate,
    pub score: f64,
    #[serde(with = "crate::types::color")]
    pub color: Color,
    #[serde(with = "crate::types::color::option")]
    pub previous_color: Option<Color>,
    pub seats: Option<u32>,
    pub dau: u32,
    pub wau: u32,
    pub mau: u32,
    pub dau_pct: Option<f64>,
    pub wau_pct: Option<f64>,
    pub mau_pct: Option<f64>,
    pub wau_change_pct: Option<f64>,
    pub measure_names: Vec<String>,
    pub measure_values: Vec<Option<f64>>,
    pub measure_scores: Vec<f64>,
    pub measure_weights: Vec<f64>,
    pub reasons: Vec<String>,
    pub red_flags: Vec<String>,
    pub name: String,
    pub segment: String,
    pub csm: String,
    pub lifecycle_stage: String,
    pub usage_profile: String,
    pub arr: Option<f64>,
    #[serde(with = "clickhouse::serde::chrono::date::option")]
    pub renewal_on: Option<NaiveDate>,
    pub config_version: String,
    /// The full result as published on `pulse.health`.
    pub result: String,
    /// The row's version (ReplacingMergeTree): the newest computation wins.
    #[serde(with = "clickhouse::serde::chrono::datetime")]
    pub computed_at: DateTime<Utc>,
    /// A former customer on this day (SPEC v3 §8).
    pub former: bool,
    /// SPEC v3 §10.
    #[serde(with = "crate::types::data_status")]
    pub data_status: DataStatus,
    pub coverage: f64,
    /// Per measure (parallel to `measure_names`): the newest input behind it.
    #[serde(with = "crate::types::dates")]
    pub measure_as_of: Vec<Option<NaiveDate>>,
    /// Per measure: `ok` or `stale` (measures without a value are not listed).
    #[serde(with = "crate::types::states")]
    pub measure_states: Vec<InputState>,
}

impl HealthRow {
    /// The row of one health result; `result` is its published JSON.
    pub fn new(
        h: &HealthResult,
        lifecycle: &str,
        attrs: &Attributes,
        result: String,
        computed_at: DateTime<Utc>,
    ) -> Self {
        let m = &h.metrics;
        Self {
            account_id: h.account_id.clone(),
            as_of: h.as_of,
            score: h.score,
            color: h.color,
            previous_color: h.previous_color,
            seats: m.seats.map(|s| u32::try_from(s).unwrap_or(u32::MAX)),
            dau: m.dau,
            wau: m.wau,
            mau: m.mau,
            dau_pct: m.dau_pct,
            wau_pct: m.wau_pct,
            mau_pct: m.mau_pct,
            wau_change_pct: m.wau_change_pct,
            measure_names: h.measures.iter().map(|x| name_of(&x.name)).collect(),
            measure_values: h.measures.iter().map(|x| Some(x.value)).collect(),
            measure_scores: h.measures.iter().map(|x| x.score).collect(),
            measure_weights: h.measures.iter().map(|x| x.weight).collect(),
            reasons: h.reasons.clone(),
            red_flags: h.red_flags.iter().map(|f| f.as_str().to_owned()).collect(),
            name: attrs.name.clone(),
            segment: h.segment.clone().unwrap_or_default(),
            csm: attrs.csm.clone(),
            lifecycle_stage: lifecycle.to_owned(),
            usage_profile: h.usage_profile.as_str().to_owned(),
            arr: attrs.arr,
            renewal_on: attrs.renewal_on,
            config_version: h.config_version.clone(),
            result,
            computed_at,
            former: h.former,
            data_status: h.data_status,
            coverage: h.coverage,
            measure_as_of: h.measures.iter().map(|x| x.as_of).collect(),
            measure_states: h.measures.iter().map(|x| x.state).collect(),
        }
    }
}

/// One row of `graduation_readiness`.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct ReadinessRow {
    pub account_id: String,
    #[serde(with = "clickhouse::serde::chrono::date")]
    pub as_of: NaiveDate,
    pub total: f64,
    pub verdict: Verdict,
    pub technical_score: Option<f64>,
    pub technical_source: String,
    pub knowledge_score: Option<f64>,
    pub knowledge_source: String,
    pub usage_score: Option<f64>,
    pub usage_source: String,
    pub value_score: Option<f64>,
    pub value_source: String,
    pub stakeholder_score: Option<f64>,
    pub stakeholder_source: String,
    /// One line per blocker: `reason -> needed to clear`.
    pub blockers: Vec<String>,
    pub red_flags: Vec<String>,
    pub lifecycle_stage: String,
    pub days_in_stage: Option<i32>,
    /// UInt8 0/1.
    pub overdue: u8,
    /// UInt8 0/1.
    pub recovery_plan_needed: u8,
    pub config_version: String,
    pub result: String,
    #[serde(with = "clickhouse::serde::chrono::datetime")]
    pub computed_at: DateTime<Utc>,
    /// A former customer on this day (SPEC v3 §8).
    pub former: bool,
    /// SPEC v3 §10 (informs only: the verdict keeps its rules).
    #[serde(with = "crate::types::data_status")]
    pub data_status: DataStatus,
    pub coverage: f64,
    /// Per dimension: the newest input behind it, and `ok` | `missing` | `stale`.
    #[serde(with = "clickhouse::serde::chrono::date::option")]
    pub technical_as_of: Option<NaiveDate>,
    #[serde(with = "crate::types::state")]
    pub technical_state: InputState,
    #[serde(with = "clickhouse::serde::chrono::date::option")]
    pub knowledge_as_of: Option<NaiveDate>,
    #[serde(with = "crate::types::state")]
    pub knowledge_state: InputState,
    #[serde(with = "clickhouse::serde::chrono::date::option")]
    pub usage_as_of: Option<NaiveDate>,
    #[serde(with = "crate::types::state")]
    pub usage_state: InputState,
    #[serde(with = "clickhouse::serde::chrono::date::option")]
    pub value_as_of: Option<NaiveDate>,
    #[serde(with = "crate::types::state")]
    pub value_state: InputState,
    #[serde(with = "clickhouse::serde::chrono::date::option")]
    pub stakeholder_as_of: Option<NaiveDate>,
    #[serde(with = "crate::types::state")]
    pub stakeholder_state: InputState,
}

impl ReadinessRow {
    /// The row of one readiness result; `result` is its published JSON.
    pub fn new(r: &ReadinessResult, result: String, computed_at: DateTime<Utc>) -> Self {
        let d = &r.dimensions;
        Self {
            account_id: r.account_id.clone(),
            as_of: r.as_of,
            total: r.total,
            verdict: r.verdict.into(),
            technical_score: d.technical.score,
            technical_source: name_of(&d.technical.source),
            knowledge_score: d.knowledge.score,
            knowledge_source: name_of(&d.knowledge.source),
            usage_score: d.usage.score,
            usage_source: name_of(&d.usage.source),
            value_score: d.value.score,
            value_source: name_of(&d.value.source),
            stakeholder_score: d.stakeholder.score,
            stakeholder_source: name_of(&d.stakeholder.source),
            blockers: r.blockers.iter().map(|b| format!("{} -> {}", b.reason, b.needed_to_clear)).collect(),
            red_flags: r.red_flags.iter().map(|f| f.as_str().to_owned()).collect(),
            lifecycle_stage: lifecycle_str(r),
            days_in_stage: r.days_in_stage.map(|d| i32::try_from(d).unwrap_or(i32::MAX)),
            overdue: u8::from(r.overdue),
            recovery_plan_needed: u8::from(r.recovery_plan_needed),
            config_version: r.config_version.clone(),
            result,
            computed_at,
            former: r.former,
            data_status: r.data_status,
            coverage: r.coverage,
            technical_as_of: d.technical.as_of,
            technical_state: d.technical.state,
            knowledge_as_of: d.knowledge.as_of,
            knowledge_state: d.knowledge.state,
            usage_as_of: d.usage.as_of,
            usage_state: d.usage.state,
            value_as_of: d.value.as_of,
            value_state: d.value.state,
            stakeholder_as_of: d.stakeholder.as_of,
            stakeholder_state: d.stakeholder.state,
        }
    }
}

/// The lifecycle stage as its snake_case name, empty when unknown.
pub fn lifecycle_str(r: &ReadinessResult) -> String {
    r.lifecycle_stage.map(|s| name_of(&s)).unwrap_or_default()
}

/// `{"kind": kind, ...value}`: the line format of `pulse replay`, also what the topics
/// carry and what the `result` column stores.
pub fn tagged<T: Serialize>(kind: &str, value: &T) -> serde_json::Value {
    let mut v = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
    if let serde_json::Value::Object(map) = &mut v {
        let mut out = serde_json::Map::with_capacity(map.len() + 1);
        out.insert("kind".into(), kind.into());
        out.extend(std::mem::take(map));
        return serde_json::Value::Object(out);
    }
    v
}

/// Both rows of one evaluation, with the results serialized as [`tagged`] JSON (what
/// `pulse backfill` and the fixtures store; the scorer, which also publishes the JSON,
/// builds it once and calls the constructors itself).
pub fn evaluation_rows(ev: &Evaluation, attrs: &Attributes, computed_at: DateTime<Utc>) -> (HealthRow, ReadinessRow) {
    let h = HealthRow::new(
        &ev.health,
        &lifecycle_str(&ev.readiness),
        attrs,
        tagged("health", &ev.health).to_string(),
        computed_at,
    );
    let r = ReadinessRow::new(&ev.readiness, tagged("readiness", &ev.readiness).to_string(), computed_at);
    (h, r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulse_core::{parse_event, Engine, ScoringConfig};

    #[test]
    fn rows_of_an_evaluation_carry_its_values_and_names() {
        let mut engine = Engine::new(ScoringConfig::default());
        let lines = [
            r#"{"type":"account","event_id":"a1","account_id":"acme","timestamp":"2026-11-01T08:00:00Z","name":"Acme","csm":"Dana","licensed_seats":5,"lifecycle_stage":"onboarding","arr":1000}"#,
            r#"{"type":"usage","event_id":"u1","account_id":"acme","user_id":"ann","event":"open","timestamp":"2026-11-02T10:00:00Z"}"#,
        ];
        for l in lines {
            engine.apply(&parse_event(l.as_bytes()).expect("valid"));
        }
        let day = NaiveDate::from_ymd_opt(2026, 11, 2).expect("date");
        let ev = engine.evaluate("acme", day).expect("evaluated");
        let attrs = Attributes::from(engine.attributes("acme", day).expect("attributes"));
        let at = crate::types::seconds(1_000);
        let (h, r) = evaluation_rows(&ev, &attrs, at);
        assert_eq!((h.as_of, r.as_of, h.computed_at), (day, day, at));
        assert_eq!(h.color, ev.health.color);
        assert_eq!(r.verdict, Verdict::from(ev.readiness.verdict));
        assert_eq!((h.name.as_str(), h.csm.as_str(), h.arr), ("Acme", "Dana", Some(1000.0)));
        assert_eq!((h.lifecycle_stage.as_str(), r.lifecycle_stage.as_str()), ("onboarding", "onboarding"));
        assert!(!h.measure_names.is_empty());
        assert!(h.measure_names.iter().all(|n| !n.is_empty() && !n.contains('"')), "{:?}", h.measure_names);
        assert!(!r.technical_source.is_empty() && !r.technical_source.contains('"'));
        let stored: serde_json::Value = serde_json::from_str(&h.result).expect("json");
        assert_eq!(stored["kind"], "health");
        assert_eq!(stored["account_id"], "acme");
    }
}
