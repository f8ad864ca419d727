//! The renewal forecast (SPEC §8): renewals due in the next 90 and 180 days with the
//! expected retained ARR, the calibration it came from (loss rates by color and
//! horizon over the trailing 365 days, smoothed), and the same method run as of the
//! start of each past quarter against what actually happened. Every number comes from
//! `pulse_core::forecast`; this module loads its inputs and shapes the answer.

use std::sync::Arc;

use axum::{extract::State, Json};
use chrono::{Days, NaiveDate};
use pulse_core::{
    backtest::ColorStats,
    forecast::{self, Calibration, ColorForecast, Due, DueForecast, QuarterBackcast},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    outcomes::{self, Inputs, HORIZONS},
    Scope,
};
use crate::{
    db::Db,
    error::ApiResult,
    params::{Flag, Int, Params, Query, Text},
    state::AppState,
};

/// The forecast windows (days from today), SPEC §8.
pub const WINDOWS: [u32; 2] = [90, 180];

pub const KEYS: &[&str] = &["segment", "csm", "include_former", "quarters"];

#[derive(Debug, Clone)]
pub struct RenewalsRequest {
    pub scope: Scope,
    /// Past quarters back-cast (default 4, at most 8).
    pub quarters: u32,
}

// Concrete names for the generic value types: utoipa's derive inlines a type by name.
pub type Quarters = Int<1, 8>;

/// The query of `GET /api/v1/renewals` (and the renewals page).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RenewalsQuery {
    /// Only accounts of this segment.
    #[param(inline)]
    pub segment: Option<Text>,
    /// Only accounts of this CSM.
    #[param(inline)]
    pub csm: Option<Text>,
    /// Renewals of former customers due in the windows too (SPEC v3 §8; default false).
    /// The calibration and the back-cast always judge the past as it was, former
    /// customers included.
    #[param(inline)]
    pub include_former: Option<Flag>,
    /// Past calendar quarters back-cast (default 4).
    #[param(inline)]
    pub quarters: Option<Quarters>,
}

impl RenewalsRequest {
    pub fn parse(p: &Params) -> ApiResult<Self> {
        Ok(Self::from_query(p.decode()?))
    }

    pub fn from_query(q: RenewalsQuery) -> Self {
        Self {
            scope: super::scope_of(q.segment, q.csm, q.include_former),
            quarters: q.quarters.map_or(4, |n| n.0 as u32),
        }
    }
}

