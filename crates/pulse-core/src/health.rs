//! Health score (SPEC §4): weighted measures with missing-data redistribution,
//! bands, and the reasons behind every weak measure.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::config::Measure;
use crate::dimension::Source;
use crate::event::{Dimension, UsageProfile};
use crate::facts::Facts;
use crate::metrics::{Metrics, RedFlag};
use crate::num::{date_from_day, day_from_date, round, Day};
use crate::quality::{self, DataStatus, InputState};

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

/// One measure that had data (a value that day; stale or not).
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
    /// The configured percent weight (after the account's overrides, before spreading):
    /// what the measure counts for in `coverage`.
    #[serde(default)]
    pub configured_weight: f64,
    /// The newest input behind the measure (SPEC v3 §10); null when none. `adoption`
    /// computed from telemetry: the newest `account` event (the attributes behind
    /// seats; the usage side's age shows in `trend` and `stickiness`); `adoption` from
    /// a usage assessment and `sentiment`: the assessment's day or the newest evidence
    /// event's; `trend`: the newest day with usage among the days its change metric
    /// reads (14; 56 for `periodic`); `breadth`, `stickiness`: the newest day with
    /// usage in the last 28.
    #[serde(default)]
    pub as_of: Option<NaiveDate>,
    /// `ok`, or `stale`: scored from a CRM input older than its limit
    /// (`quality.stale_after_days`), or (set by the services) while the usage source
    /// is stalled. A measure without a value is not listed here but in
    /// `missing_measures`, and counts as `missing` in `coverage`.
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
    /// Measures with a value, in configuration order: state `ok` or `stale` (SPEC v3
    /// §10's reading kept here: a measure without a value is not listed with a
    /// `missing` state; it is in `missing_measures`).
    pub measures: Vec<MeasureResult>,
    /// Weighted measures left out for lack of data (their weight is spread over the
    /// others), also those that do not apply to the account (`breadth` without core
    /// features, `stickiness` without a target, i.e. `periodic`): only the applicable
    /// ones count as `missing` in `coverage`.
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
    /// applicable measures, 0..1, four decimals (0 when none applies).
    #[serde(default = "crate::quality::full_coverage")]
    pub coverage: f64,
    /// Configured percent weight of the applicable measures: `coverage`'s denominator
    /// (the numerator is the `configured_weight` of the `ok` measures).
    #[serde(default)]
    pub applicable_weight: f64,
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

/// Whether a weighted measure applies to the account at all (SPEC v3 §10): `breadth`
/// needs configured core features, `stickiness` a target for the profile (none for
/// `periodic`). One that does not is left out of both sums of `coverage`.
fn applicable(f: &Facts<'_>, m: Measure) -> bool {
    match m {
        Measure::Breadth => !f.cfg.core_features.is_empty(),
        Measure::Stickiness => f.eff.stickiness_target.is_some(),
        Measure::Adoption | Measure::Trend | Measure::Sentiment => true,
    }
}

/// The newest input behind a measure with a value, and its state (see
/// [`MeasureResult::as_of`]). Usage-fed inputs are never stale here.
fn input_of(f: &Facts<'_>, m: Measure) -> (Option<Day>, InputState) {
    let crm = |d: Dimension| {
        let as_of = f.dims[d.index()].as_of.map(day_from_date);
        (as_of, quality::judge(as_of, f.day, f.cfg.quality.measure_limit(m)))
    };
    let usage = |days: u32| (f.window.newest_active(f.day, days), InputState::Ok);
    match m {
        Measure::Adoption => crm(Dimension::Usage),
        Measure::Sentiment => crm(Dimension::Stakeholder),
        Measure::Trend => usage(if f.eff.profile == UsageProfile::Periodic { 56 } else { 14 }),
        Measure::Breadth | Measure::Stickiness => usage(28),
    }
}

/// Why an applicable measure does not count as `ok`, for the `insufficient` reason.
fn gap(f: &Facts<'_>, m: Measure, state: InputState, as_of: Option<NaiveDate>) -> String {
    let limit = f.cfg.quality.measure_limit(m);
    let date = as_of.map_or_else(|| "an unknown day".to_owned(), |d| d.to_string());
    match (m, state) {
        (Measure::Adoption, InputState::Missing) if f.metrics.seats_unknown() => {
            format!("seats unknown since {}", date_from_day(f.view.seats_unknown_since(f.day, f.first_day)))
        }
        (Measure::Trend, InputState::Missing) => "trend without comparison data".to_owned(),
        (Measure::Stickiness, InputState::Missing) => "stickiness without monthly active users".to_owned(),
        (Measure::Sentiment, InputState::Missing) => "sentiment unassessed".to_owned(),
        (_, InputState::Missing) => format!("{} without a value", m.as_str()),
        (Measure::Adoption, _) if f.dims[Dimension::Usage.index()].source == Source::Override => {
            format!("usage assessment from {date} (over {limit} days)")
        }
        (Measure::Adoption, _) => format!("account attributes last updated {date} (over {limit} days)"),
        (_, _) => format!("{} from {date} (over {limit} days)", m.as_str()),
    }
}

pub(crate) fn build(f: &Facts<'_>, previous_color: Option<Color>) -> HealthResult {
    let weights = f.eff.health_weights;
    let mut present = Vec::new();
    let mut missing = Vec::new();
    let mut applicable_weight = 0.0;
    // Applicable measures that do not count as `ok`, in configuration order.
    let mut gaps: Vec<(Measure, InputState, Option<NaiveDate>)> = Vec::new();
    for m in Measure::ALL {
        let w = weights[m as usize];
        if w <= 0.0 {
            continue;
        }
        let applies = applicable(f, m);
        if applies {
            applicable_weight += w;
        }
        match measure(f, m) {
            Some((v, s, why)) => {
                let (as_of, state) = input_of(f, m);
                let as_of = as_of.map(date_from_day);
                if state != InputState::Ok {
                    gaps.push((m, state, as_of));
                }
                present.push((m, w, v, s, why, as_of, state));
            }
            None => {
                if applies {
                    gaps.push((m, InputState::Missing, None));
                }
                missing.push(m);
            }
        }
    }
    let wsum: f64 = present.iter().map(|p| p.1).sum();
    let mut total = 0.0;
    let mut measures = Vec::new();
    let mut reasons = Vec::new();
    for (m, w, v, s, why, as_of, state) in present {
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
            configured_weight: w,
            as_of,
            state,
        });
    }
    if measures.is_empty() {
        reasons.push("no measure has data (no usage in 28 days and no assessments)".to_owned());
    }
    let score = round(total, 1);
    let bands = f.eff.bands;
    let coverage = quality::coverage_of(measures.iter().map(|m| (m.configured_weight, m.state)), applicable_weight);
    let data_status = quality::status_of(coverage, gaps.is_empty());
    let mut color = color_of(score, bands.green, bands.yellow);
    if data_status == DataStatus::Insufficient {
        // SPEC v3 §10: never green on insufficient data; the score stays as computed.
        color = color.min(Color::Yellow);
        let parts: Vec<String> = gaps.iter().map(|(m, state, as_of)| gap(f, *m, *state, *as_of)).collect();
        let parts = if parts.is_empty() { "no applicable measure".to_owned() } else { parts.join(", ") };
        reasons.push(format!("data insufficient: coverage {coverage} ({parts})"));
    }
    HealthResult {
        account_id: f.account_id.to_owned(),
        as_of: date_from_day(f.day),
        score,
        color,
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
        data_status,
        coverage,
        applicable_weight,
    }
}
