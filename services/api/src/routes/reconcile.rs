//! The last `pulse reconcile` run (issue 21): whether the stored daily metrics match a
//! plain-SQL recomputation from the raw events (`docs/reconcile.md`). The run itself
//! is `pulse reconcile`; this module only reads its stored summary
//! (`pulse_reconcile::last_run`, which owns the `reconcile_runs` table).

use axum::{extract::State, Json};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    db::Db,
    error::ApiResult,
    params::{NoParams, Query},
    state::AppState,
};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReconcileStatus {
    /// The latest run; null before the first (`pulse reconcile --from D1 --to D2`).
    pub last_run: Option<ReconcileRun>,
}

/// What one run compared and found.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReconcileRun {
    pub run_at: DateTime<Utc>,
    /// The days compared: `from ..= to`.
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Distinct accounts among the rows compared.
    pub accounts: u64,
    /// Distinct days among the rows compared.
    pub days: u64,
    /// (account, day) pairs compared.
    pub rows_compared: u64,
    /// Differences found (missing rows plus differing measures); 0: the stored results
    /// match the raw events.
    pub differences: u64,
    /// Days with active users and no stored result.
    pub missing_rows: u64,
    pub by_measure: ReconcileByMeasure,
    pub elapsed_ms: u64,
}

/// Differences by measure.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReconcileByMeasure {
    pub seats: u64,
    pub dau: u64,
    pub wau: u64,
    pub mau: u64,
}

impl From<pulse_reconcile::Summary> for ReconcileRun {
    fn from(s: pulse_reconcile::Summary) -> Self {
        Self {
            run_at: s.run_at,
            from: s.from,
            to: s.to,
            accounts: s.accounts,
            days: s.days,
            rows_compared: s.rows_compared,
            differences: s.differences,
            missing_rows: s.missing_rows,
            by_measure: ReconcileByMeasure {
                seats: s.by_measure.seats,
                dau: s.by_measure.dau,
                wau: s.by_measure.wau,
                mau: s.by_measure.mau,
            },
            elapsed_ms: s.elapsed_ms,
        }
    }
}

#[utoipa::path(
    operation_id = "reconcile_last_run",
    get,
    path = "/api/v1/reconcile",
    summary = "The last `pulse reconcile` run: whether the stored dau, wau, mau and seats match a plain-SQL recomputation from the raw events, over how many accounts and days, and the differences by measure",
    params(),
    responses((status = 200, description = "OK", body = ReconcileStatus))
)]
pub async fn last_run(
    State(st): State<AppState>,
    Query(NoParams {}): Query<NoParams>,
) -> ApiResult<Json<ReconcileStatus>> {
    Ok(Json(query_last_run(&st.db).await?))
}

pub async fn query_last_run(db: &Db) -> ApiResult<ReconcileStatus> {
    Ok(ReconcileStatus { last_run: pulse_reconcile::last_run(&db.read).await?.map(ReconcileRun::from) })
}
