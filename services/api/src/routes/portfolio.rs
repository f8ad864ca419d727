//! Portfolio: accounts by color now and week by week, broken down by segment or CSM,
//! ARR at risk (ARR of red and yellow accounts), and the biggest score movers.

use axum::{
    extract::{RawQuery, State},
    Json,
};
use chrono::{Days, NaiveDate};
use serde::Serialize;

use pulse_storage::read::portfolio as read;

pub use read::{BreakdownItem, By, Direction};

use super::{latest_day, page_of, paging, scope, sort_label, Page, Scope};
use crate::{db::Db, error::ApiResult, params::Params, service::AppState};

#[derive(Debug, Clone, Default, Serialize)]
pub struct ColorCounts {
    pub green: u64,
    pub yellow: u64,
    pub red: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ArrByColor {
    pub green: f64,
    pub yellow: f64,
    pub red: f64,
}

#[derive(Debug, Clone, Serialize)]
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
}

const SCOPE_KEYS: &[&str] = &["segment", "csm"];

pub async fn summary(State(st): State<AppState>, RawQuery(q): RawQuery) -> ApiResult<Json<Summary>> {
    let scope = scope(&Params::parse(q.as_deref(), SCOPE_KEYS)?)?;
    Ok(Json(query_summary(&st.db, &scope).await?))
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
    })
}

use read::BreakdownSort;

pub async fn breakdown(State(st): State<AppState>, RawQuery(q): RawQuery) -> ApiResult<Json<Page<BreakdownItem>>> {
    let p = Params::parse(q.as_deref(), &["by", "segment", "csm", "sort", "page", "page_size"])?;
    let by = p.choice("by", &[("segment", By::Segment), ("csm", By::Csm)])?.unwrap_or(By::Segment);
    Ok(Json(query_breakdown(&st.db, &p, by, st.cfg.max_page_size).await?))
}

pub async fn query_breakdown(db: &Db, p: &Params, by: By, max_page_size: u32) -> ApiResult<Page<BreakdownItem>> {
    let scope = scope(p)?;
    let pg = p.page(max_page_size)?;
    let names = [
        ("key", BreakdownSort::Key),
        ("accounts", BreakdownSort::Accounts),
        ("red", BreakdownSort::Red),
        ("arr_at_risk", BreakdownSort::ArrAtRisk),
        ("arr", BreakdownSort::Arr),
        ("avg_score", BreakdownSort::AvgScore),
    ];
    let sort = p.sort(&names, (BreakdownSort::ArrAtRisk, true))?;
    let rows = read::breakdown(&db.read, &scope, by, sort.key, paging(pg, &sort)).await?;
    let label = names.iter().find(|(_, k)| *k == sort.key).map_or("", |(n, _)| n);
    Ok(page_of(rows, pg, sort_label(label, sort.desc), |r| r))
}

