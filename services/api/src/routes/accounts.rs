//! Accounts: the filtered, sortable list; one account's current health (measures,
//! reasons, metrics), its daily history (with the days the scorecard changed), and its
//! readiness scorecard. Detail views parse the stored result JSON into the core's own
//! types.

use axum::{
    extract::{Path, State},
    Json,
};
use chrono::{Days, NaiveDate};
use pulse_core::{config::Share, event::UsageProfile, Color, DataStatus, HealthResult, ReadinessResult};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use pulse_storage::{
    read::{
        accounts::{self as read, AccountFilter, AccountSort as ListSort},
        DataStatusCounts,
    },
    Verdict,
};

use super::{
    account_id, latest_day, page_of, paging, scope_of, Colors, DataStatuses, Page, RedFlags, Stages, Verdicts,
};
use crate::{
    db::Db,
    error::{ApiError, ApiResult},
    params::{self, choices, Count, Day, Flag, List, NoParams, One, PageNumber, Params, Query, SortParam, Text},
    state::AppState,
};

choices!(
    /// Sort keys of the account list.
    ListSorts: ListSort = [
        ("score", ListSort::Score),
        ("change", ListSort::Change),
        ("arr", ListSort::Arr),
        ("renewal", ListSort::Renewal),
        ("name", ListSort::Name),
    ]
);

// Concrete names for the generic value types: utoipa's derive inlines a type by name.
pub type ColorList = List<Colors>;
pub type StageList = List<Stages>;
pub type VerdictList = List<Verdicts>;
pub type RedFlagParam = One<RedFlags>;
pub type DataStatusList = List<DataStatuses>;
pub type ListSortParam = SortParam<ListSorts>;

/// The query of `GET /api/v1/accounts` (and the accounts page).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Health colors (comma-separated list).
    #[param(inline)]
    pub color: Option<ColorList>,
    /// Only accounts of this segment.
    #[param(inline)]
    pub segment: Option<Text>,
    /// Only accounts of this CSM.
    #[param(inline)]
    pub csm: Option<Text>,
    /// Lifecycle stages (comma-separated list).
    #[param(inline)]
    pub stage: Option<StageList>,
    /// Graduation verdicts (comma-separated list).
    #[param(inline)]
    pub verdict: Option<VerdictList>,
    /// Only accounts with this red flag.
    #[param(inline)]
    pub red_flag: Option<RedFlagParam>,
    /// Data statuses (comma-separated list of ok, partial, stale, insufficient; SPEC v3 section 10).
    #[param(inline)]
    pub data_status: Option<DataStatusList>,
    /// Former customers too (SPEC v3 §8; default false); `1`, `0` also accepted.
    #[param(inline)]
    pub include_former: Option<Flag>,
    /// Case-insensitive search in account name and id.
    #[param(inline)]
    pub q: Option<Text>,
    /// Days back for the `change` column (default 7; at most api.max_range_days).
    #[param(inline)]
    pub change_days: Option<Count>,
    /// Sort key, `-` prefix for descending (default `score`).
    #[param(inline)]
    pub sort: Option<ListSortParam>,
    /// Page number, from 1.
    #[param(inline)]
    pub page: Option<PageNumber>,
    /// Items per page (default 50, at most api.max_page_size).
    #[param(inline)]
    pub page_size: Option<Count>,
}

/// A validated account-list request.
#[derive(Debug, Clone)]
pub struct ListRequest {
    /// Which accounts: the storage layer's filter, as validated here.
    pub filter: AccountFilter,
    /// Days back for `change` (default 7).
    pub change_days: u32,
    sort: params::Sort<ListSort>,
    pub page: params::PageReq,
}

pub const LIST_KEYS: &[&str] = &[
    "color",
    "segment",
    "csm",
    "stage",
    "verdict",
    "red_flag",
    "data_status",
    "include_former",
    "q",
    "change_days",
    "sort",
    "page",
    "page_size",
];

impl ListRequest {
    pub fn parse(p: &Params, max_page_size: u32, max_range_days: u32) -> ApiResult<Self> {
        Self::from_query(p.decode()?, max_page_size, max_range_days)
    }

    pub fn from_query(q: ListQuery, max_page_size: u32, max_range_days: u32) -> ApiResult<Self> {
        Ok(Self {
            filter: AccountFilter {
                scope: scope_of(q.segment, q.csm, q.include_former),
                colors: params::list(q.color),
                stages: params::list(q.stage),
                verdicts: params::list(q.verdict),
                red_flag: params::one(q.red_flag),
                data_statuses: params::list(q.data_status),
                q: q.q.map(|t| t.0),
            },
            change_days: Count::within(q.change_days, "change_days", i64::from(max_range_days), 7)? as u32,
            sort: SortParam::or(q.sort, (ListSort::Score, false)),
            page: params::page(q.page, q.page_size, max_page_size)?,
        })
    }

