//! Graduation pipeline: onboarding accounts by verdict, days in stage, overdue and
//! recovery-plan flags, blockers, and those nearest to ready.

use axum::{extract::State, Json};
use chrono::NaiveDate;
use pulse_core::{readiness::Blocker, ReadinessResult};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use pulse_storage::read::graduation::{self as read, GradFilter, GradRow, GradSort};

pub use pulse_storage::read::graduation::Counts;

use super::{latest_day, page_of, paging, scope_of, Page, Scope, Verdicts};
use crate::{
    db::Db,
    error::{ApiError, ApiResult},
    params::{self, choices, Count, Flag, List, PageNumber, PageReq, Params, Query, Sort, SortParam, Text},
    state::AppState,
};

choices!(
    /// Sort keys of the graduation list.
    GradSorts: GradSort = [
        ("nearest", GradSort::Nearest),
        ("total", GradSort::Total),
        ("days_in_stage", GradSort::DaysInStage),
        ("blockers", GradSort::Blockers),
        ("name", GradSort::Name),
    ]
);

// Concrete names for the generic value types: utoipa's derive inlines a type by name.
pub type VerdictList = List<Verdicts>;
pub type GradSortParam = SortParam<GradSorts>;

/// The query of `GET /api/v1/graduation/accounts` (and the graduation page).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GradQuery {
    /// Graduation verdicts (comma-separated list).
    #[param(inline)]
    pub verdict: Option<VerdictList>,
    /// Past the target graduation date and not ready (`true`/`false`/`1`/`0`).
    #[param(inline)]
    pub overdue: Option<Flag>,
    /// Overdue by 30 days or more (`true`/`false`/`1`/`0`).
    #[param(inline)]
    pub recovery_plan_needed: Option<Flag>,
    /// Only accounts of this segment.
    #[param(inline)]
    pub segment: Option<Text>,
    /// Only accounts of this CSM.
    #[param(inline)]
    pub csm: Option<Text>,
    /// Former customers too (SPEC v3 §8; default false); `1`, `0` also accepted.
    #[param(inline)]
    pub include_former: Option<Flag>,
    /// Case-insensitive search in account name and id.
    #[param(inline)]
    pub q: Option<Text>,
    /// Sort key, `-` prefix for descending (default `nearest`).
    #[param(inline)]
    pub sort: Option<GradSortParam>,
    /// Page number, from 1.
    #[param(inline)]
    pub page: Option<PageNumber>,
    /// Items per page (default 50, at most api.max_page_size).
    #[param(inline)]
    pub page_size: Option<Count>,
}

#[derive(Debug, Clone)]
pub struct GradRequest {
    pub scope: Scope,
    pub verdicts: Vec<&'static str>,
    pub overdue: Option<bool>,
    pub recovery_plan_needed: Option<bool>,
    pub q: Option<String>,
    sort: Sort<GradSort>,
    pub page: PageReq,
}

pub const LIST_KEYS: &[&str] = &[
    "verdict",
    "overdue",
    "recovery_plan_needed",
    "segment",
    "csm",
    "include_former",
    "q",
    "sort",
    "page",
    "page_size",
];

impl GradRequest {
    pub fn parse(p: &Params, max_page_size: u32) -> ApiResult<Self> {
        Self::from_query(p.decode()?, max_page_size)
    }

    pub fn from_query(q: GradQuery, max_page_size: u32) -> ApiResult<Self> {
        Ok(Self {
            scope: scope_of(q.segment, q.csm, q.include_former),
            verdicts: params::list(q.verdict),
            overdue: params::one(q.overdue),
            recovery_plan_needed: params::one(q.recovery_plan_needed),
            q: q.q.map(|t| t.0),
            sort: SortParam::or(q.sort, (GradSort::Nearest, false)),
            page: params::page(q.page, q.page_size, max_page_size)?,
        })
    }

    fn nearest(scope: &Scope, n: u64) -> Self {
        Self {
            scope: scope.clone(),
            verdicts: vec!["close", "not_ready"],
            overdue: None,
            recovery_plan_needed: None,
            q: None,
            sort: Sort { key: GradSort::Nearest, desc: false },
            page: PageReq { page: 1, page_size: n },
        }
    }

