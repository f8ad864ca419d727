//! Portfolio: accounts by color now and week by week, broken down by segment or CSM,
//! ARR at risk (ARR of red and yellow accounts), and the biggest score movers.

use axum::{extract::State, Json};
use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use pulse_storage::read::{portfolio as read, DataStatusCounts};

pub use read::{BreakdownItem, By, Direction};

use super::{latest_day, names, page_of, paging, scope_of, Page, Scope, ScopeQuery};
use crate::{
    db::Db,
    error::ApiResult,
    params::{self, choices, Count, Day, Flag, NoParams, One, PageNumber, Params, Query, SortParam, Text},
    state::AppState,
};

choices!(
    /// Groupings of the breakdown.
    Bys: By = [("segment", By::Segment), ("csm", By::Csm)]
);
choices!(
    /// Directions of the movers.
    Directions: Direction = [("down", Direction::Down), ("up", Direction::Up), ("any", Direction::Any)]
);
choices!(
    /// Sort keys of the breakdown.
    BreakdownSorts: BreakdownSort = [
        ("key", BreakdownSort::Key),
        ("accounts", BreakdownSort::Accounts),
        ("red", BreakdownSort::Red),
        ("arr_at_risk", BreakdownSort::ArrAtRisk),
        ("arr", BreakdownSort::Arr),
        ("avg_score", BreakdownSort::AvgScore),
    ]
);
choices!(
    /// Sort keys of the movers.
    MoverSorts: MoverSort = [
        ("change", MoverSort::Change),
        ("abs_change", MoverSort::AbsChange),
        ("score", MoverSort::Score),
        ("arr", MoverSort::Arr),
        ("name", MoverSort::Name),
    ]
);

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ColorCounts {
    pub green: u64,
    pub yellow: u64,
    pub red: u64,
}

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ArrByColor {
    pub green: f64,
    pub yellow: f64,
    pub red: f64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Summary {
    /// The newest day with results; null before any data.
    pub as_of: Option<NaiveDate>,
    pub scope: Scope,
    pub accounts: u64,
    pub colors: ColorCounts,
    pub arr_total: f64,
    /// ARR of red and yellow accounts.
    pub arr_at_risk: f64,
    pub arr_by_color: ArrByColor,
    /// Mean health score; null without accounts.
    pub avg_score: Option<f64>,
    /// The same accounts by data status (SPEC v3 §10): each is counted in its color
    /// too; `stale` rest on a stalled source, `insufficient` on too little current data.
    pub data_status: DataStatusCounts,
}

#[utoipa::path(
    operation_id = "portfolio_summary",
    get,
    path = "/api/v1/portfolio",
    summary = "Accounts by color now, ARR total and ARR at risk (red and yellow), and how many are stale or insufficient (SPEC v3 section 10); former customers only with include_former=true",
    params(ScopeQuery),
    responses((status = 200, description = "OK", body = Summary))
)]
pub async fn summary(State(st): State<AppState>, Query(q): Query<ScopeQuery>) -> ApiResult<Json<Summary>> {
    Ok(Json(query_summary(&st.db, &q.scope()).await?))
}

pub async fn query_summary(db: &Db, scope: &Scope) -> ApiResult<Summary> {
    let (r, as_of) = read::summary(&db.read, scope).await?;
    Ok(Summary {
        as_of,
        scope: scope.clone(),
        accounts: r.accounts,
        colors: ColorCounts { green: r.green, yellow: r.yellow, red: r.red },
        arr_total: r.arr_total,
        arr_at_risk: r.arr_yellow + r.arr_red,
        arr_by_color: ArrByColor { green: r.arr_green, yellow: r.arr_yellow, red: r.arr_red },
        avg_score: (r.accounts > 0).then_some(r.avg_score),
        data_status: r.data_status(),
    })
}

use read::BreakdownSort;

