//! What the renewal forecast and the accuracy page read (SPEC §8), loaded by
//! `pulse_storage::read::outcomes` (renewal outcomes, the daily results the backtest
//! looks up before each, the accounts as they stand now), and how an outcome is
//! listed on a page.

use std::collections::HashMap;

use chrono::NaiveDate;
use pulse_core::backtest;
use serde::Serialize;
use utoipa::ToSchema;

pub use pulse_storage::read::outcomes::{Current, Inputs, StoredHistory, HORIZONS};

use super::Scope;
use crate::{db::Db, error::ApiResult};

/// Loads the inputs; `None` before any results. `since`: the earliest `renewal_on`
/// any caller will score (older outcomes are not loaded).
pub async fn load(db: &Db, scope: &Scope, since: impl Fn(NaiveDate) -> NaiveDate) -> ApiResult<Option<Inputs>> {
    Ok(pulse_storage::read::outcomes::load(&db.read, scope, since).await?)
}

/// An outcome as listed on a page: who, when, what happened, what the score said.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OutcomeAccount {
    pub account_id: String,
    pub name: String,
    pub segment: String,
    pub csm: String,
    pub renewal_on: NaiveDate,
    pub outcome: &'static str,
    pub lost: bool,
    pub arr_before: f64,
    pub arr_after: f64,
    /// Color and score at each horizon (`renewal_on - h`); null: no result that day.
    pub at: Vec<AtHorizon>,
    /// For a lost outcome: the first red day of the 180 days before it.
    pub first_red: Option<NaiveDate>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AtHorizon {
    pub horizon_days: u32,
    #[schema(schema_with = crate::openapi::color_or_null)]
    pub color: Option<pulse_core::Color>,
    pub score: Option<f64>,
}

pub fn outcome_account(s: &backtest::ScoredOutcome, accounts: &HashMap<String, Current>) -> OutcomeAccount {
    let o = &s.outcome;
    let cur = accounts.get(&o.account_id);
    OutcomeAccount {
        account_id: o.account_id.clone(),
        name: cur.map(|c| c.name.clone()).unwrap_or_default(),
        segment: cur.map(|c| c.segment.clone()).unwrap_or_default(),
        csm: cur.map(|c| c.csm.clone()).unwrap_or_default(),
        renewal_on: o.renewal_on,
        outcome: o.outcome.as_str(),
        lost: o.lost(),
        arr_before: o.arr_before,
        arr_after: o.arr_after,
        at: HORIZONS
            .iter()
            .zip(&s.at)
            .map(|(h, x)| AtHorizon { horizon_days: *h, color: x.map(|x| x.color), score: x.map(|x| x.score) })
            .collect(),
        first_red: s.first_red,
    }
}
