//! ClickHouse rows for the scoring outputs, in the column order of
//! `schemas/clickhouse/002_scores.sql` (row validation is off for ClickHouse 18.16, so
//! field order is what maps fields to columns; the e2e tests read every column back).

use chrono::NaiveDate;
use std::sync::atomic::{AtomicU64, Ordering};

use pulse_core::{
    alerts::{AlertState, TransitionKind},
    health::Color,
    readiness::DimensionResult,
    AlertTransition, HealthResult, ReadinessResult, Verdict,
};
use serde::{Deserialize, Serialize};

/// ClickHouse `Date`: days since 1970-01-01.
pub fn ch_date(d: NaiveDate) -> u16 {
    let days = d.signed_duration_since(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()).num_days();
    u16::try_from(days.max(0)).unwrap_or(u16::MAX)
}

fn color(c: Color) -> i8 {
    match c {
        Color::Green => 1,
        Color::Yellow => 2,
        Color::Red => 3,
    }
}

fn verdict(v: Verdict) -> i8 {
    match v {
        Verdict::Ready => 1,
        Verdict::Close => 2,
        Verdict::NotReady => 3,
    }
}

fn json_str<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Account attributes shown next to results (from the CRM `account` events).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributes {
    pub name: String,
    pub csm: String,
    pub arr: Option<f64>,
    pub renewal_on: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct HealthRow {
    pub account_id: String,
    pub as_of: u16,
    pub score: f64,
    pub color: i8,
    pub previous_color: Option<i8>,
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
    pub renewal_on: Option<u16>,
    pub config_version: String,
    /// The full result as published on `pulse.health`.
    pub result: String,
    pub computed_at: u32,
}

impl HealthRow {
    pub fn new(h: &HealthResult, lifecycle: &str, attrs: &Attributes, result: String, computed_at: u32) -> Self {
        let m = &h.metrics;
        Self {
            account_id: h.account_id.clone(),
            as_of: ch_date(h.as_of),
            score: h.score,
            color: color(h.color),
            previous_color: h.previous_color.map(color),
            seats: m.seats.map(|s| u32::try_from(s).unwrap_or(u32::MAX)),
            dau: m.dau,
            wau: m.wau,
            mau: m.mau,
            dau_pct: m.dau_pct,
            wau_pct: m.wau_pct,
            mau_pct: m.mau_pct,
            wau_change_pct: m.wau_change_pct,
            measure_names: h.measures.iter().map(|x| json_str(&x.name).trim_matches('"').to_owned()).collect(),
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
            renewal_on: attrs.renewal_on.map(ch_date),
            config_version: h.config_version.clone(),
            result,
            computed_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct ReadinessRow {
    pub account_id: String,
    pub as_of: u16,
    pub total: f64,
    pub verdict: i8,
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
    pub overdue: u8,
    pub recovery_plan_needed: u8,
    pub config_version: String,
    pub result: String,
    pub computed_at: u32,
}

fn source(d: &DimensionResult) -> String {
    json_str(&d.source).trim_matches('"').to_owned()
}

impl ReadinessRow {
    pub fn new(r: &ReadinessResult, result: String, computed_at: u32) -> Self {
        let d = &r.dimensions;
        Self {
            account_id: r.account_id.clone(),
            as_of: ch_date(r.as_of),
            total: r.total,
            verdict: verdict(r.verdict),
            technical_score: d.technical.score,
            technical_source: source(&d.technical),
            knowledge_score: d.knowledge.score,
            knowledge_source: source(&d.knowledge),
            usage_score: d.usage.score,
            usage_source: source(&d.usage),
            value_score: d.value.score,
            value_source: source(&d.value),
            stakeholder_score: d.stakeholder.score,
            stakeholder_source: source(&d.stakeholder),
            blockers: r.blockers.iter().map(|b| format!("{} -> {}", b.reason, b.needed_to_clear)).collect(),
            red_flags: r.red_flags.iter().map(|f| f.as_str().to_owned()).collect(),
            lifecycle_stage: lifecycle_str(r),
            days_in_stage: r.days_in_stage.map(|d| i32::try_from(d).unwrap_or(i32::MAX)),
            overdue: u8::from(r.overdue),
            recovery_plan_needed: u8::from(r.recovery_plan_needed),
            config_version: r.config_version.clone(),
            result,
            computed_at,
        }
    }
}

/// The lifecycle stage as its snake_case name, empty when unknown.
pub fn lifecycle_str(r: &ReadinessResult) -> String {
    r.lifecycle_stage.map(|s| json_str(&s).trim_matches('"').to_owned()).unwrap_or_default()
}

/// One row of `health_alerts` (`schemas/clickhouse/005_alert_history.sql`, same column
/// order): one per alert transition; a retraction is the same (account, rule, opened_on,
/// transition) row again with `state = retracted` and a higher `version`.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct AlertRow {
    pub alert_id: String,
    pub account_id: String,
    pub rule: String,
    /// Enum8: 1 opened, 2 resolved (the transition this row is about).
    pub transition: i8,
    /// Enum8: 1 opened, 2 resolved, 3 retracted.
    pub state: i8,
    pub opened_on: u16,
    pub as_of: u16,
    pub severity: String,
    pub message: String,
    pub details: String,
    pub version: u64,
    /// DateTime64(3): milliseconds since the epoch.
    pub emitted_at: i64,
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

impl AlertRow {
    pub fn new(t: &AlertTransition, version: u64, emitted_at_ms: i64) -> Self {
        Self {
            alert_id: alert_id(t),
            account_id: t.account_id.clone(),
            rule: t.rule.as_str().to_owned(),
            transition: match t.transition() {
                TransitionKind::Opened => 1,
                TransitionKind::Resolved => 2,
            },
            state: match t.state {
                AlertState::Opened => 1,
                AlertState::Resolved => 2,
                AlertState::Retracted => 3,
            },
            opened_on: ch_date(t.opened_on),
            as_of: ch_date(t.as_of),
            severity: json_str(&t.severity).trim_matches('"').to_owned(),
            message: t.message.clone(),
            details: t.details.to_string(),
            version,
            emitted_at: emitted_at_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_days_since_epoch() {
        assert_eq!(ch_date(NaiveDate::from_ymd_opt(1970, 1, 2).expect("date")), 1);
        assert_eq!(ch_date(NaiveDate::from_ymd_opt(2026, 11, 22).expect("date")), 20_779);
    }

    #[test]
    fn versions_strictly_increase() {
        let a = next_version(1_000);
        let b = next_version(1_000);
        let c = next_version(0);
        assert!(a < b && b < c, "{a} {b} {c}");
        assert!(next_version(i64::MAX / 2) >= (i64::MAX / 2) as u64);
    }
}