// Concrete names for the generic value types: utoipa's derive inlines a type by name.
pub type BreakdownSortParam = SortParam<BreakdownSorts>;
pub type MoverSortParam = SortParam<MoverSorts>;
pub type ByParam = One<Bys>;
pub type DirectionParam = One<Directions>;

/// The query of `GET /api/v1/portfolio/breakdown`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BreakdownQuery {
    /// Group by segment (default) or CSM.
    #[param(inline)]
    pub by: Option<ByParam>,
    /// Only accounts of this segment.
    #[param(inline)]
    pub segment: Option<Text>,
    /// Only accounts of this CSM.
    #[param(inline)]
    pub csm: Option<Text>,
    /// Former customers too (SPEC v3 §8; default false); `1`, `0` also accepted.
    #[param(inline)]
    pub include_former: Option<Flag>,
    /// Sort key, `-` prefix for descending (default `-arr_at_risk`).
    #[param(inline)]
    pub sort: Option<BreakdownSortParam>,
    /// Page number, from 1.
    #[param(inline)]
    pub page: Option<PageNumber>,
    /// Items per page (default 50, at most api.max_page_size).
    #[param(inline)]
    pub page_size: Option<Count>,
}

#[utoipa::path(
    operation_id = "portfolio_breakdown",
    get,
    path = "/api/v1/portfolio/breakdown",
    summary = "Accounts by color and ARR at risk per segment or CSM",
    params(BreakdownQuery),
    responses((status = 200, description = "OK", body = Page<BreakdownItem>))
)]
pub async fn breakdown(
    State(st): State<AppState>,
    Query(mut q): Query<BreakdownQuery>,
) -> ApiResult<Json<Page<BreakdownItem>>> {
    let by = params::one(q.by.take()).unwrap_or(By::Segment);
    Ok(Json(breakdown_of(&st.db, q, by, st.cfg.max_page_size).await?))
}

pub async fn query_breakdown(db: &Db, p: &Params, by: By, max_page_size: u32) -> ApiResult<Page<BreakdownItem>> {
    breakdown_of(db, p.decode()?, by, max_page_size).await
}

async fn breakdown_of(db: &Db, q: BreakdownQuery, by: By, max_page_size: u32) -> ApiResult<Page<BreakdownItem>> {
    let scope = scope_of(q.segment, q.csm, q.include_former);
    let pg = params::page(q.page, q.page_size, max_page_size)?;
    let sort = SortParam::or(q.sort, (BreakdownSort::ArrAtRisk, true));
    let rows = read::breakdown(&db.read, &scope, by, sort.key, paging(pg, &sort)).await?;
    Ok(page_of(rows, pg, SortParam::<BreakdownSorts>::label(&sort), |r| r))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrendPoint {
    /// The last day of the week (weeks end on the newest day with results).
    pub week_ending: NaiveDate,
    pub accounts: u64,
    pub green: u64,
    pub yellow: u64,
    pub red: u64,
    pub arr_at_risk: f64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Trend {
    pub scope: Scope,
    pub weeks: u32,
    pub points: Vec<TrendPoint>,
}

/// The query of `GET /api/v1/portfolio/trend`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrendQuery {
    /// Weeks back (default 12; at most api.max_range_days / 7).
    #[param(inline)]
    pub weeks: Option<Count>,
    /// Last day (default: the newest day with results).
    #[param(inline)]
    pub to: Option<Day>,
    /// Only accounts of this segment.
    #[param(inline)]
    pub segment: Option<Text>,
    /// Only accounts of this CSM.
    #[param(inline)]
    pub csm: Option<Text>,
    /// Former customers too (SPEC v3 §8; default false); `1`, `0` also accepted.
    #[param(inline)]
    pub include_former: Option<Flag>,
}

#[utoipa::path(
    operation_id = "portfolio_trend",
    get,
    path = "/api/v1/portfolio/trend",
    summary = "Accounts by color on the last day of each week",
    params(TrendQuery),
    responses((status = 200, description = "OK", body = Trend))
)]
pub async fn trend(State(st): State<AppState>, Query(q): Query<TrendQuery>) -> ApiResult<Json<Trend>> {
    Ok(Json(trend_of(&st.db, q, st.cfg.max_range_days).await?))
}