    pub fn sort_label(&self) -> String {
        SortParam::<GradSorts>::label(&self.sort)
    }

    fn filter(&self) -> GradFilter {
        GradFilter {
            scope: self.scope.clone(),
            verdicts: self.verdicts.clone(),
            overdue: self.overdue,
            recovery_plan_needed: self.recovery_plan_needed,
            q: self.q.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GradItem {
    pub account_id: String,
    pub name: String,
    pub segment: String,
    pub csm: String,
    pub arr: Option<f64>,
    pub total: f64,
    pub verdict: &'static str,
    pub days_in_stage: Option<i32>,
    /// Days past the target graduation date (negative: days left); null when unset.
    pub days_past_target: Option<i64>,
    pub target_graduation_on: Option<NaiveDate>,
    pub overdue: bool,
    pub recovery_plan_needed: bool,
    /// Each blocker with what clears it.
    #[schema(schema_with = crate::openapi::blockers)]
    pub blockers: Vec<Blocker>,
}

#[utoipa::path(
    operation_id = "graduation_list",
    get,
    path = "/api/v1/graduation/accounts",
    summary = "Onboarding accounts with verdict, days in stage, flags and blockers",
    params(GradQuery),
    responses((status = 200, description = "OK", body = Page<GradItem>))
)]
pub async fn list(State(st): State<AppState>, Query(q): Query<GradQuery>) -> ApiResult<Json<Page<GradItem>>> {
    Ok(Json(query_list(&st.db, &GradRequest::from_query(q, st.cfg.max_page_size)?).await?))
}

pub async fn query_list(db: &Db, req: &GradRequest) -> ApiResult<Page<GradItem>> {
    let rows = read::list(&db.read, &req.filter(), req.sort.key, paging(req.page, &req.sort)).await?;
    // The wide `result` column only for the page's accounts.
    let ids: Vec<String> = rows.items.iter().map(|r| r.account_id.clone()).collect();
    let mut results: std::collections::HashMap<String, String> =
        read::results(&db.read, ids).await?.into_iter().collect();
    Ok(page_of(rows, req.page, req.sort_label(), |r| {
        let result = results.remove(&r.account_id).unwrap_or_default();
        item(r, &result)
    }))
}

fn item(r: GradRow, result: &str) -> GradItem {
    let parsed: Option<ReadinessResult> = serde_json::from_str(result).ok();
    GradItem {
        account_id: r.account_id,
        name: r.name,
        segment: r.segment,
        csm: r.csm,
        arr: r.arr,
        total: r.total,
        verdict: r.verdict.as_str(),
        days_in_stage: r.days_in_stage,
        days_past_target: parsed.as_ref().and_then(|p| p.days_past_target),
        target_graduation_on: parsed.as_ref().and_then(|p| p.target_graduation_on),
        overdue: r.overdue == 1,
        recovery_plan_needed: r.recovery_plan_needed == 1,
        blockers: parsed.map(|p| p.blockers).unwrap_or_default(),
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Pipeline {
    pub as_of: Option<NaiveDate>,
    pub scope: Scope,
    #[serde(flatten)]
    pub counts: Counts,
    /// The five not-ready accounts closest to graduating.
    pub nearest_to_ready: Vec<GradItem>,
}

#[utoipa::path(
    operation_id = "graduation_summary",
    get,
    path = "/api/v1/graduation",
    summary = "Graduation pipeline: onboarding accounts by verdict, overdue and recovery-plan counts, nearest to ready",
    params(super::ScopeQuery),
    responses((status = 200, description = "OK", body = Pipeline))
)]
pub async fn summary(State(st): State<AppState>, Query(q): Query<super::ScopeQuery>) -> ApiResult<Json<Pipeline>> {
    Ok(Json(query_summary(&st.db, &q.scope()).await?))
}

pub async fn query_summary(db: &Db, scope: &Scope) -> ApiResult<Pipeline> {
    let (counts, nearest, as_of) = futures::future::try_join3(
        async { Ok::<_, ApiError>(read::counts(&db.read, scope).await?) },
        query_list(db, &GradRequest::nearest(scope, 5)),
        latest_day(db),
    )
    .await?;
    Ok(Pipeline { as_of, scope: scope.clone(), counts, nearest_to_ready: nearest.items })
}