    pub fn sort_label(&self) -> String {
        SortParam::<ListSorts>::label(&self.sort)
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountItem {
    pub account_id: String,
    pub name: String,
    pub segment: String,
    pub csm: String,
    pub lifecycle_stage: String,
    pub arr: Option<f64>,
    pub renewal_on: Option<NaiveDate>,
    pub as_of: NaiveDate,
    pub score: f64,
    #[schema(schema_with = crate::openapi::color)]
    pub color: Color,
    #[schema(schema_with = crate::openapi::color_or_null)]
    pub previous_color: Option<Color>,
    /// Score change over `change_days`; null without a result that day.
    pub change: Option<f64>,
    pub red_flags: Vec<String>,
    pub wau_pct: Option<f64>,
    pub mau_pct: Option<f64>,
    /// Graduation verdict and readiness total (null without a readiness result).
    pub verdict: Option<&'static str>,
    pub readiness_total: Option<f64>,
    /// A former customer (listed only with `include_former=true`).
    pub former: bool,
    /// SPEC v3 §10: `ok` | `partial` | `stale` | `insufficient`.
    #[schema(schema_with = crate::openapi::data_status)]
    pub data_status: DataStatus,
    /// Share of the configured weight resting on current data, 0..1.
    pub coverage: f64,
}

/// A page of accounts, and how many of all the accounts listed (every page) are
/// stale and insufficient (SPEC v3 §10).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountsPage {
    #[serde(flatten)]
    pub page: Page<AccountItem>,
    pub data_status: DataStatusCounts,
}

#[utoipa::path(
    operation_id = "accounts_list",
    get,
    path = "/api/v1/accounts",
    summary = "Accounts, filtered and sorted; former customers only with include_former=true (SPEC v3 section 8); `data_status` counts how many of all accounts listed are stale and insufficient (SPEC v3 section 10)",
    params(ListQuery),
    responses((status = 200, description = "OK", body = AccountsPage))
)]
pub async fn list(State(st): State<AppState>, Query(q): Query<ListQuery>) -> ApiResult<Json<AccountsPage>> {
    let req = ListRequest::from_query(q, st.cfg.max_page_size, st.cfg.max_range_days)?;
    Ok(Json(query_list(&st.db, &req).await?))
}

