//! Graduation readiness (SPEC §3): the five-dimension scorecard of seed 001, its
//! blockers with what clears each, the verdict, and time in stage.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub use crate::dimension::{DimensionResult, Source};
use crate::event::{Dimension, LifecycleStage, UsageProfile};
use crate::facts::Facts;
use crate::metrics::RedFlag;
use crate::num::{date_from_day, day_from_date, round};
use crate::quality::InputState;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dimensions {
    pub technical: DimensionResult,
    pub knowledge: DimensionResult,
    pub usage: DimensionResult,
    pub value: DimensionResult,
    pub stakeholder: DimensionResult,
}

impl Dimensions {
    pub fn get(&self, d: Dimension) -> &DimensionResult {
        match d {
            Dimension::Technical => &self.technical,
            Dimension::Knowledge => &self.knowledge,
            Dimension::Usage => &self.usage,
            Dimension::Value => &self.value,
            Dimension::Stakeholder => &self.stakeholder,
        }
    }

    pub fn get_mut(&mut self, d: Dimension) -> &mut DimensionResult {
        match d {
            Dimension::Technical => &mut self.technical,
            Dimension::Knowledge => &mut self.knowledge,
            Dimension::Usage => &mut self.usage,
            Dimension::Value => &mut self.value,
            Dimension::Stakeholder => &mut self.stakeholder,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ready,
    Close,
    NotReady,
}

impl Verdict {
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Ready => "ready",
            Verdict::Close => "close",
            Verdict::NotReady => "not_ready",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockerKind {
    /// A dimension scored below `readiness.green_dimension`.
    BelowGreen,
    /// A dimension has no assessment and no evidence.
    Unassessed,
    /// A red flag is raised.
    RedFlag,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Blocker {
    pub kind: BlockerKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimension: Option<Dimension>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag: Option<RedFlag>,
    pub reason: String,
    pub needed_to_clear: String,
}

/// One readiness line (SPEC §7 `kind: readiness`, without `kind`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadinessResult {
    pub account_id: String,
    pub as_of: NaiveDate,
    /// Sum of weight x score over the dimensions (unassessed = 0), two decimals.
    pub total: f64,
    pub verdict: Verdict,
    pub dimensions: Dimensions,
    pub blockers: Vec<Blocker>,
    pub red_flags: Vec<RedFlag>,
    pub usage_profile: UsageProfile,
    pub lifecycle_stage: Option<LifecycleStage>,
    pub onboarding_started_on: Option<NaiveDate>,
    pub target_graduation_on: Option<NaiveDate>,
    /// Days since `onboarding_started_on`; null when unset or in the future.
    pub days_in_stage: Option<i64>,
    /// as_of - `target_graduation_on` (negative: days left); null when unset.
    pub days_past_target: Option<i64>,
    /// Past the target graduation date, still onboarding (stage unset or
    /// `onboarding`) and not ready.
    pub overdue: bool,
    /// Overdue by `readiness.recovery_after_days` (30) or more.
    pub recovery_plan_needed: bool,
    pub config_version: String,
    /// A former customer on this day (SPEC v3 §8).
    #[serde(default)]
    pub former: bool,
    /// SPEC v3 §10 (informs only: the verdict keeps §3's rules): `insufficient` when
    /// `coverage` < 0.6, else `partial` when a dimension of weight above 0 is missing
    /// (unassessed) or stale, else `ok`; `stale` only from the services (a stalled
    /// source).
    #[serde(default)]
    pub data_status: crate::quality::DataStatus,
    /// Weight of the dimensions whose state is `ok` over that of all dimensions of
    /// weight above 0, 0..1, four decimals.
    #[serde(default = "crate::quality::full_coverage")]
    pub coverage: f64,
}

fn flag_blocker(f: &Facts<'_>, flag: RedFlag) -> Blocker {
    let m = &f.metrics;
    let show = |x: Option<f64>| x.map_or_else(|| "null".to_owned(), |v| v.to_string());
    let (reason, needed) = match flag {
        RedFlag::LowEngagement => {
            let s = f.eff.primary.as_str();
            (
                format!(
                    "{s} is {} (below {}% for the {} profile)",
                    show(m.share(f.eff.primary)),
                    f.eff.low_engagement_pct,
                    f.eff.profile.as_str()
                ),
                format!("raise {s} to {} or more", f.eff.low_engagement_pct),
            )
        }
        RedFlag::UsageDeclining => {
            let (what, when, earlier, change, before, now) = match f.eff.profile {
                UsageProfile::Periodic => (
                    "monthly active users",
                    "against 28 days earlier",
                    "the month before's",
                    m.mau_change_pct,
                    f.extra.mau_prev_month,
                    m.mau,
                ),
                _ => (
                    "weekly active users",
                    "week over week",
                    "last week's",
                    m.wau_change_pct,
                    f.extra.wau_prev_week,
                    m.wau,
                ),
            };
            (
                format!("{what} changed {}% {when} ({before} -> {now})", show(change)),
                format!(
                    "{what} above {}% of {earlier} {before} (more than {})",
                    100.0 + f.eff.usage_declining_pct,
                    round(f64::from(before) * (1.0 + f.eff.usage_declining_pct / 100.0), 2)
                ),
            )
        }
        RedFlag::SeatsUnknown => (
            match m.seats {
                Some(0) => "licensed_seats is 0".to_owned(),
                _ => "licensed_seats is unknown".to_owned(),
            },
            "an account event setting licensed_seats > 0".to_owned(),
        ),
        RedFlag::CriticalTicketsOpen => (
            format!("open critical tickets: {}", f.critical_tickets.join(", ")),
            format!("resolve tickets {}", f.critical_tickets.join(", ")),
        ),
        RedFlag::ChampionLeft => (
            format!("champion left: {}", f.champions_left.join(", ")),
            "an active champion (stakeholder event role=champion status=active)".to_owned(),
        ),
    };
    Blocker { kind: BlockerKind::RedFlag, dimension: None, flag: Some(flag), reason, needed_to_clear: needed }
}

pub(crate) fn build(f: &Facts<'_>) -> ReadinessResult {
    let cfg = f.cfg;
    let green = cfg.readiness.green_dimension;
    let mut total = 0.0;
    let mut blockers = Vec::new();
    for d in Dimension::ALL {
        let r = &f.dims[d.index()];
        match r.score {
            None => blockers.push(Blocker {
                kind: BlockerKind::Unassessed,
                dimension: Some(d),
                flag: None,
                reason: format!("{d} is unassessed: {}", r.detail),
                needed_to_clear: f.to_raise[d.index()].clone(),
            }),
            Some(s) => {
                total += r.weight / 100.0 * s;
                if s < green {
                    blockers.push(Blocker {
                        kind: BlockerKind::BelowGreen,
                        dimension: Some(d),
                        flag: None,
                        reason: format!("{d} scored {s}, below {green} ({})", r.detail),
                        needed_to_clear: f.to_raise[d.index()].clone(),
                    });
                }
            }
        }
    }
    for &flag in &f.red_flags {
        blockers.push(flag_blocker(f, flag));
    }
    let total = round(total, 2);
    let verdict = if total >= cfg.readiness.ready_total && blockers.is_empty() {
        Verdict::Ready
    } else if total >= cfg.readiness.close_total {
        Verdict::Close
    } else {
        Verdict::NotReady
    };

    let a = &f.view.attrs;
    let day = i64::from(f.day);
    let days_in_stage = a.onboarding_started_on.map(|s| day - i64::from(day_from_date(s))).filter(|n| *n >= 0);
    let days_past_target = a.target_graduation_on.map(|t| day - i64::from(day_from_date(t)));
    let onboarding = matches!(a.lifecycle_stage, None | Some(LifecycleStage::Onboarding));
    let overdue = onboarding && verdict != Verdict::Ready && days_past_target.is_some_and(|n| n > 0);
    let recovery_plan_needed =
        overdue && days_past_target.is_some_and(|n| n >= i64::from(cfg.readiness.recovery_after_days));

    let [technical, knowledge, usage, value, stakeholder] = f.dims.clone();
    let mut r = ReadinessResult {
        account_id: f.account_id.to_owned(),
        as_of: date_from_day(f.day),
        total,
        verdict,
        dimensions: Dimensions { technical, knowledge, usage, value, stakeholder },
        blockers,
        red_flags: f.red_flags.clone(),
        usage_profile: a.usage_profile,
        lifecycle_stage: a.lifecycle_stage,
        onboarding_started_on: a.onboarding_started_on,
        target_graduation_on: a.target_graduation_on,
        days_in_stage,
        days_past_target,
        overdue,
        recovery_plan_needed,
        config_version: f.version.to_owned(),
        former: false,
        data_status: crate::quality::DataStatus::Ok,
        coverage: 1.0,
    };
    r.coverage = crate::quality::readiness_coverage(&r);
    let all_ok =
        Dimension::ALL.iter().map(|d| r.dimensions.get(*d)).all(|x| x.weight <= 0.0 || x.state == InputState::Ok);
    r.data_status = crate::quality::status_of(r.coverage, all_ok);
    r
}
