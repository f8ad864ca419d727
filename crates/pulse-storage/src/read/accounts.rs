//! Account reads: the filtered, sorted list; one account's newest results, its scores
//! on given days and its daily history.

use chrono::NaiveDate;
use pulse_core::{Color, DataStatus};
use serde::Deserialize;

use super::{strings, DataStatusCounts, Paging, Result, Rows, Scope, DATA_STATUS_COUNTS};
use crate::{sql::Sql, types::Verdict};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountSort {
    Score,
    Change,
    Arr,
    Renewal,
    Name,
}

/// Which accounts a list shows (every name validated by the caller).
#[derive(Debug, Clone, Default)]
pub struct AccountFilter {
    pub scope: Scope,
    /// Colors, lifecycle stages and verdicts: any of; empty for all.
    pub colors: Vec<Color>,
    pub stages: Vec<&'static str>,
    pub verdicts: Vec<&'static str>,
    pub red_flag: Option<&'static str>,
    /// Data statuses (SPEC v3 §10): any of; empty for all.
    pub data_statuses: Vec<DataStatus>,
    /// In the name or id, case-insensitive.
    pub q: Option<String>,
}

/// An account as listed: its newest health, its readiness and its score change.
#[derive(Debug, Clone, Deserialize, clickhouse::Row)]
pub struct AccountRow {
    pub account_id: String,
    pub name: String,
    pub segment: String,
    pub csm: String,
    pub lifecycle_stage: String,
    pub arr: Option<f64>,
    #[serde(with = "clickhouse::serde::chrono::date::option")]
    pub renewal_on: Option<NaiveDate>,
    #[serde(with = "clickhouse::serde::chrono::date")]
    pub as_of: NaiveDate,
    pub score: f64,
    #[serde(with = "crate::types::color")]
    pub color: Color,
    #[serde(with = "crate::types::color::option")]
    pub previous_color: Option<Color>,
    pub red_flags: Vec<String>,
    pub wau_pct: Option<f64>,
    pub mau_pct: Option<f64>,
    /// Null without a readiness result.
    pub verdict: Option<Verdict>,
    pub readiness_total: Option<f64>,
    /// Score change since `since`; null without a result that day.
    pub change: Option<f64>,
    pub former: bool,
    #[serde(with = "crate::types::data_status")]
    pub data_status: DataStatus,
    pub coverage: f64,
}

/// One page of a list of accounts, and how many of all those listed are stale and
/// insufficient (SPEC v3 §10).
#[derive(Debug, Clone)]
pub struct AccountRows {
    pub rows: Rows<AccountRow>,
    pub data_status: DataStatusCounts,
}

