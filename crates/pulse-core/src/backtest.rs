//! Did the score predict renewals? The backtest of SPEC §8, as pure functions of
//! renewal outcomes and the health history before them.
//!
//! Callers bring the history: `pulse backtest` evaluates the engine on the days
//! [`days_needed`] lists, the API reads the stored daily results from ClickHouse.
//! Both go through [`score_outcome`] and [`report`], so the command line and the
//! dashboard cannot disagree on a number.
//!
//! Readings of SPEC §8 where it leaves room (also in the README):
//! - "The 180 days before `renewal_on`" are `renewal_on - 180 ..= renewal_on - 1`.
//! - `median_lead_days` of a horizon is taken over the lost outcomes counted in that
//!   horizon (those with a result at `renewal_on - h`), so every number of a line
//!   describes the same set of outcomes; the median of an even count is the mean of
//!   the two middle values.
//! - An account with several outcomes (a renewal every year) counts once per outcome.

use chrono::{Days, NaiveDate};
use serde::Serialize;

use crate::event::{LifecycleStage, RenewalEvent, RenewalOutcome};
use crate::health::Color;
use crate::num::round;
use crate::readiness::Verdict;

/// Horizons (days before `renewal_on`) scored by default.
pub const DEFAULT_HORIZONS: [u32; 3] = [30, 60, 90];
/// How far before a lost renewal the first red day is looked for (`median_lead_days`).
pub const LEAD_WINDOW_DAYS: u32 = 180;

/// An account's health as of the end of one day: all the backtest needs of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub score: f64,
    pub color: Color,
}

/// Health results by account and day (end of day), however the caller stores them.
pub trait History {
    /// The account's health as of the end of `day`; `None` when it has no result
    /// that day (not yet created, or not stored).
    fn health(&self, account_id: &str, day: NaiveDate) -> Option<Sample>;
}

impl<F: Fn(&str, NaiveDate) -> Option<Sample>> History for F {
    fn health(&self, account_id: &str, day: NaiveDate) -> Option<Sample> {
        self(account_id, day)
    }
}

/// One renewal outcome, as the CRM reported it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub account_id: String,
    pub renewal_on: NaiveDate,
    pub outcome: RenewalOutcome,
    pub arr_before: f64,
    pub arr_after: f64,
}

impl Outcome {
    pub fn lost(&self) -> bool {
        self.outcome.is_lost()
    }

    pub fn of(r: &RenewalEvent) -> Outcome {
        Outcome {
            account_id: r.account_id.clone(),
            renewal_on: r.renewal_on,
            outcome: r.outcome,
            arr_before: r.arr_before,
            arr_after: r.arr_after,
        }
    }
}

/// One outcome per (account, `renewal_on`) from renewal events in any order and with
/// repeats: the latest in event time (ties: the larger `event_id`) corrects earlier
/// ones, as in the engine. Sorted by account, then `renewal_on`.
pub fn latest_outcomes<'a>(events: impl IntoIterator<Item = &'a RenewalEvent>) -> Vec<Outcome> {
    let mut latest: std::collections::BTreeMap<(&str, NaiveDate), &RenewalEvent> = Default::default();
    for r in events {
        let key = (r.account_id.as_str(), r.renewal_on);
        let newer = latest.get(&key).is_none_or(|cur| (cur.timestamp, &cur.event_id) < (r.timestamp, &r.event_id));
        if newer {
            latest.insert(key, r);
        }
    }
    latest.into_values().map(Outcome::of).collect()
}

/// An outcome with what the score said before it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredOutcome {
    pub outcome: Outcome,
    /// Health as of `renewal_on - h`, per horizon (in the order of the horizons
    /// given to [`score_outcome`]); `None`: no result that day.
    pub at: Vec<Option<Sample>>,
    /// For a lost outcome: the first red day among the [`LEAD_WINDOW_DAYS`] days
    /// before `renewal_on`. Always `None` for a kept one (not needed).
    pub first_red: Option<NaiveDate>,
}

fn days_before(day: NaiveDate, n: u32) -> Option<NaiveDate> {
    day.checked_sub_days(Days::new(u64::from(n)))
}

/// The days whose health [`score_outcome`] reads for `outcome`: `renewal_on - h`
/// per horizon and, for a lost outcome, the [`LEAD_WINDOW_DAYS`] days before it.
pub fn days_needed(outcome: &Outcome, horizons: &[u32]) -> Vec<NaiveDate> {
    let mut days: Vec<NaiveDate> = horizons.iter().filter_map(|h| days_before(outcome.renewal_on, *h)).collect();
    if outcome.lost() {
        days.extend((1..=LEAD_WINDOW_DAYS).filter_map(|n| days_before(outcome.renewal_on, n)));
    }
    days.sort_unstable();
    days.dedup();
    days
}

