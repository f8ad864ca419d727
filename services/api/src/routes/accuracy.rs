//! Scorecard accuracy (SPEC §8): the backtest over the renewals of the trailing 365
//! days, per horizon (30/60/90 days before the renewal), the graduation backtest, and
//! the outcomes the score got wrong: lost while green (missed) and red that renewed
//! (false alarms). Every number comes from `pulse_core::backtest` on the stored daily
//! results; this module loads them and shapes the answer.

use std::{collections::HashMap, sync::Arc};

use axum::{extract::State, Json};
use chrono::{Days, NaiveDate};
use pulse_core::{
    backtest::{self, GraduationReport, HorizonReport, ScoredOutcome},
    event::LifecycleStage,
    forecast::Calibration,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    outcomes::{self, outcome_account, OutcomeAccount, Snapshot, HORIZONS},
    Scope,
};
use crate::{db::Db, error::ApiResult, params::Query, state::AppState};

pub const KEYS: &[&str] = &["segment", "csm"];

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Accuracy {
    /// The newest day with results ("today"); null before any data.
    pub as_of: Option<NaiveDate>,
    pub scope: Scope,
    pub config_version: String,
    /// The config versions that computed the stored results the backtest read.
    pub stored_config_versions: Vec<String>,
    /// Renewals with `renewal_on` in `from ..= to` (the trailing 365 days).
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub outcomes: u64,
    pub lost: u64,
    /// One backtest line per horizon, as `pulse backtest` prints it.
    #[schema(schema_with = crate::openapi::horizon_reports)]
    pub horizons: Vec<HorizonReport>,
    /// Retention by readiness verdict on the last onboarding day.
    #[schema(schema_with = crate::openapi::graduation_report)]
    pub graduation: GraduationReport,
    /// Lost outcomes green at one horizon or more: what the score missed.
    pub lost_while_green: Vec<OutcomeAccount>,
    /// Kept outcomes red at one horizon or more: false alarms.
    pub red_that_renewed: Vec<OutcomeAccount>,
}

#[utoipa::path(
    operation_id = "accuracy_accuracy",
    get,
    path = "/api/v1/accuracy",
    summary = "Scorecard accuracy (SPEC section 8): the backtest of the stored daily results over the renewals of the trailing 365 days, per horizon (30, 60, 90 days): by color, precision and recall, AUC, median lead days; the graduation backtest; outcomes lost while green and red outcomes that renewed",
    params(super::SegmentQuery),
    responses((status = 200, description = "OK", body = Accuracy))
)]
pub async fn accuracy(
    State(st): State<AppState>,
    Query(q): Query<super::SegmentQuery>,
) -> ApiResult<Json<super::Shared<Accuracy>>> {
    Ok(Json(super::Shared(query_accuracy(&st.db, &st.scoring.version(), &q.scope()).await?)))
}

/// The accuracy of `scope`: kept with the inputs it was computed from until they change
/// (`outcomes::Cache`), computed from the current snapshot otherwise.
pub async fn query_accuracy(db: &Db, config_version: &str, scope: &Scope) -> ApiResult<Arc<Accuracy>> {
    let loaded = db.outcomes.current(db).await?;
    let key = format!("accuracy|{config_version}|{scope:?}");
    if let Some(a) = db.outcomes.answer::<Accuracy>(loaded.fingerprint, &key) {
        return Ok(a);
    }
    let answer = match loaded.snapshot {
        None => Accuracy {
            as_of: None,
            scope: scope.clone(),
            config_version: config_version.to_owned(),
            stored_config_versions: Vec::new(),
            from: None,
            to: None,
            outcomes: 0,
            lost: 0,
            horizons: Vec::new(),
            graduation: backtest::graduation_report(&[]),
            lost_while_green: Vec::new(),
            red_that_renewed: Vec::new(),
        },
        Some(snap) => {
            let (version, scope) = (config_version.to_owned(), scope.clone());
            outcomes::compute(move || compute(&snap, &version, &scope)).await?
        }
    };
    let answer = Arc::new(answer);
    db.outcomes.keep(loaded.fingerprint, key, answer.clone());
    Ok(answer)
}

fn compute(snap: &Snapshot, config_version: &str, scope: &Scope) -> Accuracy {
    let since = snap.today.checked_sub_days(Days::new(365)).unwrap_or(NaiveDate::MIN);
    let inputs = snap.inputs(scope, since);
    let (cal, scored) =
        Calibration::measure_scored(inputs.history, &inputs.outcomes, &HORIZONS, config_version, inputs.today);
    let graduated = graduation_inputs(snap, &scored);
    let graduation = backtest::graduation_report(&graduated);
    let pick = |want_lost: bool, color: pulse_core::Color| {
        let mut v: Vec<OutcomeAccount> = scored
            .iter()
            .filter(|s| s.outcome.lost() == want_lost && s.at.iter().flatten().any(|x| x.color == color))
            .map(|s| outcome_account(s, &inputs.accounts))
            .collect();
        v.sort_by(|a, b| b.arr_before.total_cmp(&a.arr_before).then_with(|| a.account_id.cmp(&b.account_id)));
        v
    };
    Accuracy {
        as_of: Some(inputs.today),
        scope: scope.clone(),
        config_version: config_version.to_owned(),
        stored_config_versions: inputs.stored_config_versions.clone(),
        from: Some(cal.from),
        to: Some(cal.to),
        outcomes: scored.len() as u64,
        lost: scored.iter().filter(|s| s.outcome.lost()).count() as u64,
        lost_while_green: pick(true, pulse_core::Color::Green),
        red_that_renewed: pick(false, pulse_core::Color::Red),
        horizons: cal.horizons,
        graduation,
    }
}

fn stage(s: &str) -> Option<LifecycleStage> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
}

/// `(verdict on the last onboarding day, lost)` per outcome renewed after it (SPEC §8),
/// from the readiness rows around each account's stage changes (the first and last day
/// of each run of one stage), which is all `last_onboarding_day` and the verdict need.
fn graduation_inputs(snap: &Snapshot, scored: &[ScoredOutcome]) -> Vec<(pulse_core::Verdict, bool)> {
    let mut ids: Vec<&str> = scored.iter().map(|s| s.outcome.account_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut last_day: HashMap<&str, pulse_core::Verdict> = HashMap::new();
    let mut graduated_on: HashMap<&str, NaiveDate> = HashMap::new();
    for account in ids {
        let rows = snap.stage_changes(account);
        let changes: Vec<(NaiveDate, LifecycleStage)> =
            rows.iter().filter_map(|r| stage(&r.stage).map(|s| (r.as_of, s))).collect();
        let Some(d) = backtest::last_onboarding_day(&changes) else { continue };
        // No result on that day (a gap in the history): no verdict to count under.
        let Some(r) = rows.iter().find(|r| r.as_of == d) else { continue };
        last_day.insert(account, r.verdict.into());
        graduated_on.insert(account, d);
    }
    scored
        .iter()
        .filter_map(|s| {
            let id = s.outcome.account_id.as_str();
            let d = graduated_on.get(id)?;
            let verdict = last_day.get(id).copied()?;
            (s.outcome.renewal_on > *d).then_some((verdict, s.outcome.lost()))
        })
        .collect()
}
