//! Queries of the read side that belong in `pulse_storage::read` (where the API's SQL
//! lives) but are kept here until that crate takes them: same habits (typed rows,
//! server-side parameters through `pulse_storage::sql::Sql`), one function per query.
//!
//! `account_history` is `pulse_storage::read::accounts::history` plus the scorecard
//! version of each day and of the result before it, so the account page can mark the
//! days the scoring config changed (issue 20 item 2).

use chrono::NaiveDate;
use pulse_storage::{sql::Sql, Color};
use serde::Deserialize;

/// One day of an account's health history, with the config version behind it.
#[derive(Debug, Clone, Deserialize, clickhouse::Row)]
pub struct HistoryRow {
    #[serde(with = "clickhouse::serde::chrono::date")]
    pub as_of: NaiveDate,
    pub score: f64,
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
/// the first day of the range has its predecessor.
pub async fn account_history(
    ch: &clickhouse::Client,
    id: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> clickhouse::error::Result<Vec<HistoryRow>> {
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