/// One color's line of the calibration table.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ColorRate {
    pub outcomes: u64,
    pub lost: u64,
    /// `lost / outcomes` as observed; null without outcomes.
    pub lost_rate: Option<f64>,
    /// The smoothed probability of loss the forecast uses: `(lost + 1) / (outcomes + 2)`.
    pub p_lost: f64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HorizonRates {
    pub horizon_days: u32,
    /// Outcomes with a result `horizon_days` before their renewal.
    pub outcomes: u64,
    pub lost: u64,
    pub green: ColorRate,
    pub yellow: ColorRate,
    pub red: ColorRate,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CalibrationTable {
    /// The renewals measured: `renewal_on` in `from ..= to` (the trailing 365 days).
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Renewal outcomes decided in the window (in scope).
    pub outcomes: u64,
    pub lost: u64,
    pub horizons: Vec<HorizonRates>,
}

/// A renewal due, with the account behind it.
#[derive(Debug, Clone, Serialize)]
pub struct RenewalAccount {
    #[serde(flatten)]
    pub forecast: DueForecast,
    pub name: String,
    pub segment: String,
    pub csm: String,
    /// The account's ARR is not known (counted as 0).
    pub arr_unknown: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Window {
    pub days: u32,
    /// Renewals due in `as_of ..= as_of + days`.
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub renewals: u64,
    pub arr_due: f64,
    pub expected_retained_arr: f64,
    /// `arr_due - expected_retained_arr`.
    pub expected_lost_arr: f64,
    /// Renewals due whose account has no known ARR (counted as 0).
    pub arr_unknown: u64,
    #[schema(schema_with = crate::openapi::color_forecasts)]
    pub by_color: Vec<ColorForecast>,
    /// Soonest first.
    pub accounts: Vec<RenewalAccount>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Renewals {
    /// The newest day with results ("today"); null before any data.
    pub as_of: Option<NaiveDate>,
    pub scope: Scope,
    /// The scoring config this API runs with.
    pub config_version: String,
    /// The config versions that computed the stored results the rates were measured
    /// on (the live one alone, unless the config changed within the year).
    pub stored_config_versions: Vec<String>,
    pub horizons: Vec<u32>,
    /// Null before any data.
    pub calibration: Option<CalibrationTable>,
    pub windows: Vec<Window>,
    /// Oldest quarter first.
    #[schema(schema_with = crate::openapi::quarter_backcasts)]
    pub backcast: Vec<QuarterBackcast>,
}

#[utoipa::path(
    operation_id = "renewals_renewals",
    get,
    path = "/api/v1/renewals",
    summary = "Renewal forecast (SPEC section 8): renewals due in the next 90 and 180 days with color, score, smoothed probability of loss and expected retained ARR per account; the calibration table (loss rates by color and horizon over the renewals of the trailing 365 days); the same method back-cast as of the start of each past quarter against what happened",
    params(RenewalsQuery),
    responses((status = 200, description = "OK", body = Renewals))
)]
pub async fn renewals(
    State(st): State<AppState>,
    Query(q): Query<RenewalsQuery>,
) -> ApiResult<Json<super::Shared<Renewals>>> {
    let req = RenewalsRequest::from_query(q);
    Ok(Json(super::Shared(query_renewals(&st.db, &st.scoring.version(), &req).await?)))
}

/// The first day of the oldest quarter back-cast.
fn oldest_quarter(today: NaiveDate, quarters: u32) -> NaiveDate {
    let mut start = forecast::quarter_start(today);
    for _ in 0..quarters {
        match start.pred_opt() {
            Some(d) => start = forecast::quarter_start(d),
            None => break,
        }
    }
    start
}

fn rate(c: &ColorStats) -> ColorRate {
    ColorRate {
        outcomes: c.outcomes,
        lost: c.lost,
        lost_rate: c.lost_rate,
        p_lost: (forecast::p_lost(c.lost, c.outcomes) * 10_000.0).round() / 10_000.0,
    }
}

pub fn calibration_table(cal: &Calibration, outcomes: u64, lost: u64) -> CalibrationTable {
    CalibrationTable {
        from: cal.from,
        to: cal.to,
        outcomes,
        lost,
        horizons: cal
            .horizons
            .iter()
            .map(|h| HorizonRates {
                horizon_days: h.horizon_days,
                outcomes: h.outcomes,
                lost: h.lost,
                green: rate(&h.by_color.green),
                yellow: rate(&h.by_color.yellow),
                red: rate(&h.by_color.red),
            })
            .collect(),
    }
}

/// The forecast for `req`: kept with the inputs it was computed from until they change
/// (`outcomes::Cache`), computed from the current snapshot otherwise.
pub async fn query_renewals(db: &Db, config_version: &str, req: &RenewalsRequest) -> ApiResult<Arc<Renewals>> {
    let loaded = db.outcomes.current(db).await?;
    let key = format!("renewals|{config_version}|{:?}|{}", req.scope, req.quarters);
    if let Some(r) = db.outcomes.answer::<Renewals>(loaded.fingerprint, &key) {
        return Ok(r);
    }
    let answer = match loaded.snapshot {
        None => Renewals {
            as_of: None,
            scope: req.scope.clone(),
            config_version: config_version.to_owned(),
            stored_config_versions: Vec::new(),
            horizons: HORIZONS.to_vec(),
            calibration: None,
            windows: Vec::new(),
            backcast: Vec::new(),
        },
        Some(snap) => {
            let (version, req) = (config_version.to_owned(), req.clone());
            outcomes::compute(move || {
                let oldest = oldest_quarter(snap.today, req.quarters).min(snap.today);
                let since = oldest.checked_sub_days(Days::new(366)).unwrap_or(NaiveDate::MIN);
                compute(snap.inputs(&req.scope, since), &version, &req)
            })
            .await?
        }
    };
    let answer = Arc::new(answer);
    db.outcomes.keep(loaded.fingerprint, key, answer.clone());
    Ok(answer)
}

fn compute(inputs: Inputs<'_>, config_version: &str, req: &RenewalsRequest) -> Renewals {
    let Inputs { today, outcomes, decided, history, stored_config_versions, accounts } = inputs;
    let (cal, scored) = Calibration::measure_scored(history, &outcomes, &HORIZONS, config_version, today);
    let lost = scored.iter().filter(|s| s.outcome.lost()).count() as u64;
    let calibration = calibration_table(&cal, scored.len() as u64, lost);
    let mut due: Vec<Due> = accounts
        .values()
        // A former customer has no renewal ahead (SPEC v3 §8), unless asked for.
        .filter(|a| req.scope.include_former || !a.former)
        .filter_map(|a| {
            let renewal_on = a.renewal_on?;
            (renewal_on >= today && !decided.contains(&(a.account_id.as_str(), renewal_on))).then(|| Due {
                account_id: a.account_id.clone(),
                renewal_on,
                arr: a.arr.unwrap_or(0.0),
                color: a.color,
                score: a.score,
            })
        })
        .collect();
    due.sort_by(|a, b| a.account_id.cmp(&b.account_id));
    let windows = WINDOWS
        .iter()
        .map(|days| {
            let w = forecast::forecast_window(&cal, &due, today, *days);
            let accounts: Vec<RenewalAccount> = w
                .accounts
                .into_iter()
                .map(|f| {
                    let cur = accounts.get(f.due.account_id.as_str());
                    RenewalAccount {
                        name: cur.map(|c| c.name.clone()).unwrap_or_default(),
                        segment: cur.map(|c| c.segment.clone()).unwrap_or_default(),
                        csm: cur.map(|c| c.csm.clone()).unwrap_or_default(),
                        arr_unknown: cur.is_some_and(|c| c.arr.is_none()),
                        forecast: f,
                    }
                })
                .collect();
            Window {
                days: *days,
                from: today,
                to: today.checked_add_days(Days::new(u64::from(*days))).unwrap_or(today),
                renewals: w.renewals,
                arr_due: w.arr_due,
                expected_retained_arr: w.expected_retained_arr,
                expected_lost_arr: ((w.arr_due - w.expected_retained_arr) * 100.0).round() / 100.0,
                arr_unknown: accounts.iter().filter(|a| a.arr_unknown).count() as u64,
                by_color: w.by_color,
                accounts,
            }
        })
        .collect();
    let backcast = forecast::backcast(history, &outcomes, &HORIZONS, config_version, today, req.quarters);
    Renewals {
        as_of: Some(today),
        scope: req.scope.clone(),
        config_version: config_version.to_owned(),
        stored_config_versions,
        horizons: HORIZONS.to_vec(),
        calibration: Some(calibration),
        windows,
        backcast,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oldest_quarter_counts_back_whole_quarters() {
        let d = |s: &str| s.parse::<NaiveDate>().expect("date");
        assert_eq!(oldest_quarter(d("2026-06-30"), 4), d("2025-04-01"));
        assert_eq!(oldest_quarter(d("2026-01-01"), 1), d("2025-10-01"));
    }
}