/// One page of the accounts of `filter`, with their score change since `since`.
pub async fn list(
    ch: &clickhouse::Client,
    filter: &AccountFilter,
    since: NaiveDate,
    sort: AccountSort,
    paging: Paging,
) -> Result<AccountRows> {
    // Readiness and the score `change_days` ago are optional: their subqueries select
    // them as Nullable, so an account without one gets NULL from the outer join. Both
    // right sides are unique per account (FINAL; GROUP BY).
    let mut inner = Sql::new(
        "SELECT h.account_id AS account_id, h.name AS name, h.segment AS segment, h.csm AS csm, \
         h.lifecycle_stage AS lifecycle_stage, h.arr AS arr, h.renewal_on AS renewal_on, h.as_of AS as_of, \
         h.score AS score, h.color AS color, h.previous_color AS previous_color, h.red_flags AS red_flags, \
         h.wau_pct AS wau_pct, h.mau_pct AS mau_pct, r.verdict AS verdict, r.total AS readiness_total, \
         round(h.score - p.score, 1) AS change, h.former AS former, h.data_status AS data_status, \
         h.coverage AS coverage \
         FROM (SELECT account_id, name, segment, csm, lifecycle_stage, arr, renewal_on, as_of, score, color, \
         previous_color, red_flags, wau_pct, mau_pct, former, data_status, coverage \
         FROM account_health_latest FINAL WHERE 1",
    );
    filter.scope.push(&mut inner);
    if !filter.colors.is_empty() {
        let names: Vec<&str> = filter.colors.iter().map(Color::as_str).collect();
        inner.arg(" AND color IN {colors:Array(String)}", "colors", strings(&names));
    }
    if !filter.stages.is_empty() {
        inner.arg(" AND lifecycle_stage IN {stages:Array(String)}", "stages", strings(&filter.stages));
    }
    if let Some(f) = filter.red_flag {
        inner.arg(" AND has(red_flags, {red_flag:String})", "red_flag", f);
    }
    if !filter.data_statuses.is_empty() {
        let names: Vec<String> = filter.data_statuses.iter().map(|d| d.as_str().to_owned()).collect();
        inner.arg(" AND data_status IN {data_statuses:Array(String)}", "data_statuses", names);
    }
    if let Some(q) = &filter.q {
        inner.arg(
            " AND (positionCaseInsensitiveUTF8(name, {q:String}) > 0 \
             OR positionCaseInsensitiveUTF8(account_id, {q:String}) > 0)",
            "q",
            q.as_str(),
        );
    }
    inner.push(
        ") AS h LEFT JOIN (SELECT account_id, toNullable(verdict) AS verdict, toNullable(total) AS total \
         FROM graduation_readiness_latest FINAL) AS r ON r.account_id = h.account_id",
    );
    inner.arg(
        " LEFT JOIN (SELECT account_id, toNullable(argMax(score, computed_at)) AS score \
         FROM account_health WHERE as_of = {since:Date} GROUP BY account_id) AS p ON p.account_id = h.account_id \
         WHERE 1",
        "since",
        since,
    );
    if !filter.verdicts.is_empty() {
        inner.arg(" AND r.verdict IN {verdicts:Array(String)}", "verdicts", strings(&filter.verdicts));
    }
    let count = Sql::wrapped(&format!("SELECT count() AS total, {DATA_STATUS_COUNTS} FROM ("), &inner, ")");
    let order = match sort {
        AccountSort::Score => "score",
        AccountSort::Change => "change",
        AccountSort::Arr => "arr",
        AccountSort::Renewal => "renewal_on",
        AccountSort::Name => "lower(name)",
    };
    let mut items = inner;
    items.push(&format!(" ORDER BY {order} {} NULLS LAST, account_id ASC", paging.dir()));
    paging.push(&mut items);
    #[derive(Deserialize, clickhouse::Row)]
    struct Count {
        total: u64,
        ok: u64,
        partial: u64,
        stale: u64,
        insufficient: u64,
    }
    let (items, c) =
        futures::future::try_join(items.query(ch).fetch_all::<AccountRow>(), count.query(ch).fetch_one::<Count>())
            .await?;
    let data_status = DataStatusCounts { ok: c.ok, partial: c.partial, stale: c.stale, insufficient: c.insufficient };
    Ok(AccountRows { rows: Rows { items, total: c.total }, data_status })
}

/// An account's newest health row: attributes and the stored result JSON.
#[derive(Debug, Clone, Deserialize, clickhouse::Row)]
pub struct LatestRow {
    pub name: String,
    pub segment: String,
    pub csm: String,
    pub lifecycle_stage: String,
    pub arr: Option<f64>,
    #[serde(with = "clickhouse::serde::chrono::date::option")]
    pub renewal_on: Option<NaiveDate>,
    pub result: String,
}

pub async fn latest(ch: &clickhouse::Client, id: &str) -> Result<Option<LatestRow>> {
    let mut h = Sql::new(
        "SELECT name, segment, csm, lifecycle_stage, arr, renewal_on, result FROM account_health_latest FINAL",
    );
    h.arg(" PREWHERE account_id = {id:String} LIMIT 1", "id", id);
    h.query(ch).fetch_optional().await
}

