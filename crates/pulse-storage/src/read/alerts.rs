//! Alert reads: the feed (one row per alert from `alerts_current`, with its account's
//! name and CSM and its acknowledgement), open alerts by rule and age, and the lookup
//! an acknowledgement needs.

use chrono::{DateTime, NaiveDate, Utc};
use pulse_core::alerts::TransitionReason;
use serde::{Deserialize, Serialize};

use super::{page, strings, Paging, Result, Rows, Scope};
use crate::{alerts::AckRow, sql::Sql, tables, types::AlertStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFilter {
    Open,
    Resolved,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertSort {
    Age,
    OpenedOn,
    Rule,
    Severity,
    Account,
}

/// Which alerts a feed shows (names validated by the caller). Withdrawn alerts never
/// show.
#[derive(Debug, Clone)]
pub struct AlertFilter {
    pub state: StateFilter,
    /// Any of; empty for all.
    pub rules: Vec<&'static str>,
    pub severities: Vec<&'static str>,
    pub account_id: Option<String>,
    pub acknowledged: Option<bool>,
    pub scope: Scope,
}

/// One alert as the feed lists it.
#[derive(Debug, Clone, Deserialize, clickhouse::Row)]
pub struct AlertItemRow {
    pub alert_id: String,
    pub account_id: String,
    pub rule: String,
    pub severity: String,
    #[serde(with = "clickhouse::serde::chrono::date")]
    pub opened_on: NaiveDate,
    #[serde(with = "clickhouse::serde::chrono::date::option")]
    pub resolved_on: Option<NaiveDate>,
    pub status: AlertStatus,
    pub message: String,
    pub details: String,
    pub name: String,
    pub csm: String,
    /// NULL when the alert has no acknowledgement.
    pub acknowledged_by: Option<String>,
    pub note: String,
    #[serde(with = "clickhouse::serde::chrono::datetime")]
    pub acknowledged_at: DateTime<Utc>,
    /// Days open, to `reference` or to its resolution.
    pub age_days: i64,
    /// Why a resolved alert resolved, when not by its rule: `churned` (SPEC v3 §8).
    #[serde(with = "crate::types::reason")]
    pub reason: Option<TransitionReason>,
}

/// One row per alert from `alerts_current` (its current state, kept by a materialized
/// view over `health_alerts`), its account's name and CSM, and its acknowledgement looked
/// up on `alert_acks`' sort key for just the alerts selected. `{reference:Date}` is the
/// day ages are counted to. Withdrawn alerts (their opening was retracted) never show.
const ALERTS_SQL: &str = "WITH cur AS (SELECT alert_id, account_id, rule, severity, opened_on, resolved_on, \
     status, message, details, reason FROM alerts_current FINAL";

/// The rest of [`ALERTS_SQL`], after the filters on `alerts_current`.
const ALERTS_JOIN_SQL: &str = ") SELECT a.alert_id AS alert_id, a.account_id AS account_id, a.rule AS rule, \
     a.severity AS severity, a.opened_on AS opened_on, a.resolved_on AS resolved_on, a.status AS status, \
     a.message AS message, a.details AS details, h.name AS name, h.csm AS csm, \
     k.acknowledged_by AS acknowledged_by, k.note AS note, k.acknowledged_at AS acknowledged_at, \
     toInt64(dateDiff('day', a.opened_on, if(a.status = 'resolved', assumeNotNull(a.resolved_on), {reference:Date}))) \
     AS age_days, a.reason AS reason FROM cur AS a \
     LEFT JOIN (SELECT account_id, name, csm FROM account_health_latest FINAL) AS h ON h.account_id = a.account_id \
     LEFT JOIN (SELECT alert_id, toNullable(acknowledged_by) AS acknowledged_by, note, acknowledged_at \
     FROM alert_acks FINAL WHERE alert_id IN (SELECT alert_id FROM cur)) AS k ON k.alert_id = a.alert_id WHERE 1";

fn alerts_sql(filter: &AlertFilter, reference: NaiveDate) -> Sql {
    let mut sql = Sql::new(ALERTS_SQL);
    if let Some(a) = &filter.account_id {
        // On the sort key, so before the FINAL merge (every version has the same key).
        sql.arg(" PREWHERE account_id = {account_id:String}", "account_id", a.as_str());
    }
    // Conditions on other columns apply to the merged (newest) row only.
    sql.push(" WHERE status != 'withdrawn'");
    sql.push(match filter.state {
        StateFilter::Open => " AND status = 'open'",
        StateFilter::Resolved => " AND status = 'resolved'",
        StateFilter::All => "",
    });
    if !filter.rules.is_empty() {
        sql.arg(" AND rule IN {rules:Array(String)}", "rules", strings(&filter.rules));
    }
    if !filter.severities.is_empty() {
        sql.arg(" AND severity IN {severities:Array(String)}", "severities", strings(&filter.severities));
    }
    if !filter.scope.is_all() {
        // Accounts of the segment / CSM, customers now unless former ones are included,
        // on alerts_current's sort key (account_id first).
        sql.push(" AND account_id IN (SELECT account_id FROM account_health_latest FINAL WHERE 1");
        filter.scope.push(&mut sql);
        sql.push(")");
    }
    sql.push(ALERTS_JOIN_SQL).set("reference", reference);
    match filter.acknowledged {
        Some(true) => sql.push(" AND acknowledged_by IS NOT NULL"),
        Some(false) => sql.push(" AND acknowledged_by IS NULL"),
        None => &mut sql,
    };
    sql
}

/// One page of the alerts of `filter`, ages counted to `reference`.
pub async fn list(
    ch: &clickhouse::Client,
    filter: &AlertFilter,
    reference: NaiveDate,
    sort: AlertSort,
    paging: Paging,
) -> Result<Rows<AlertItemRow>> {
    let inner = alerts_sql(filter, reference);
    let count = Sql::wrapped("SELECT count() FROM (", &inner, ")");
    let order = match sort {
        AlertSort::Age => "age_days",
        AlertSort::OpenedOn => "opened_on",
        AlertSort::Rule => "rule",
        AlertSort::Severity => "indexOf(['info', 'warning', 'critical'], severity)",
        AlertSort::Account => "lower(name)",
    };
    let mut items = inner;
    items.push(&format!(" ORDER BY {order} {}, alert_id ASC", paging.dir()));
    paging.push(&mut items);
    page(ch, items, count).await
}

/// The alerts of one rule.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, clickhouse::Row)]
pub struct RuleSummary {
    pub rule: String,
    pub open: u64,
    pub acknowledged: u64,
    /// Open for 0..=7, 8..=30 and more than 30 days.
    pub age_0_7: u64,
    pub age_8_30: u64,
    pub age_over_30: u64,
    pub oldest_days: i64,
}

/// The alerts of `filter` by rule, most first.
pub async fn by_rule(ch: &clickhouse::Client, filter: &AlertFilter, reference: NaiveDate) -> Result<Vec<RuleSummary>> {
    let inner = alerts_sql(filter, reference);
    let sql = Sql::wrapped(
        "SELECT rule, count() AS open, countIf(acknowledged_by IS NOT NULL) AS acknowledged, \
         countIf(age_days <= 7) AS age_0_7, \
         countIf(age_days > 7 AND age_days <= 30) AS age_8_30, countIf(age_days > 30) AS age_over_30, \
         max(age_days) AS oldest_days FROM (",
        &inner,
        ") GROUP BY rule ORDER BY open DESC, rule ASC",
    );
    sql.query(ch).fetch_all().await
}

/// The account and rule of an alert that held (not withdrawn); `None` if none.
pub async fn find(ch: &clickhouse::Client, alert_id: &str) -> Result<Option<(String, String)>> {
    let mut find = Sql::new("SELECT account_id, rule FROM alerts_current FINAL");
    find.arg(" WHERE alert_id = {alert_id:String} AND status != 'withdrawn' LIMIT 1", "alert_id", alert_id);
    find.query(ch).fetch_optional().await
}

/// Stores an acknowledgement (the newest of an alert wins).
pub async fn acknowledge(ch: &clickhouse::Client, row: &AckRow) -> Result<()> {
    let mut ins = ch.insert::<AckRow>(tables::ALERT_ACKS).await?;
    ins.write(row).await?;
    ins.end().await
}
