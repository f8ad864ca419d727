//! Graduation pipeline reads: onboarding accounts with their verdicts, flags and
//! blockers, and the counts over them.

use serde::{Deserialize, Serialize};

use super::{page, strings, Paging, Result, Rows, Scope};
use crate::{sql::Sql, types::Verdict};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GradSort {
    Nearest,
    Total,
    DaysInStage,
    Blockers,
    Name,
}

/// Which onboarding accounts a list shows.
#[derive(Debug, Clone, Default)]
pub struct GradFilter {
    pub scope: Scope,
    /// Any of; empty for all.
    pub verdicts: Vec<&'static str>,
    pub overdue: Option<bool>,
    pub recovery_plan_needed: Option<bool>,
    /// In the name or id, case-insensitive.
    pub q: Option<String>,
}

/// An onboarding account as listed.
#[derive(Debug, Clone, Deserialize, clickhouse::Row)]
pub struct GradRow {
    pub account_id: String,
    pub name: String,
    pub segment: String,
    pub csm: String,
    pub arr: Option<f64>,
    pub total: f64,
    pub verdict: Verdict,
    pub days_in_stage: Option<i32>,
    pub overdue: u8,
    pub recovery_plan_needed: u8,
    pub blocker_count: u64,
}

/// One page of the onboarding accounts of `filter`.
pub async fn list(
    ch: &clickhouse::Client,
    filter: &GradFilter,
    sort: GradSort,
    paging: Paging,
) -> Result<Rows<GradRow>> {
    // The health side is unique per account (FINAL): a plain outer join. An onboarding
    // account without a health result keeps its row, with empty attributes.
    let mut inner = Sql::new(
        "SELECT g.account_id AS account_id, h.name AS name, h.segment AS segment, h.csm AS csm, h.arr AS arr, \
         g.total AS total, g.verdict AS verdict, g.days_in_stage AS days_in_stage, g.overdue AS overdue, \
         g.recovery_plan_needed AS recovery_plan_needed, length(g.blockers) AS blocker_count FROM (\
         SELECT account_id, total, verdict, days_in_stage, overdue, recovery_plan_needed, blockers, former \
         FROM graduation_readiness_latest FINAL WHERE lifecycle_stage = 'onboarding'",
    );
    if !filter.verdicts.is_empty() {
        inner.arg(" AND verdict IN {verdicts:Array(String)}", "verdicts", strings(&filter.verdicts));
    }
    match filter.overdue {
        Some(true) => inner.push(" AND overdue = 1"),
        Some(false) => inner.push(" AND overdue = 0"),
        None => &mut inner,
    };
    match filter.recovery_plan_needed {
        Some(true) => inner.push(" AND recovery_plan_needed = 1"),
        Some(false) => inner.push(" AND recovery_plan_needed = 0"),
        None => &mut inner,
    };
    inner.push(
        ") AS g LEFT JOIN (SELECT account_id, name, segment, csm, arr FROM account_health_latest FINAL) AS h \
         ON h.account_id = g.account_id WHERE 1",
    );
    filter.scope.push_columns(&mut inner, "h.segment", "h.csm", "g.former");
    if let Some(q) = &filter.q {
        inner.arg(
            " AND (positionCaseInsensitiveUTF8(h.name, {q:String}) > 0 \
             OR positionCaseInsensitiveUTF8(g.account_id, {q:String}) > 0)",
            "q",
            q.as_str(),
        );
    }
    let count = Sql::wrapped("SELECT count() FROM (", &inner, ")");
    let dir = paging.dir();
    let order = match sort {
        // Not yet ready first, highest total, fewest blockers.
        GradSort::Nearest if paging.desc => "verdict = 'ready' DESC, total ASC, blocker_count DESC".to_owned(),
        GradSort::Nearest => "verdict = 'ready' ASC, total DESC, blocker_count ASC".to_owned(),
        GradSort::Total => format!("total {dir}"),
        GradSort::DaysInStage => format!("days_in_stage {dir} NULLS LAST"),
        GradSort::Blockers => format!("blocker_count {dir}"),
        GradSort::Name => format!("lower(name) {dir}"),
    };
    let mut items = inner;
    items.push(&format!(" ORDER BY {order}, account_id ASC"));
    paging.push(&mut items);
    page(ch, items, count).await
}

/// The newest readiness result (JSON) of each of `ids` that has one, as
/// (account, result).
pub async fn results(ch: &clickhouse::Client, ids: Vec<String>) -> Result<Vec<(String, String)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new("SELECT account_id, result FROM graduation_readiness_latest FINAL");
    sql.arg(" PREWHERE account_id IN {ids:Array(String)}", "ids", ids);
    sql.query(ch).fetch_all().await
}

/// The onboarding accounts in scope by verdict and flag.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Serialize, Deserialize, clickhouse::Row)]
pub struct Counts {
    pub onboarding: u64,
    pub ready: u64,
    pub close: u64,
    pub not_ready: u64,
    pub overdue: u64,
    pub recovery_plan_needed: u64,
    pub avg_days_in_stage: f64,
}

pub async fn counts(ch: &clickhouse::Client, scope: &Scope) -> Result<Counts> {
    let mut sql = Sql::new(
        "SELECT count() AS onboarding, countIf(g.verdict = 'ready') AS ready, countIf(g.verdict = 'close') AS close, \
         countIf(g.verdict = 'not_ready') AS not_ready, sum(g.overdue) AS overdue, \
         sum(g.recovery_plan_needed) AS recovery_plan_needed, \
         round(ifNull(avg(g.days_in_stage), 0), 1) AS avg_days_in_stage FROM (\
         SELECT account_id, verdict, overdue, recovery_plan_needed, days_in_stage, former FROM graduation_readiness_latest FINAL \
         WHERE lifecycle_stage = 'onboarding') AS g LEFT JOIN (SELECT account_id, segment, csm \
         FROM account_health_latest FINAL) AS h ON h.account_id = g.account_id WHERE 1",
    );
    scope.push_columns(&mut sql, "h.segment", "h.csm", "g.former");
    sql.query(ch).fetch_one().await
}
