//! The renewal forecast of SPEC §8: expected retained ARR of the renewals due,
//! from loss rates by color measured by the backtest, and the same method run as of
//! the start of past quarters against what actually happened.
//!
//! Pure: the caller supplies the day ("today"), the outcomes and a health
//! [`History`]; the API reads both from ClickHouse. Readings of SPEC §8 (also in
//! the README):
//! - "Renewals due in the next N days": accounts whose `renewal_on` is in
//!   `today ..= today + N` and whose renewal on that date has no outcome yet.
//! - "The trailing 365 days": outcomes with `renewal_on` in `today - 365 ..= today - 1`.
//! - "The horizon nearest to the days left": ties go to the shorter horizon.
//! - A past quarter is forecast as of the end of the day before it started, over
//!   the renewals decided in it, each weighted by its `arr_before`; what actually
//!   happened is the `arr_before` of the outcomes that were not lost (the same
//!   all-or-nothing measure the forecast makes), shown with the `arr_after` total.

use chrono::{Datelike, Days, NaiveDate};
use serde::Serialize;

use crate::backtest::{self, History, HorizonReport, Outcome, ScoredOutcome};
use crate::health::Color;
use crate::num::round;

/// Smoothed probability of loss: `(lost + 1) / (outcomes + 2)` (SPEC §8), so a color
/// with no history is a coin flip rather than certain.
pub fn p_lost(lost: u64, outcomes: u64) -> f64 {
    (lost as f64 + 1.0) / (outcomes as f64 + 2.0)
}

/// The horizon nearest to `days_left`; ties go to the shorter one. `None` without
/// horizons.
pub fn nearest_horizon(horizons: &[u32], days_left: i64) -> Option<u32> {
    horizons.iter().copied().min_by_key(|h| ((i64::from(*h) - days_left).abs(), *h))
}

/// Loss rates by color per horizon, from the backtest of the trailing 365 days.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibration {
    /// The trailing window the rates were measured over.
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub horizons: Vec<HorizonReport>,
}

impl Calibration {
    /// Scores every outcome with `renewal_on` in `as_of - 365 ..= as_of - 1`.
    pub fn measure(
        history: &impl History,
        outcomes: &[Outcome],
        horizons: &[u32],
        config_version: &str,
        as_of: NaiveDate,
    ) -> Calibration {
        Self::measure_scored(history, outcomes, horizons, config_version, as_of).0
    }

    /// [`Calibration::measure`] with the scored outcomes it was measured on (in the
    /// order of `outcomes`): what the score said before each, for listing the misses.
    pub fn measure_scored(
        history: &impl History,
        outcomes: &[Outcome],
        horizons: &[u32],
        config_version: &str,
        as_of: NaiveDate,
    ) -> (Calibration, Vec<ScoredOutcome>) {
        let from = as_of.checked_sub_days(Days::new(365)).unwrap_or(NaiveDate::MIN);
        let to = as_of.pred_opt().unwrap_or(NaiveDate::MIN);
        let scored: Vec<ScoredOutcome> = outcomes
            .iter()
            .filter(|o| o.renewal_on >= from && o.renewal_on <= to)
            .map(|o| backtest::score_outcome(history, o.clone(), horizons))
            .collect();
        let calibration = Calibration { from, to, horizons: backtest::report(config_version, horizons, &scored) };
        (calibration, scored)
    }

    /// `(horizon, p_lost)` for a renewal `days_left` away whose account is `color`.
    pub fn p_lost(&self, color: Color, days_left: i64) -> Option<(u32, f64)> {
        let hs: Vec<u32> = self.horizons.iter().map(|h| h.horizon_days).collect();
        let h = nearest_horizon(&hs, days_left)?;
        let report = self.horizons.iter().find(|r| r.horizon_days == h)?;
        let c = report.by_color.get(color);
        Some((h, p_lost(c.lost, c.outcomes)))
    }
}