pub async fn query_list(db: &Db, req: &ListRequest) -> ApiResult<AccountsPage> {
    let Some(latest) = latest_day(db).await? else {
        let pg = req.page;
        let page = Page { items: Vec::new(), page: pg.page, page_size: pg.page_size, total: 0, sort: req.sort_label() };
        return Ok(AccountsPage { page, data_status: DataStatusCounts::default() });
    };
    let since = latest.checked_sub_days(Days::new(u64::from(req.change_days))).unwrap_or(latest);
    let found = read::list(&db.read, &req.filter, since, req.sort.key, paging(req.page, &req.sort)).await?;
    let page = page_of(found.rows, req.page, req.sort_label(), |r| AccountItem {
        account_id: r.account_id,
        name: r.name,
        segment: r.segment,
        csm: r.csm,
        lifecycle_stage: r.lifecycle_stage,
        arr: r.arr,
        renewal_on: r.renewal_on,
        as_of: r.as_of,
        score: r.score,
        color: r.color,
        previous_color: r.previous_color,
        change: r.change,
        red_flags: r.red_flags,
        wau_pct: r.wau_pct,
        mau_pct: r.mau_pct,
        verdict: r.verdict.map(Verdict::as_str),
        readiness_total: r.readiness_total,
        former: r.former,
        data_status: r.data_status,
        coverage: r.coverage,
    });
    Ok(AccountsPage { page, data_status: found.data_status })
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Attributes {
    pub name: String,
    pub segment: String,
    pub csm: String,
    pub lifecycle_stage: String,
    #[schema(schema_with = crate::openapi::usage_profile)]
    pub usage_profile: UsageProfile,
    pub arr: Option<f64>,
    pub renewal_on: Option<NaiveDate>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PastScore {
    pub days_ago: u32,
    pub as_of: NaiveDate,
    pub score: f64,
    #[schema(schema_with = crate::openapi::color)]
    pub color: Color,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountDetail {
    pub account_id: String,
    pub as_of: NaiveDate,
    pub attributes: Attributes,
    /// The current health result (score, color, metrics, measures, reasons, red flags).
    #[schema(schema_with = crate::openapi::health_result)]
    pub health: HealthResult,
    /// The current readiness scorecard; null without one.
    #[schema(schema_with = crate::openapi::readiness_or_null)]
    pub readiness: Option<ReadinessResult>,
    /// A former customer (SPEC v3 §8): the first day of its current run of former days
    /// (the day it churned); null for a customer.
    pub former_since: Option<NaiveDate>,
    /// Scores 7 and 30 days before `as_of`, where known.
    pub past_scores: Vec<PastScore>,
    pub open_alerts: Vec<super::alerts::Alert>,
}

#[utoipa::path(
    operation_id = "accounts_detail",
    get,
    path = "/api/v1/accounts/{id}",
    summary = "One account: attributes, current health (metrics, measures with their as_of and state, reasons, red flags, data_status, coverage), readiness, former customer since when, scores 7 and 30 days ago, open alerts. A former customer is served like any other",
    params(super::AccountPath),
    responses((status = 200, description = "OK", body = AccountDetail))
)]
pub async fn detail(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(NoParams {}): Query<NoParams>,
) -> ApiResult<Json<AccountDetail>> {
    Ok(Json(query_detail(&st.db, &account_id(&id)?).await?))
}

fn not_found(id: &str) -> ApiError {
    let shown: String = id.chars().take(128).collect();
    ApiError::NotFound(format!("no account `{shown}`"))
}

fn parse_result<T: serde::de::DeserializeOwned>(raw: &str) -> ApiResult<T> {
    serde_json::from_str(raw).map_err(|e| {
        tracing::warn!(error = %e, "stored result does not parse");
        ApiError::Internal("a stored result is unreadable".into())
    })
}

pub async fn query_detail(db: &Db, id: &str) -> ApiResult<AccountDetail> {
    let alerts = super::alerts::AlertsRequest::open_for(id);
    let (latest, readiness, open) = futures::future::try_join3(
        async { Ok::<_, ApiError>(read::latest(&db.read, id).await?) },
        async { Ok::<_, ApiError>(read::latest_readiness_result(&db.read, id).await?) },
        super::alerts::query_alerts(db, &alerts),
    )
    .await?;
    let latest = latest.ok_or_else(|| not_found(id))?;
    let health: HealthResult = parse_result(&latest.result)?;
    let readiness: Option<ReadinessResult> = match readiness {
        Some(raw) => Some(parse_result(&raw)?),
        None => None,
    };
    let as_of = health.as_of;
    let back = |n: u64| as_of.checked_sub_days(Days::new(n)).unwrap_or(as_of);
    let (rows, former_since) =
        futures::future::try_join(read::scores_on(&db.read, id, vec![back(7), back(30)]), async {
            match health.former {
                true => read::former_since(&db.read, id).await,
                false => Ok(None),
            }
        })
        .await?;
    let past_scores = rows
        .into_iter()
        .map(|r| PastScore {
            days_ago: (as_of - r.as_of).num_days().max(0) as u32,
            as_of: r.as_of,
            score: r.score,
            color: r.color,
        })
        .collect();
    Ok(AccountDetail {
        account_id: id.to_owned(),
        as_of,
        attributes: Attributes {
            name: latest.name,
            segment: latest.segment,
            csm: latest.csm,
            lifecycle_stage: latest.lifecycle_stage,
            usage_profile: health.usage_profile,
            arr: latest.arr,
            renewal_on: latest.renewal_on,
        },
        health,
        readiness,
        former_since,
        past_scores,
        open_alerts: open.items,
    })
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HistoryPoint {
    pub as_of: NaiveDate,
    pub score: f64,
    #[schema(schema_with = crate::openapi::color)]
    pub color: Color,
    pub seats: Option<u32>,
    pub dau: u32,
    pub wau: u32,
    pub mau: u32,
    pub dau_pct: Option<f64>,
    pub wau_pct: Option<f64>,
    pub mau_pct: Option<f64>,
    pub wau_change_pct: Option<f64>,
    /// Version (hash) of the scoring config that produced this result.
    pub config_version: String,
    /// The version of the account's previous result where it differs from this one:
    /// the scorecard changed on this day, so a jump in the score may come from the new
    /// rules rather than from the customer. Null on every other day and on the
    /// account's first result.
    pub scorecard_changed_from: Option<String>,
}

impl HistoryPoint {
    fn from_row(r: pulse_storage::read::accounts::HistoryRow) -> Self {
        let changed = !r.previous_config_version.is_empty() && r.previous_config_version != r.config_version;
        Self {
            as_of: r.as_of,
            score: r.score,
            color: r.color,
            seats: r.seats,
            dau: r.dau,
            wau: r.wau,
            mau: r.mau,
            dau_pct: r.dau_pct,
            wau_pct: r.wau_pct,
            mau_pct: r.mau_pct,
            wau_change_pct: r.wau_change_pct,
            scorecard_changed_from: changed.then_some(r.previous_config_version),
            config_version: r.config_version,
        }
    }
}

/// Lines the charts draw: the color bands and the account's usage targets.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Thresholds {
    /// Score at or above which an account is green / yellow.
    pub green: f64,
    pub yellow: f64,
    /// Usage-profile targets: share name (`dau_pct`, `wau_pct`, `mau_pct`) -> percent.
    #[schema(schema_with = crate::openapi::usage_pairs)]
    pub usage: Vec<(String, f64)>,
    /// Below this share of the primary metric, `low_engagement` is raised.
    pub low_engagement_pct: f64,
    pub primary: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct History {
    pub account_id: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    #[schema(schema_with = crate::openapi::usage_profile)]
    pub usage_profile: UsageProfile,
    pub thresholds: Thresholds,
    pub points: Vec<HistoryPoint>,
}

#[utoipa::path(
    operation_id = "accounts_history",
    get,
    path = "/api/v1/accounts/{id}/history",
    summary = "Daily score, color, active-user counts and shares and scorecard version, with the chart thresholds",
    description = "`days` and `from` exclude each other, `from` must not be after `to`, and the range is at most api.max_range_days days; otherwise 400. Each point carries the version of the scoring config that produced it; `scorecard_changed_from` is set on the days it differs from the previous result's (the scorecard changed).",
    params(super::AccountPath, HistoryQuery),
    responses((status = 200, description = "OK", body = History))
)]
pub async fn history(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> ApiResult<Json<History>> {
    Ok(Json(history_of(&st, &account_id(&id)?, q).await?))
}

/// The query of `GET /api/v1/accounts/{id}/history`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Days of history ending at `to` (default 90; at most api.max_range_days).
    #[param(inline)]
    pub days: Option<Count>,
    /// First day (instead of `days`).
    #[param(inline)]
    pub from: Option<Day>,
    /// Last day (default: the newest day with results).
    #[param(inline)]
    pub to: Option<Day>,
}