/// Looks up what the score said before `outcome`.
pub fn score_outcome(history: &impl History, outcome: Outcome, horizons: &[u32]) -> ScoredOutcome {
    let at = horizons
        .iter()
        .map(|h| days_before(outcome.renewal_on, *h).and_then(|d| history.health(&outcome.account_id, d)))
        .collect();
    let first_red = if outcome.lost() {
        (1..=LEAD_WINDOW_DAYS)
            .rev()
            .filter_map(|n| days_before(outcome.renewal_on, n))
            .find(|d| history.health(&outcome.account_id, *d).is_some_and(|s| s.color == Color::Red))
    } else {
        None
    };
    ScoredOutcome { outcome, at, first_red }
}

/// Outcomes and losses of one color.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct ColorStats {
    pub outcomes: u64,
    pub lost: u64,
    /// `lost / outcomes`, 4 decimals; null without outcomes.
    pub lost_rate: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct ByColor {
    pub green: ColorStats,
    pub yellow: ColorStats,
    pub red: ColorStats,
}

impl ByColor {
    pub fn get(&self, color: Color) -> &ColorStats {
        match color {
            Color::Green => &self.green,
            Color::Yellow => &self.yellow,
            Color::Red => &self.red,
        }
    }

    fn get_mut(&mut self, color: Color) -> &mut ColorStats {
        match color {
            Color::Green => &mut self.green,
            Color::Yellow => &mut self.yellow,
            Color::Red => &mut self.red,
        }
    }
}

/// Precision and recall of one warning rule; null with a zero denominator.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct PrecisionRecall {
    pub precision: Option<f64>,
    pub recall: Option<f64>,
}

/// One horizon's line of `pulse backtest` (SPEC §8).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HorizonReport {
    pub kind: &'static str,
    /// `"a"` / `"b"` with `--compare`; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<&'static str>,
    pub config_version: String,
    pub horizon_days: u32,
    pub outcomes: u64,
    pub lost: u64,
    pub by_color: ByColor,
    pub red: PrecisionRecall,
    pub at_risk: PrecisionRecall,
    pub auc: Option<f64>,
    pub median_lead_days: Option<f64>,
}

fn rate(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| round(num as f64 / den as f64, 4))
}

/// The backtest lines, one per horizon (`horizons` in the order used for
/// [`score_outcome`]).
pub fn report(config_version: &str, horizons: &[u32], scored: &[ScoredOutcome]) -> Vec<HorizonReport> {
    horizons.iter().enumerate().map(|(i, h)| horizon_report(config_version, *h, i, scored)).collect()
}

fn horizon_report(config_version: &str, horizon_days: u32, i: usize, scored: &[ScoredOutcome]) -> HorizonReport {
    let counted: Vec<(&ScoredOutcome, Sample)> =
        scored.iter().filter_map(|s| s.at.get(i).copied().flatten().map(|x| (s, x))).collect();
    let mut by_color = ByColor::default();
    for (s, x) in &counted {
        let c = by_color.get_mut(x.color);
        c.outcomes += 1;
        c.lost += u64::from(s.outcome.lost());
    }
    for c in [&mut by_color.green, &mut by_color.yellow, &mut by_color.red] {
        c.lost_rate = rate(c.lost, c.outcomes);
    }
    let outcomes = counted.len() as u64;
    let lost = counted.iter().filter(|(s, _)| s.outcome.lost()).count() as u64;
    let red = PrecisionRecall {
        precision: rate(by_color.red.lost, by_color.red.outcomes),
        recall: rate(by_color.red.lost, lost),
    };
    let at_risk_lost = by_color.red.lost + by_color.yellow.lost;
    let at_risk = PrecisionRecall {
        precision: rate(at_risk_lost, by_color.red.outcomes + by_color.yellow.outcomes),
        recall: rate(at_risk_lost, lost),
    };
    let lost_scores: Vec<f64> = counted.iter().filter(|(s, _)| s.outcome.lost()).map(|(_, x)| x.score).collect();
    let kept_scores: Vec<f64> = counted.iter().filter(|(s, _)| !s.outcome.lost()).map(|(_, x)| x.score).collect();
    let leads: Vec<i64> = counted
        .iter()
        .filter(|(s, _)| s.outcome.lost())
        .filter_map(|(s, _)| s.first_red.map(|d| (s.outcome.renewal_on - d).num_days()))
        .collect();
    HorizonReport {
        kind: "backtest",
        config: None,
        config_version: config_version.to_owned(),
        horizon_days,
        outcomes,
        lost,
        by_color,
        red,
        at_risk,
        auc: auc(&lost_scores, &kept_scores).map(|a| round(a, 4)),
        median_lead_days: median(leads),
    }
}

/// P(score of a lost outcome < score of a kept one), ties counting one half (the
/// Mann-Whitney U statistic over all pairs, by sorting: O(n log n)). `None` when
/// either group is empty.
pub fn auc(lost: &[f64], kept: &[f64]) -> Option<f64> {
    if lost.is_empty() || kept.is_empty() {
        return None;
    }
    let mut kept = kept.to_vec();
    kept.sort_by(f64::total_cmp);
    let mut wins = 0.0;
    for &l in lost {
        let below_or_eq = kept.partition_point(|k| *k <= l);
        let below = kept.partition_point(|k| *k < l);
        let above = kept.len() - below_or_eq;
        wins += above as f64 + 0.5 * (below_or_eq - below) as f64;
    }
    Some(wins / (lost.len() as f64 * kept.len() as f64))
}