/// A renewal coming up: the account as it stands today.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Due {
    pub account_id: String,
    pub renewal_on: NaiveDate,
    pub arr: f64,
    pub color: Color,
    pub score: f64,
}

/// One account's line of the forecast.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DueForecast {
    #[serde(flatten)]
    pub due: Due,
    pub days_left: i64,
    /// The backtest horizon whose loss rates apply.
    pub horizon_days: u32,
    /// Probability of loss, 4 decimals.
    pub p_lost: f64,
    /// `arr x (1 - p_lost)`, 2 decimals.
    pub expected_retained_arr: f64,
}

/// The forecast of one window ("the next 90 days").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowForecast {
    pub days: u32,
    pub renewals: u64,
    pub arr_due: f64,
    pub expected_retained_arr: f64,
    /// Expected loss by color: `[green, yellow, red]` counts and ARR.
    pub by_color: Vec<ColorForecast>,
    pub accounts: Vec<DueForecast>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColorForecast {
    pub color: Color,
    pub renewals: u64,
    pub arr_due: f64,
    pub expected_retained_arr: f64,
}

/// Forecasts the renewals of `due` falling in `as_of ..= as_of + days` (the caller
/// leaves out renewals that already have an outcome). Accounts are listed soonest
/// first, then by account id.
pub fn forecast_window(calibration: &Calibration, due: &[Due], as_of: NaiveDate, days: u32) -> WindowForecast {
    let end = as_of.checked_add_days(Days::new(u64::from(days))).unwrap_or(NaiveDate::MAX);
    let mut accounts: Vec<DueForecast> = due
        .iter()
        .filter(|d| d.renewal_on >= as_of && d.renewal_on <= end)
        .filter_map(|d| {
            let days_left = (d.renewal_on - as_of).num_days();
            let (horizon_days, p) = calibration.p_lost(d.color, days_left)?;
            Some(DueForecast {
                due: d.clone(),
                days_left,
                horizon_days,
                p_lost: round(p, 4),
                expected_retained_arr: round(d.arr * (1.0 - p), 2),
            })
        })
        .collect();
    accounts.sort_by(|a, b| (a.due.renewal_on, &a.due.account_id).cmp(&(b.due.renewal_on, &b.due.account_id)));
    let by_color = [Color::Green, Color::Yellow, Color::Red]
        .into_iter()
        .map(|color| {
            let of = || accounts.iter().filter(move |a| a.due.color == color);
            ColorForecast {
                color,
                renewals: of().count() as u64,
                arr_due: round(of().map(|a| a.due.arr).sum(), 2),
                expected_retained_arr: round(of().map(|a| a.due.arr * (1.0 - exact_p(calibration, a))).sum(), 2),
            }
        })
        .collect();
    WindowForecast {
        days,
        renewals: accounts.len() as u64,
        arr_due: round(accounts.iter().map(|a| a.due.arr).sum(), 2),
        expected_retained_arr: round(accounts.iter().map(|a| a.due.arr * (1.0 - exact_p(calibration, a))).sum(), 2),
        by_color,
        accounts,
    }
}

/// The unrounded probability behind a line (sums are taken before rounding).
fn exact_p(calibration: &Calibration, a: &DueForecast) -> f64 {
    calibration.p_lost(a.due.color, a.days_left).map_or(a.p_lost, |(_, p)| p)
}

/// The first day of the calendar quarter `day` is in.
pub fn quarter_start(day: NaiveDate) -> NaiveDate {
    let month0 = (day.month0() / 3) * 3;
    NaiveDate::from_ymd_opt(day.year(), month0 + 1, 1).unwrap_or(day)
}