#[derive(Debug, Clone, Serialize)]
pub struct TrendPoint {
    /// The last day of the week (weeks end on the newest day with results).
    pub week_ending: NaiveDate,
    pub accounts: u64,
    pub green: u64,
    pub yellow: u64,
    pub red: u64,
    pub arr_at_risk: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Trend {
    pub scope: Scope,
    pub weeks: u32,
    pub points: Vec<TrendPoint>,
}

pub async fn trend(State(st): State<AppState>, RawQuery(q): RawQuery) -> ApiResult<Json<Trend>> {
    let p = Params::parse(q.as_deref(), &["weeks", "to", "segment", "csm"])?;
    Ok(Json(query_trend(&st.db, &p, st.cfg.max_range_days).await?))
}

/// Colors on the last day of each of the last `weeks` weeks (default 12).
pub async fn query_trend(db: &Db, p: &Params, max_range_days: u32) -> ApiResult<Trend> {
    let scope = scope(p)?;
    let max_weeks = i64::from(max_range_days / 7).max(1);
    let weeks = p.int("weeks", 1, max_weeks)?.unwrap_or(12.min(max_weeks)) as u32;
    let to = match p.date("to")? {
        Some(d) => Some(d),
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

#[derive(Debug, Clone, Serialize)]
pub struct Mover {
    pub account_id: String,
    pub name: String,
    pub segment: String,
    pub csm: String,
    pub arr: Option<f64>,
    pub score: f64,
    pub color: &'static str,
    /// Score and color `window` days before the newest day.
    pub previous_score: f64,
    pub previous_color: &'static str,
    pub change: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Movers {
    pub as_of: Option<NaiveDate>,
    pub window_days: u32,
    pub compared_to: Option<NaiveDate>,
    #[serde(flatten)]
    pub page: Page<Mover>,
}

pub async fn movers(State(st): State<AppState>, RawQuery(q): RawQuery) -> ApiResult<Json<Movers>> {
    let p = Params::parse(q.as_deref(), &["window", "direction", "segment", "csm", "sort", "page", "page_size"])?;
    Ok(Json(query_movers(&st.db, &p, st.cfg.max_page_size, st.cfg.max_range_days).await?))
}

/// Score change between the newest day and `window` days before it (default 7).
pub async fn query_movers(db: &Db, p: &Params, max_page_size: u32, max_range_days: u32) -> ApiResult<Movers> {
    let scope = scope(p)?;
    let window = p.int("window", 1, i64::from(max_range_days))?.unwrap_or(7) as u32;
    let direction = p
        .choice("direction", &[("down", Direction::Down), ("up", Direction::Up), ("any", Direction::Any)])?
        .unwrap_or(Direction::Down);
    let pg = p.page(max_page_size)?;
    let names = [
        ("change", MoverSort::Change),
        ("abs_change", MoverSort::AbsChange),
        ("score", MoverSort::Score),
        ("arr", MoverSort::Arr),
        ("name", MoverSort::Name),
    ];
    let default = match direction {
        Direction::Down => (MoverSort::Change, false),
        Direction::Up => (MoverSort::Change, true),
        Direction::Any => (MoverSort::AbsChange, true),
    };
    let sort = p.sort(&names, default)?;
    let label = sort_label(names.iter().find(|(_, k)| *k == sort.key).map_or("", |(n, _)| n), sort.desc);
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
        color: r.color.as_str(),
        previous_score: r.previous_score,
        previous_color: r.previous_color.as_str(),
        change: (r.change * 10.0).round() / 10.0,
    });
    Ok(Movers { as_of, window_days: window, compared_to: Some(compared_to), page })
}

#[derive(Debug, Clone, Serialize)]
pub struct Filters {
    pub segments: Vec<String>,
    pub csms: Vec<String>,
    pub stages: Vec<&'static str>,
    pub colors: Vec<&'static str>,
    pub verdicts: Vec<&'static str>,
    pub red_flags: Vec<&'static str>,
    pub rules: Vec<&'static str>,
}

/// Values the filters accept (segments and CSMs as found in the data).
pub async fn filters(State(st): State<AppState>, RawQuery(q): RawQuery) -> ApiResult<Json<Filters>> {
    Params::parse(q.as_deref(), &[])?;
    Ok(Json(query_filters(&st.db).await?))
}

pub async fn query_filters(db: &Db) -> ApiResult<Filters> {
    let read::FilterValues { mut segments, mut csms } = read::filter_values(&db.read).await?;
    segments.retain(|s| !s.is_empty());
    csms.retain(|s| !s.is_empty());
    segments.sort();
    csms.sort();
    let names = |v: &[(&'static str, &'static str)]| v.iter().map(|(n, _)| *n).collect();
    Ok(Filters {
        segments,
        csms,
        stages: names(&super::STAGES),
        colors: names(&super::COLORS),
        verdicts: names(&super::VERDICTS),
        red_flags: names(&super::RED_FLAGS),
        rules: names(&super::RULES),
    })
}