/// Median of whole days; the mean of the two middle values for an even count.
fn median(mut xs: Vec<i64>) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_unstable();
    let n = xs.len();
    Some(if n % 2 == 1 { xs[n / 2] as f64 } else { (xs[n / 2 - 1] + xs[n / 2]) as f64 / 2.0 })
}

/// The last day `D` whose lifecycle stage at its end is `onboarding` and after which
/// the stage changed to another (SPEC §8): the day before the last change away from
/// `onboarding`. `changes` is the stage at the end of each day a stage was set, in
/// day order (a daily series works too). `None` if the account never left onboarding.
pub fn last_onboarding_day(changes: &[(NaiveDate, LifecycleStage)]) -> Option<NaiveDate> {
    let mut last = None;
    for pair in changes.windows(2) {
        let [(_, before), (day, after)] = pair else { continue };
        if *before == LifecycleStage::Onboarding && *after != LifecycleStage::Onboarding {
            last = day.pred_opt();
        }
    }
    last
}

/// Retention by readiness verdict at the last onboarding day.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct ByVerdict {
    pub ready: ColorStats,
    pub close: ColorStats,
    pub not_ready: ColorStats,
}

/// The last line of `pulse backtest`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GraduationReport {
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<&'static str>,
    pub by_verdict: ByVerdict,
}

/// Counts each `(verdict at the last onboarding day, outcome lost)` pair once.
pub fn graduation_report(graduated: &[(Verdict, bool)]) -> GraduationReport {
    let mut by = ByVerdict::default();
    for (verdict, lost) in graduated {
        let s = match verdict {
            Verdict::Ready => &mut by.ready,
            Verdict::Close => &mut by.close,
            Verdict::NotReady => &mut by.not_ready,
        };
        s.outcomes += 1;
        s.lost += u64::from(*lost);
    }
    for s in [&mut by.ready, &mut by.close, &mut by.not_ready] {
        s.lost_rate = rate(s.lost, s.outcomes);
    }
    GraduationReport { kind: "graduation_backtest", config: None, by_verdict: by }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    #[test]
    fn auc_counts_pairs_and_ties() {
        assert_eq!(auc(&[10.0], &[20.0]), Some(1.0));
        assert_eq!(auc(&[30.0], &[20.0]), Some(0.0));
        assert_eq!(auc(&[20.0], &[20.0]), Some(0.5));
        // lost {10, 50}, kept {20, 50, 60}: 10 < all three (3); 50 = 50 (0.5), < 60 (1).
        assert_eq!(auc(&[10.0, 50.0], &[20.0, 50.0, 60.0]), Some(4.5 / 6.0));
        assert_eq!(auc(&[], &[1.0]), None);
        assert_eq!(auc(&[1.0], &[]), None);
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![5, 1, 3]), Some(3.0));
        assert_eq!(median(vec![4, 1, 3, 10]), Some(3.5));
    }

    #[test]
    fn last_onboarding_day_is_the_day_before_the_last_graduation() {
        use LifecycleStage::*;
        let t = |v: &[(&str, LifecycleStage)]| -> Vec<(NaiveDate, LifecycleStage)> {
            v.iter().map(|(s, x)| (d(s), *x)).collect()
        };
        assert_eq!(last_onboarding_day(&t(&[("2026-01-01", Onboarding)])), None);
        assert_eq!(
            last_onboarding_day(&t(&[("2026-01-01", Onboarding), ("2026-03-10", Adoption)])),
            Some(d("2026-03-09"))
        );
        // Re-onboarded, graduated again: the last graduation counts.
        assert_eq!(
            last_onboarding_day(&t(&[
                ("2026-01-01", Onboarding),
                ("2026-03-10", Adoption),
                ("2026-05-01", Onboarding),
                ("2026-06-01", Expansion),
                ("2026-07-01", Renewal),
            ])),
            Some(d("2026-05-31"))
        );
        // Adoption to expansion is not a graduation.
        assert_eq!(last_onboarding_day(&t(&[("2026-01-01", Adoption), ("2026-03-10", Expansion)])), None);
    }

    #[test]
    fn days_needed_covers_horizons_and_the_lead_window_of_lost_outcomes() {
        let kept = Outcome {
            account_id: "a".into(),
            renewal_on: d("2026-06-30"),
            outcome: RenewalOutcome::Renewed,
            arr_before: 1.0,
            arr_after: 1.0,
        };
        assert_eq!(days_needed(&kept, &[30, 60]), vec![d("2026-05-01"), d("2026-05-31")]);
        let lost = Outcome { outcome: RenewalOutcome::Churned, ..kept };
        let days = days_needed(&lost, &[30, 60, 200]);
        assert_eq!(days.len(), 181);
        assert_eq!(days.first(), Some(&d("2025-12-12")));
        assert_eq!(days.last(), Some(&d("2026-06-29")));
    }
}