/// How the method forecast one past quarter, against what happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuarterBackcast {
    /// e.g. `2026-Q2`.
    pub quarter: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The forecast was made as of the end of this day (the day before `from`).
    pub as_of: NaiveDate,
    /// Renewals decided in the quarter whose account had a result on `as_of`.
    pub renewals: u64,
    pub arr_due: f64,
    pub forecast_retained_arr: f64,
    /// `arr_before` of the outcomes that were not lost.
    pub actual_retained_arr: f64,
    /// `arr_after` of every outcome (expansions included).
    pub actual_arr_after: f64,
    pub lost: u64,
    pub expected_lost: f64,
}

/// The method run as of the start of each of the `quarters` calendar quarters before
/// the one `today` is in, oldest first.
pub fn backcast(
    history: &impl History,
    outcomes: &[Outcome],
    horizons: &[u32],
    config_version: &str,
    today: NaiveDate,
    quarters: u32,
) -> Vec<QuarterBackcast> {
    let mut starts = Vec::new();
    let mut start = quarter_start(today);
    for _ in 0..quarters {
        let Some(prev) = start.pred_opt().map(quarter_start) else { break };
        starts.push(prev);
        start = prev;
    }
    starts.reverse();
    starts.into_iter().filter_map(|from| quarter(history, outcomes, horizons, config_version, from)).collect()
}

fn quarter(
    history: &impl History,
    outcomes: &[Outcome],
    horizons: &[u32],
    config_version: &str,
    from: NaiveDate,
) -> Option<QuarterBackcast> {
    let as_of = from.pred_opt()?;
    let next = from.checked_add_days(Days::new(100)).map(quarter_start)?;
    let to = next.pred_opt()?;
    let calibration = Calibration::measure(history, outcomes, horizons, config_version, from);
    let mut q = QuarterBackcast {
        quarter: format!("{}-Q{}", from.year(), from.month0() / 3 + 1),
        from,
        to,
        as_of,
        renewals: 0,
        arr_due: 0.0,
        forecast_retained_arr: 0.0,
        actual_retained_arr: 0.0,
        actual_arr_after: 0.0,
        lost: 0,
        expected_lost: 0.0,
    };
    for o in outcomes.iter().filter(|o| o.renewal_on >= from && o.renewal_on <= to) {
        let Some(sample) = history.health(&o.account_id, as_of) else { continue };
        let Some((_, p)) = calibration.p_lost(sample.color, (o.renewal_on - as_of).num_days()) else { continue };
        q.renewals += 1;
        q.arr_due += o.arr_before;
        q.forecast_retained_arr += o.arr_before * (1.0 - p);
        q.expected_lost += p;
        q.actual_arr_after += o.arr_after;
        if o.lost() {
            q.lost += 1;
        } else {
            q.actual_retained_arr += o.arr_before;
        }
    }
    q.arr_due = round(q.arr_due, 2);
    q.forecast_retained_arr = round(q.forecast_retained_arr, 2);
    q.actual_retained_arr = round(q.actual_retained_arr, 2);
    q.actual_arr_after = round(q.actual_arr_after, 2);
    q.expected_lost = round(q.expected_lost, 2);
    Some(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_and_nearest_horizon() {
        assert_eq!(p_lost(0, 0), 0.5);
        assert_eq!(p_lost(1, 8), 0.2);
        assert_eq!(nearest_horizon(&[30, 60, 90], 0), Some(30));
        assert_eq!(nearest_horizon(&[30, 60, 90], 45), Some(30));
        assert_eq!(nearest_horizon(&[30, 60, 90], 46), Some(60));
        assert_eq!(nearest_horizon(&[30, 60, 90], 170), Some(90));
        assert_eq!(nearest_horizon(&[], 10), None);
    }

    #[test]
    fn quarters() {
        let d = |s: &str| s.parse::<NaiveDate>().expect("date");
        assert_eq!(quarter_start(d("2026-11-30")), d("2026-10-01"));
        assert_eq!(quarter_start(d("2026-01-01")), d("2026-01-01"));
        assert_eq!(quarter_start(d("2026-06-30")), d("2026-04-01"));
    }
}
