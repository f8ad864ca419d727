//! Health score (SPEC §4): weighted measures with missing-data redistribution,
//! bands, and the reasons behind every weak measure.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::config::Measure;
use crate::event::{Dimension, UsageProfile};
use crate::facts::Facts;
use crate::metrics::{Metrics, RedFlag};
use crate::num::{date_from_day, round};
use crate::quality::{DataStatus, InputState};

/// Health band. Ordered worst to best, so "got worse" is `new < old`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Color {
    Red,
    Yellow,
    Green,
}

impl Color {
    pub fn as_str(&self) -> &'static str {
        match self {
            Color::Red => "red",
            Color::Yellow => "yellow",
            Color::Green => "green",
        }
    }
}

/// One measure that had data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasureResult {
    pub name: Measure,
    /// The input: adoption/sentiment the dimension score (0..10), trend the
    /// profile's change metric (`wau_change_pct`; `mau_change_pct` for `periodic`), breadth the percent of core features used, stickiness the
    /// DAU/MAU ratio.
    pub value: f64,
    /// 0..100.
    pub score: f64,
    /// Effective percent weight after spreading the weight of measures without data
    /// (the weights listed sum to 100).
    pub weight: f64,
    /// The newest input behind the measure (SPEC v3 §10); null when none.
    #[serde(default)]
    pub as_of: Option<NaiveDate>,
    /// `ok`, or `stale` when scored from an input older than its limit (a measure
    /// without a value is not listed here but in `missing_measures`).
    #[serde(default)]
    pub state: InputState,
}

/// One health line (SPEC §7 `kind: health`, without `kind`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthResult {
    pub account_id: String,
    pub as_of: NaiveDate,
    /// 0..100, one decimal. 0 when no measure has data (an account that cannot be
    /// measured at all is treated as at risk: silence is a signal).
    pub score: f64,
    pub color: Color,
    /// The color as of the previous day; null when the account had no events yet.
    pub previous_color: Option<Color>,
    pub metrics: Metrics,
    /// Measures with data, in configuration order.
    pub measures: Vec<MeasureResult>,
    /// Weighted measures left out for lack of data.
    pub missing_measures: Vec<Measure>,
    /// Why each measure under `health.reason_below` (70) scored low.
    pub reasons: Vec<String>,
    pub red_flags: Vec<RedFlag>,
    pub usage_profile: UsageProfile,
    pub segment: Option<String>,
    pub config_version: String,
    /// A former customer on this day (SPEC v3 §8): its results are still computed and
    /// kept, it opens no alerts and is left out of the portfolio.
    #[serde(default)]
    pub former: bool,
    /// SPEC v3 §10: `ok` | `partial` | `stale` | `insufficient`.
    #[serde(default)]
    pub data_status: DataStatus,
    /// Configured weight of the measures whose state is `ok` over that of all
    /// applicable measures, 0..1, four decimals.
    #[serde(default = "crate::quality::full_coverage")]
    pub coverage: f64,
}

/// Score of `trend`: 100 at or above `full`, 0 at or below `zero`, linear between.
pub(crate) fn trend_score(change_pct: f64, full: f64, zero: f64) -> f64 {
    if change_pct >= full {
        100.0
    } else if change_pct <= zero {
        0.0
    } else {
        100.0 * (change_pct - zero) / (full - zero)
    }
}