pub async fn query_trend(db: &Db, p: &Params, max_range_days: u32) -> ApiResult<Trend> {
    trend_of(db, p.decode()?, max_range_days).await
}

/// The most weeks a trend may span: `api.max_range_days / 7`, at least 1.
pub fn max_weeks(max_range_days: u32) -> i64 {
    i64::from(max_range_days / 7).max(1)
}

/// Colors on the last day of each of the last `weeks` weeks (default 12).
async fn trend_of(db: &Db, q: TrendQuery, max_range_days: u32) -> ApiResult<Trend> {
    let scope = scope_of(q.segment, q.csm, q.include_former);
    let max_weeks = max_weeks(max_range_days);
    let weeks = Count::within(q.weeks, "weeks", max_weeks, 12.min(max_weeks))? as u32;
    let to = match q.to {
        Some(d) => Some(d.0),
        None => latest_day(db).await?,
    };
    let Some(to) = to else {
        return Ok(Trend { scope, weeks, points: Vec::new() });
    };
    let days: Vec<NaiveDate> =
        (0..weeks).rev().filter_map(|w| to.checked_sub_days(Days::new(u64::from(w) * 7))).collect();
    let rows = read::trend(&db.read, &scope, &days).await?;
    let points = days
        .iter()
        .map(|d| {
            let r = rows.iter().find(|r| r.as_of == *d);
            TrendPoint {
                week_ending: *d,
                accounts: r.map_or(0, |r| r.accounts),
                green: r.map_or(0, |r| r.green),
                yellow: r.map_or(0, |r| r.yellow),
                red: r.map_or(0, |r| r.red),
                arr_at_risk: r.map_or(0.0, |r| r.arr_at_risk),
            }
        })
        .collect();
    Ok(Trend { scope, weeks, points })
}

use read::MoverSort;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Mover {
    pub account_id: String,
    pub name: String,
    pub segment: String,
    pub csm: String,
    pub arr: Option<f64>,
    pub score: f64,
    #[schema(schema_with = crate::openapi::color)]
    pub color: pulse_core::Color,
    /// Score and color `window` days before the newest day.
    pub previous_score: f64,
    #[schema(schema_with = crate::openapi::color)]
    pub previous_color: pulse_core::Color,
    pub change: f64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Movers {
    pub as_of: Option<NaiveDate>,
    pub window_days: u32,
    pub compared_to: Option<NaiveDate>,
    #[serde(flatten)]
    pub page: Page<Mover>,
}

/// The query of `GET /api/v1/portfolio/movers`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MoversQuery {
    /// Days between the two scores compared (default 7; at most api.max_range_days).
    #[param(inline)]
    pub window: Option<Count>,
    /// Drops (default), rises, or either.
    #[param(inline)]
    pub direction: Option<DirectionParam>,
    /// Only accounts of this segment.
    #[param(inline)]
    pub segment: Option<Text>,
    /// Only accounts of this CSM.
    #[param(inline)]
    pub csm: Option<Text>,
    /// Former customers too (SPEC v3 §8; default false); `1`, `0` also accepted.
    #[param(inline)]
    pub include_former: Option<Flag>,
    /// Sort key, `-` prefix for descending (default `change for down, -change for up, -abs_change for any`).
    #[param(inline)]
    pub sort: Option<MoverSortParam>,
    /// Page number, from 1.
    #[param(inline)]
    pub page: Option<PageNumber>,
    /// Items per page (default 50, at most api.max_page_size).
    #[param(inline)]
    pub page_size: Option<Count>,
}

