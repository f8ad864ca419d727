//! Portfolio reads: colors and ARR now, by segment or CSM, week by week, score movers,
//! and the values the filters offer.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{latest_day, page, DataStatusCounts, Paging, Result, Rows, Scope, DATA_STATUS_COUNTS};
use pulse_core::Color;

use crate::sql::Sql;

/// Accounts, colors, ARR and the mean score of the accounts in scope, now.
#[derive(Debug, Clone, clickhouse::Row, Deserialize)]
pub struct SummaryRow {
    pub accounts: u64,
    pub green: u64,
    pub yellow: u64,
    pub red: u64,
    pub arr_total: f64,
    pub arr_green: f64,
    pub arr_yellow: f64,
    pub arr_red: f64,
    /// Rounded to one decimal; 0 without accounts.
    pub avg_score: f64,
    /// By data status (SPEC v3 §10), counted in their colors too.
    pub ok: u64,
    pub partial: u64,
    pub stale: u64,
    pub insufficient: u64,
}

impl SummaryRow {
    pub fn data_status(&self) -> DataStatusCounts {
        DataStatusCounts { ok: self.ok, partial: self.partial, stale: self.stale, insufficient: self.insufficient }
    }
}

/// [`SummaryRow`] of `scope`, with the newest day with results.
pub async fn summary(ch: &clickhouse::Client, scope: &Scope) -> Result<(SummaryRow, Option<NaiveDate>)> {
    let mut sql = Sql::new(&format!(
        "SELECT count() AS accounts, countIf(color = 'green') AS green, countIf(color = 'yellow') AS yellow, \
         countIf(color = 'red') AS red, sum(ifNull(arr, 0)) AS arr_total, \
         sumIf(ifNull(arr, 0), color = 'green') AS arr_green, \
         sumIf(ifNull(arr, 0), color = 'yellow') AS arr_yellow, sumIf(ifNull(arr, 0), color = 'red') AS arr_red, \
         round(avg(score), 1) AS avg_score, {DATA_STATUS_COUNTS} FROM account_health_latest FINAL WHERE 1",
    ));
    scope.push(&mut sql);
    futures::future::try_join(sql.query(ch).fetch_one::<SummaryRow>(), latest_day(ch)).await
}

/// What a breakdown groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Segment,
    Csm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakdownSort {
    Key,
    Accounts,
    Red,
    ArrAtRisk,
    Arr,
    AvgScore,
}

/// One segment's or CSM's accounts now.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// Of the accounts counted: how many rest on a stalled source, how many on too
    /// little current data (SPEC v3 §10).
    pub stale: u64,
    pub insufficient: u64,
}

/// Accounts in scope grouped by segment or CSM, one page.
pub async fn breakdown(
    ch: &clickhouse::Client,
    scope: &Scope,
    by: By,
    sort: BreakdownSort,
    paging: Paging,
) -> Result<Rows<BreakdownItem>> {
    let key = match by {
        By::Segment => "segment",
        By::Csm => "csm",
    };
    let order = match sort {
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
         sumIf(ifNull(l.arr, 0), color != 'green') AS arr_at_risk, round(avg(score), 1) AS avg_score, \
         countIf(data_status = 'stale') AS stale, countIf(data_status = 'insufficient') AS insufficient \
         FROM account_health_latest AS l FINAL WHERE 1"
    ));
    scope.push(&mut items);
    items.push(&format!(" GROUP BY key ORDER BY {order} {}, key ASC", paging.dir()));
    paging.push(&mut items);
    let mut count = Sql::new(&format!("SELECT uniqExact({key}) AS n FROM account_health_latest FINAL WHERE 1"));
    scope.push(&mut count);
    page(ch, items, count).await
}

/// Colors and ARR at risk of the accounts in scope on one day.
#[derive(Debug, Clone, clickhouse::Row, Deserialize)]
pub struct TrendRow {
    #[serde(with = "clickhouse::serde::chrono::date")]
    pub as_of: NaiveDate,
    pub accounts: u64,
    pub green: u64,
    pub yellow: u64,
    pub red: u64,
    pub arr_at_risk: f64,
}

/// [`TrendRow`]s of `days` (days without results have no row), oldest first.
pub async fn trend(ch: &clickhouse::Client, scope: &Scope, days: &[NaiveDate]) -> Result<Vec<TrendRow>> {
    // The newest version of each (account, day) by argMax rather than FINAL: the day
    // filter then prunes rows before the merge instead of after it.
    let mut sql = Sql::new(
        "SELECT as_of, count() AS accounts, countIf(c = 'green') AS green, countIf(c = 'yellow') AS yellow, \
         countIf(c = 'red') AS red, sumIf(a, c != 'green') AS arr_at_risk \
         FROM (SELECT as_of, account_id, argMax(color, computed_at) AS c, \
         argMax(ifNull(arr, 0), computed_at) AS a, argMax(segment, computed_at) AS seg, \
         argMax(csm, computed_at) AS cs, argMax(former, computed_at) AS f FROM account_health",
    );
    sql.arg(" WHERE as_of IN {days:Array(Date)}", "days", days.to_vec());
    sql.push(" GROUP BY as_of, account_id) WHERE 1");
    // Former customers as they were on each day (SPEC v3 §8: the past as it was).
    scope.push_columns(&mut sql, "seg", "cs", "f");
    sql.push(" GROUP BY as_of ORDER BY as_of");
    sql.query(ch).fetch_all().await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Down,
    Up,
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoverSort {
    Change,
    AbsChange,
    Score,
    Arr,
    Name,
}

/// An account's score now and on an earlier day.
#[derive(Debug, Clone, Serialize, Deserialize, clickhouse::Row)]
pub struct MoverRow {
    pub account_id: String,
    pub name: String,
    pub segment: String,
    pub csm: String,
    pub arr: Option<f64>,
    pub score: f64,
    #[serde(with = "crate::types::color")]
    pub color: Color,
    pub previous_score: f64,
    #[serde(with = "crate::types::color")]
    pub previous_color: Color,
    pub change: f64,
}

/// Accounts in scope whose score changed (in `direction`) since `compared_to`, one page.
pub async fn movers(
    ch: &clickhouse::Client,
    scope: &Scope,
    compared_to: NaiveDate,
    direction: Direction,
    sort: MoverSort,
    paging: Paging,
) -> Result<Rows<MoverRow>> {
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
    let order = match sort {
        MoverSort::Change => "change",
        MoverSort::AbsChange => "abs(change)",
        MoverSort::Score => "score",
        MoverSort::Arr => "ifNull(arr, 0)",
        MoverSort::Name => "name",
    };
    let count = Sql::wrapped("SELECT count() FROM (", &inner, ")");
    let mut items = inner;
    items.push(&format!(" ORDER BY {order} {}, account_id ASC", paging.dir()));
    paging.push(&mut items);
    page(ch, items, count).await
}

/// Segments and CSMs found in the data (as stored: unsorted, "" included).
#[derive(Debug, Clone, Deserialize, clickhouse::Row)]
pub struct FilterValues {
    pub segments: Vec<String>,
    pub csms: Vec<String>,
}

pub async fn filter_values(ch: &clickhouse::Client) -> Result<FilterValues> {
    ch.query("SELECT groupUniqArray(segment) AS segments, groupUniqArray(csm) AS csms FROM account_health_latest")
        .fetch_one()
        .await
}