/// (value, score, reason) of one measure, or `None` when it has no data.
fn measure(f: &Facts<'_>, m: Measure) -> Option<(f64, f64, String)> {
    let cfg = f.cfg;
    let metrics = &f.metrics;
    match m {
        Measure::Adoption => {
            let d = &f.dims[Dimension::Usage.index()];
            let v = d.score?;
            Some((v, v * 10.0, format!("usage dimension {v}/10 ({})", d.detail)))
        }
        Measure::Trend => {
            let c = metrics.change_pct(f.eff.profile)?;
            let t = cfg.health.trend;
            let why = match f.eff.profile {
                UsageProfile::Periodic => format!(
                    "monthly active users {c}% against 28 days earlier ({} -> {})",
                    f.extra.mau_prev_month, metrics.mau
                ),
                _ => format!("weekly active users {c}% week over week ({} -> {})", f.extra.wau_prev_week, metrics.wau),
            };
            Some((c, trend_score(c, t.full_at_pct, t.zero_at_pct), why))
        }
        Measure::Breadth => {
            let core = &cfg.core_features;
            if core.is_empty() {
                return None;
            }
            let used = |i: usize| i < 64 && f.extra.features_used & (1 << i) != 0;
            let unused: Vec<&str> =
                core.iter().enumerate().filter(|(i, _)| !used(*i)).map(|(_, n)| n.as_str()).collect();
            let share = 100.0 * (core.len() - unused.len()) as f64 / core.len() as f64;
            Some((share, share, format!("core features unused in the last 28 days: {}", unused.join(", "))))
        }
        Measure::Stickiness => {
            let target = f.eff.stickiness_target?;
            if metrics.mau == 0 {
                return None;
            }
            // Unrounded here: `build` rounds every value once (a value rounded twice,
            // 0.4048 -> 0.405 -> 0.41, would disagree with the one in the reason).
            let ratio = f.extra.dau_mean / f64::from(metrics.mau);
            Some((
                ratio,
                100.0 * (ratio / target).min(1.0),
                format!("mean daily users / monthly users {} against a target of {target}", round(ratio, 2)),
            ))
        }
        Measure::Sentiment => {
            let d = &f.dims[Dimension::Stakeholder.index()];
            let v = d.score?;
            Some((v, v * 10.0, format!("stakeholder dimension {v}/10 ({})", d.detail)))
        }
    }
}

pub(crate) fn color_of(score: f64, green: f64, yellow: f64) -> Color {
    if score >= green {
        Color::Green
    } else if score >= yellow {
        Color::Yellow
    } else {
        Color::Red
    }
}

pub(crate) fn build(f: &Facts<'_>, previous_color: Option<Color>) -> HealthResult {
    let weights = f.eff.health_weights;
    let mut present = Vec::new();
    let mut missing = Vec::new();
    for m in Measure::ALL {
        let w = weights[m as usize];
        if w <= 0.0 {
            continue;
        }
        match measure(f, m) {
            Some((v, s, why)) => present.push((m, w, v, s, why)),
            None => missing.push(m),
        }
    }
    let wsum: f64 = present.iter().map(|p| p.1).sum();
    let mut total = 0.0;
    let mut measures = Vec::new();
    let mut reasons = Vec::new();
    for (m, w, v, s, why) in present {
        let eff_w = w * 100.0 / wsum;
        total += eff_w / 100.0 * s;
        let s = round(s, 1);
        if s < f.cfg.health.reason_below {
            reasons.push(format!("{} {s}: {why}", m.as_str()));
        }
        measures.push(MeasureResult {
            name: m,
            value: round(v, 2),
            score: s,
            weight: round(eff_w, 2),
            as_of: None,
            state: InputState::Ok,
        });
    }
    if measures.is_empty() {
        reasons.push("no measure has data (no usage in 28 days and no assessments)".to_owned());
    }
    let score = round(total, 1);
    let bands = f.eff.bands;
    HealthResult {
        account_id: f.account_id.to_owned(),
        as_of: date_from_day(f.day),
        score,
        color: color_of(score, bands.green, bands.yellow),
        previous_color,
        metrics: f.metrics.clone(),
        measures,
        missing_measures: missing,
        reasons,
        red_flags: f.red_flags.clone(),
        usage_profile: f.eff.profile,
        segment: f.view.attrs.segment.map(str::to_owned),
        config_version: f.version.to_owned(),
        former: false,
        data_status: DataStatus::Ok,
        coverage: 1.0,
    }
}