#[utoipa::path(
    operation_id = "portfolio_movers",
    get,
    path = "/api/v1/portfolio/movers",
    summary = "Biggest score changes over a window (7 or 30 days, or any up to api.max_range_days)",
    params(MoversQuery),
    responses((status = 200, description = "OK", body = Movers))
)]
pub async fn movers(State(st): State<AppState>, Query(q): Query<MoversQuery>) -> ApiResult<Json<Movers>> {
    Ok(Json(movers_of(&st.db, q, st.cfg.max_page_size, st.cfg.max_range_days).await?))
}

pub async fn query_movers(db: &Db, p: &Params, max_page_size: u32, max_range_days: u32) -> ApiResult<Movers> {
    movers_of(db, p.decode()?, max_page_size, max_range_days).await
}

/// Score change between the newest day and `window` days before it (default 7).
async fn movers_of(db: &Db, q: MoversQuery, max_page_size: u32, max_range_days: u32) -> ApiResult<Movers> {
    let scope = scope_of(q.segment, q.csm, q.include_former);
    let window = Count::within(q.window, "window", i64::from(max_range_days), 7)? as u32;
    let direction = params::one(q.direction).unwrap_or(Direction::Down);
    let pg = params::page(q.page, q.page_size, max_page_size)?;
    let default = match direction {
        Direction::Down => (MoverSort::Change, false),
        Direction::Up => (MoverSort::Change, true),
        Direction::Any => (MoverSort::AbsChange, true),
    };
    let sort = SortParam::or(q.sort, default);
    let label = SortParam::<MoverSorts>::label(&sort);
    let as_of = latest_day(db).await?;
    let Some(compared_to) = as_of.and_then(|d| d.checked_sub_days(Days::new(u64::from(window)))) else {
        let page = Page { items: Vec::new(), page: pg.page, page_size: pg.page_size, total: 0, sort: label };
        return Ok(Movers { as_of, window_days: window, compared_to: None, page });
    };
    let rows = read::movers(&db.read, &scope, compared_to, direction, sort.key, paging(pg, &sort)).await?;
    let page = page_of(rows, pg, label, |r| Mover {
        account_id: r.account_id,
        name: r.name,
        segment: r.segment,
        csm: r.csm,
        arr: r.arr,
        score: r.score,
        color: r.color,
        previous_score: r.previous_score,
        previous_color: r.previous_color,
        change: (r.change * 10.0).round() / 10.0,
    });
    Ok(Movers { as_of, window_days: window, compared_to: Some(compared_to), page })
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Filters {
    pub segments: Vec<String>,
    pub csms: Vec<String>,
    pub stages: Vec<&'static str>,
    pub colors: Vec<&'static str>,
    pub verdicts: Vec<&'static str>,
    pub red_flags: Vec<&'static str>,
    pub rules: Vec<&'static str>,
    pub data_statuses: Vec<&'static str>,
}

/// Values the filters accept (segments and CSMs as found in the data).
#[utoipa::path(
    operation_id = "portfolio_filters",
    get,
    path = "/api/v1/filters",
    summary = "Values the filters accept (segments and CSMs found in the data, stages, colors, verdicts, red flags, rules, data statuses)",
    params(),
    responses((status = 200, description = "OK", body = Filters))
)]
pub async fn filters(State(st): State<AppState>, Query(NoParams {}): Query<NoParams>) -> ApiResult<Json<Filters>> {
    Ok(Json(query_filters(&st.db).await?))
}

pub async fn query_filters(db: &Db) -> ApiResult<Filters> {
    let read::FilterValues { mut segments, mut csms } = read::filter_values(&db.read).await?;
    segments.retain(|s| !s.is_empty());
    csms.retain(|s| !s.is_empty());
    segments.sort();
    csms.sort();
    Ok(Filters {
        segments,
        csms,
        stages: names::<super::Stages>(),
        colors: names::<super::Colors>(),
        verdicts: names::<super::Verdicts>(),
        red_flags: names::<super::RedFlags>(),
        rules: names::<super::Rules>(),
        data_statuses: names::<super::DataStatuses>(),
    })
}
