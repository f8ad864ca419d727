//! The last `pulse reconcile` run (issue 21): whether the stored daily metrics match a
//! plain-SQL recomputation from the raw events (`docs/reconcile.md`). The run itself
//! is `pulse reconcile`; this module only reads its stored summary
//! (`pulse_reconcile::last_run`, which owns the `reconcile_runs` table).

use axum::{extract::State, Json};
pub use pulse_reconcile::{ByMeasure, Summary};
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
    /// The latest run, as `pulse reconcile` printed and stored it; null before the
    /// first (`pulse reconcile --from D1 --to D2`).
    pub last_run: Option<Summary>,
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
    Ok(ReconcileStatus { last_run: pulse_reconcile::last_run(&db.read).await? })
}
