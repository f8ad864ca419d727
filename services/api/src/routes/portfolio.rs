//! Portfolio: accounts by color now and week by week, broken down by segment or CSM,
//! ARR at risk (ARR of red and yellow accounts), and the biggest score movers.

use axum::{
    extract::{RawQuery, State},
    Json,
};
use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

use super::{latest_day, page, sort_label, Page, Scope};
use crate::{
    db::{Color, Db, Sql},
    error::ApiResult,
    params::Params,
    service::AppState,
};

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

#[derive(clickhouse::Row, Deserialize)]
struct SummaryRow {
    accounts: u64,
    green: u64,
    yellow: u64,
    red: u64,
    arr_total: f64,
    arr_green: f64,
    arr_yellow: f64,
    arr_red: f64,
    avg_score: f64,
}

const SCOPE_KEYS: &[&str] = &["segment", "csm"];

pub async fn summary(State(st): State<AppState>, RawQuery(q): RawQuery) -> ApiResult<Json<Summary>> {
    let scope = Scope::parse(&Params::parse(q.as_deref(), SCOPE_KEYS)?)?;
    Ok(Json(query_summary(&st.db, &scope).await?))
}

pub async fn query_summary(db: &Db, scope: &Scope) -> ApiResult<Summary> {
    let mut sql = Sql::new(
        "SELECT count() AS accounts, countIf(color = 'green') AS green, countIf(color = 'yellow') AS yellow, \
         countIf(color = 'red') AS red, sum(ifNull(arr, 0)) AS arr_total, \
         sumIf(ifNull(arr, 0), color = 'green') AS arr_green, \
         sumIf(ifNull(arr, 0), color = 'yellow') AS arr_yellow, sumIf(ifNull(arr, 0), color = 'red') AS arr_red, \
         round(avg(score), 1) AS avg_score FROM account_health_latest FINAL WHERE 1",
    );
    scope.push(&mut sql);
    let (r, as_of) =
        futures::future::try_join(async { Ok(sql.query(&db.read).fetch_one::<SummaryRow>().await?) }, latest_day(db))
            .await?;
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Segment,
    Csm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BreakdownSort {
    Key,
    Accounts,
    Red,
    ArrAtRisk,
    Arr,
    AvgScore,
}

#[derive(Debug, Clone, Serialize, Deserialize, clickhouse::Row)]
pub struct BreakdownItem {
    /// The segment or CSM ("" when unknown).
    pub key: String,
    pub accounts: u64,
    pub green: u64,
    pub yellow: u64,
    pub red: u64,
    pub arr: f64,
    pub arr_at_risk: f64,
    pub avg_score: f64,
}

pub async fn breakdown(State(st): State<AppState>, RawQuery(q): RawQuery) -> ApiResult<Json<Page<BreakdownItem>>> {
    let p = Params::parse(q.as_deref(), &["by", "segment", "csm", "sort", "page", "page_size"])?;
    let by = p.choice("by", &[("segment", By::Segment), ("csm", By::Csm)])?.unwrap_or(By::Segment);
    Ok(Json(query_breakdown(&st.db, &p, by, st.cfg.max_page_size).await?))
}

pub async fn query_breakdown(db: &Db, p: &Params, by: By, max_page_size: u32) -> ApiResult<Page<BreakdownItem>> {
    let scope = Scope::parse(p)?;
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
    let key = match by {
        By::Segment => "segment",
        By::Csm => "csm",
    };
    let order = match sort.key {
        BreakdownSort::Key => "key",
        BreakdownSort::Accounts => "accounts",
        BreakdownSort::Red => "red",
        BreakdownSort::ArrAtRisk => "arr_at_risk",
        BreakdownSort::Arr => "arr",
        BreakdownSort::AvgScore => "avg_score",
    };
    let mut items = Sql::new(&format!(
        "SELECT {key} AS key, count() AS accounts, countIf(color = 'green') AS green, \
         countIf(color = 'yellow') AS yellow, countIf(color = 'red') AS red, sum(ifNull(l.arr, 0)) AS arr, \
         sumIf(ifNull(l.arr, 0), color != 'green') AS arr_at_risk, round(avg(score), 1) AS avg_score \
         FROM account_health_latest AS l FINAL WHERE 1"
    ));
    scope.push(&mut items);
    items.push(&format!(" GROUP BY key ORDER BY {order} {}, key ASC", sort.dir()));
    items.arg(" LIMIT {limit:UInt64}", "limit", pg.page_size).arg(" OFFSET {offset:UInt64}", "offset", pg.offset());
    let mut count = Sql::new(&format!("SELECT uniqExact({key}) AS n FROM account_health_latest FINAL WHERE 1"));
    scope.push(&mut count);
    let label = names.iter().find(|(_, k)| *k == sort.key).map_or("", |(n, _)| n);
    page(db, items, count, pg, sort_label(label, sort.desc)).await
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

#[derive(clickhouse::Row, Deserialize)]
struct TrendRow {
    #[serde(with = "clickhouse::serde::chrono::date")]
    as_of: NaiveDate,
    accounts: u64,
    green: u64,
    yellow: u64,
    red: u64,
    arr_at_risk: f64,
}

pub async fn trend(State(st): State<AppState>, RawQuery(q): RawQuery) -> ApiResult<Json<Trend>> {
    let p = Params::parse(q.as_deref(), &["weeks", "to", "segment", "csm"])?;
    Ok(Json(query_trend(&st.db, &p, st.cfg.max_range_days).await?))
}

/// Colors on the last day of each of the last `weeks` weeks (default 12).
pub async fn query_trend(db: &Db, p: &Params, max_range_days: u32) -> ApiResult<Trend> {
    let scope = Scope::parse(p)?;
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
    // The newest version of each (account, day) by argMax rather than FINAL: the day
    // filter then prunes rows before the merge instead of after it.
    let mut sql = Sql::new(
        "SELECT as_of, count() AS accounts, countIf(c = 'green') AS green, countIf(c = 'yellow') AS yellow, \
         countIf(c = 'red') AS red, sumIf(a, c != 'green') AS arr_at_risk \
         FROM (SELECT as_of, account_id, argMax(color, computed_at) AS c, \
         argMax(ifNull(arr, 0), computed_at) AS a, argMax(segment, computed_at) AS seg, \
         argMax(csm, computed_at) AS cs FROM account_health",
    );
    sql.arg(" WHERE as_of IN {days:Array(Date)}", "days", days.clone());
    sql.push(" GROUP BY as_of, account_id) WHERE 1");
    scope.push_columns(&mut sql, "seg", "cs");
    sql.push(" GROUP BY as_of ORDER BY as_of");
    let rows: Vec<TrendRow> = sql.query(&db.read).fetch_all().await?;
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Down,
    Up,
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MoverSort {
    Change,
    AbsChange,
    Score,
    Arr,
    Name,
}

#[derive(Debug, Clone, Serialize, Deserialize, clickhouse::Row)]
pub struct MoverRow {
    account_id: String,
    name: String,
    segment: String,
    csm: String,
    arr: Option<f64>,
    score: f64,
    color: Color,
    previous_score: f64,
    previous_color: Color,
    change: f64,
}

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
    let scope = Scope::parse(p)?;
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
    // Both sides are unique per account (FINAL; GROUP BY), so a plain inner join.
    let mut inner = Sql::new(
        "SELECT cur.account_id AS account_id, cur.name AS name, cur.segment AS segment, cur.csm AS csm, \
         cur.arr AS arr, cur.score AS score, cur.color AS color, prev.previous_score AS previous_score, \
         prev.previous_color AS previous_color, cur.score - prev.previous_score AS change \
         FROM (SELECT account_id, name, segment, csm, arr, score, color FROM account_health_latest FINAL WHERE 1",
    );
    scope.push(&mut inner);
    inner.arg(
        ") AS cur INNER JOIN (SELECT account_id, argMax(score, computed_at) AS previous_score, \
         argMax(color, computed_at) AS previous_color FROM account_health WHERE as_of = {compared_to:Date} \
         GROUP BY account_id) AS prev ON prev.account_id = cur.account_id",
        "compared_to",
        compared_to,
    );
    inner.push(match direction {
        Direction::Down => " WHERE change < 0",
        Direction::Up => " WHERE change > 0",
        Direction::Any => " WHERE change != 0",
    });
    let order = match sort.key {
        MoverSort::Change => "change",
        MoverSort::AbsChange => "abs(change)",
        MoverSort::Score => "score",
        MoverSort::Arr => "ifNull(arr, 0)",
        MoverSort::Name => "name",
    };
    let count = Sql::wrapped("SELECT count() FROM (", &inner, ")");
    let mut items = inner;
    items.push(&format!(" ORDER BY {order} {}, account_id ASC", sort.dir()));
    items.arg(" LIMIT {limit:UInt64}", "limit", pg.page_size).arg(" OFFSET {offset:UInt64}", "offset", pg.offset());
    let rows: Page<MoverRow> = page(db, items, count, pg, label).await?;
    let items = rows
        .items
        .into_iter()
        .map(|r| Mover {
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
        })
        .collect();
    let page = Page { items, page: rows.page, page_size: rows.page_size, total: rows.total, sort: rows.sort };
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
    #[derive(Deserialize, clickhouse::Row)]
    struct Values {
        segments: Vec<String>,
        csms: Vec<String>,
    }
    let Values { mut segments, mut csms } = db
        .read
        .query("SELECT groupUniqArray(segment) AS segments, groupUniqArray(csm) AS csms FROM account_health_latest")
        .fetch_one()
        .await?;
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