/// Daily history, `days` (default 90) up to `to` (default: the newest result), or
/// `from`..=`to`; at most `api.max_range_days`.
pub async fn query_history(st: &AppState, id: &str, p: &Params) -> ApiResult<History> {
    history_of(st, id, p.decode()?).await
}

async fn history_of(st: &AppState, id: &str, q: HistoryQuery) -> ApiResult<History> {
    let max = i64::from(st.cfg.max_range_days);
    let days = q.days.map(|d| Count::within(Some(d), "days", max, 90)).transpose()?;
    let (from, to) = (q.from.map(|d| d.0), q.to.map(|d| d.0));
    if days.is_some() && from.is_some() {
        return Err(ApiError::BadRequest("parameters `days` and `from` exclude each other".into()));
    }
    let latest = read::latest_health_result(&st.db.read, id).await?.ok_or_else(|| not_found(id))?;
    let health: HealthResult = parse_result(&latest)?;
    let to = to.unwrap_or(health.as_of);
    let from = match from {
        Some(f) => f,
        None => to.checked_sub_days(Days::new(days.unwrap_or(90.min(max)) as u64 - 1)).unwrap_or(to),
    };
    if from > to {
        return Err(ApiError::bad("from", format!("{from} is after `to` ({to})")));
    }
    if (to - from).num_days() >= max {
        return Err(ApiError::BadRequest(format!(
            "the range {from}..={to} is longer than {max} days (api.max_range_days)"
        )));
    }
    let rows = pulse_storage::read::accounts::history(&st.db.read, id, from, to).await?;
    let eff = st.scoring.effective(health.segment.as_deref(), health.usage_profile);
    let thresholds = Thresholds {
        green: eff.bands.green,
        yellow: eff.bands.yellow,
        usage: eff.thresholds.iter().map(|(s, v)| (share_name(*s).to_owned(), *v)).collect(),
        low_engagement_pct: eff.low_engagement_pct,
        primary: share_name(eff.primary).to_owned(),
    };
    let points = rows.into_iter().map(HistoryPoint::from_row).collect();
    Ok(History { account_id: id.to_owned(), from, to, usage_profile: health.usage_profile, thresholds, points })
}

fn share_name(s: Share) -> &'static str {
    s.as_str()
}

#[utoipa::path(
    operation_id = "accounts_readiness",
    get,
    path = "/api/v1/accounts/{id}/readiness",
    summary = "The readiness scorecard: each dimension with its source (computed, assessment with author, evidence), blockers with what clears them",
    params(super::AccountPath),
    responses((status = 200, description = "OK", body = ReadinessResponse))
)]
pub async fn readiness(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(NoParams {}): Query<NoParams>,
) -> ApiResult<Json<ReadinessResponse>> {
    let id = account_id(&id)?;
    let raw = read::latest_readiness_result(&st.db.read, &id).await?.ok_or_else(|| not_found(&id))?;
    Ok(Json(ReadinessResponse(parse_result(&raw)?)))
}

/// The core's readiness result, as stored (its schema: the readiness topic's).
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct ReadinessResponse(pub ReadinessResult);