/// The first day of the account's current run of former-customer days (SPEC v3 §8):
/// the day after its last result as a customer; `None` if its newest result is not
/// former.
pub async fn former_since(ch: &clickhouse::Client, id: &str) -> Result<Option<NaiveDate>> {
    #[derive(Deserialize, clickhouse::Row)]
    struct Since {
        days: u64,
        #[serde(with = "clickhouse::serde::chrono::date")]
        since: NaiveDate,
    }
    let mut sql = Sql::new("SELECT count() AS days, min(as_of) AS since FROM account_health FINAL");
    sql.arg(" PREWHERE account_id = {id:String}", "id", id);
    sql.push(
        " WHERE former AND as_of > (SELECT maxIf(as_of, NOT former) FROM account_health FINAL \
         PREWHERE account_id = {id:String})",
    );
    let r: Since = sql.query(ch).fetch_one().await?;
    Ok((r.days > 0).then_some(r.since))
}

/// The newest stored health result (JSON) of an account.
pub async fn latest_health_result(ch: &clickhouse::Client, id: &str) -> Result<Option<String>> {
    let mut h = Sql::new("SELECT result FROM account_health_latest FINAL");
    h.arg(" PREWHERE account_id = {id:String} LIMIT 1", "id", id);
    h.query(ch).fetch_optional().await
}

/// The newest stored readiness result (JSON) of an account.
pub async fn latest_readiness_result(ch: &clickhouse::Client, id: &str) -> Result<Option<String>> {
    let mut r = Sql::new("SELECT result FROM graduation_readiness_latest FINAL");
    r.arg(" PREWHERE account_id = {id:String} LIMIT 1", "id", id);
    r.query(ch).fetch_optional().await
}

/// An account's score on one day.
#[derive(Debug, Clone, Deserialize, clickhouse::Row)]
pub struct ScoreRow {
    #[serde(with = "clickhouse::serde::chrono::date")]
    pub as_of: NaiveDate,
    pub score: f64,
    #[serde(with = "crate::types::color")]
    pub color: Color,
}

/// The account's scores on `days` (those with a result), newest first.
pub async fn scores_on(ch: &clickhouse::Client, id: &str, days: Vec<NaiveDate>) -> Result<Vec<ScoreRow>> {
    let mut past = Sql::new("SELECT as_of, score, color FROM account_health FINAL");
    past.arg(" PREWHERE account_id = {id:String}", "id", id).arg(
        " WHERE as_of IN {days:Array(Date)} ORDER BY as_of DESC",
        "days",
        days,
    );
    past.query(ch).fetch_all().await
}

/// One day of an account's health history, with the config version behind it.
#[derive(Debug, Clone, Deserialize, clickhouse::Row)]
pub struct HistoryRow {
    #[serde(with = "clickhouse::serde::chrono::date")]
    pub as_of: NaiveDate,
    pub score: f64,
    #[serde(with = "crate::types::color")]
    pub color: Color,
    pub seats: Option<u32>,
    pub dau: u32,
    pub wau: u32,
    pub mau: u32,
    pub dau_pct: Option<f64>,
    pub wau_pct: Option<f64>,
    pub mau_pct: Option<f64>,
    pub wau_change_pct: Option<f64>,
    pub config_version: String,
    /// The config version of the account's result before this one (`''` for its first
    /// result), before `from` too: a change on the range's first day is still seen.
    pub previous_config_version: String,
}

/// The account's daily health in `from ..= to`, oldest first. The window runs over the
/// account's results up to `to` (one account's days: hundreds of rows, not more), so
/// the first day of the range has its predecessor (issue 20 item 2: the account page
/// marks the days the scoring config changed).
pub async fn history(ch: &clickhouse::Client, id: &str, from: NaiveDate, to: NaiveDate) -> Result<Vec<HistoryRow>> {
    let mut inner = Sql::new(
        "SELECT as_of, score, color, seats, dau, wau, mau, dau_pct, wau_pct, mau_pct, wau_change_pct, config_version, \
         lagInFrame(config_version) OVER (ORDER BY as_of ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) \
         AS previous_config_version FROM account_health FINAL",
    );
    inner.arg(" PREWHERE account_id = {id:String}", "id", id).arg(" WHERE as_of <= {to:Date}", "to", to);
    let mut sql = Sql::wrapped("SELECT * FROM (", &inner, ")");
    sql.arg(" WHERE as_of >= {from:Date}", "from", from);
    sql.push(" ORDER BY as_of");
    sql.query(ch).fetch_all().await
}
