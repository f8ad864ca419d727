//! Graduation pipeline: onboarding accounts by verdict, days in stage, overdue and
//! recovery-plan flags, blockers, and those nearest to ready.

use axum::{
    extract::{RawQuery, State},
    Json,
};
use chrono::NaiveDate;
use pulse_core::{readiness::Blocker, ReadinessResult};
use serde::{Deserialize, Serialize};

use super::{latest_day, page, sort_label, Page, Scope, VERDICTS};
use crate::{
    db::{Db, Sql, Verdict},
    error::ApiResult,
    params::{PageReq, Params, Sort, MAX_TEXT},
    service::AppState,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GradSort {
    Nearest,
    Total,
    DaysInStage,
    Blockers,
    Name,
}

const GRAD_SORTS: [(&str, GradSort); 5] = [
    ("nearest", GradSort::Nearest),
    ("total", GradSort::Total),
    ("days_in_stage", GradSort::DaysInStage),
    ("blockers", GradSort::Blockers),
    ("name", GradSort::Name),
];

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

pub const LIST_KEYS: &[&str] =
    &["verdict", "overdue", "recovery_plan_needed", "segment", "csm", "q", "sort", "page", "page_size"];

impl GradRequest {
    pub fn parse(p: &Params, max_page_size: u32) -> ApiResult<Self> {
        Ok(Self {
            scope: Scope::parse(p)?,
            verdicts: p.choices("verdict", &VERDICTS)?,
            overdue: p.bool("overdue")?,
            recovery_plan_needed: p.bool("recovery_plan_needed")?,
            q: p.text("q", MAX_TEXT)?,
            sort: p.sort(&GRAD_SORTS, (GradSort::Nearest, false))?,
            page: p.page(max_page_size)?,
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
        sort_label(GRAD_SORTS.iter().find(|(_, k)| *k == self.sort.key).map_or("", |(n, _)| n), self.sort.desc)
    }
}

#[derive(Debug, Clone, Deserialize, clickhouse::Row)]
struct GradRow {
    account_id: String,
    name: String,
    segment: String,
    csm: String,
    arr: Option<f64>,
    total: f64,
    verdict: Verdict,
    days_in_stage: Option<i32>,
    overdue: u8,
    recovery_plan_needed: u8,
    #[allow(dead_code)] // sorted on in SQL
    blocker_count: u64,
}

#[derive(Debug, Clone, Serialize)]
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
    pub blockers: Vec<Blocker>,
}

pub async fn list(State(st): State<AppState>, RawQuery(q): RawQuery) -> ApiResult<Json<Page<GradItem>>> {
    let p = Params::parse(q.as_deref(), LIST_KEYS)?;
    Ok(Json(query_list(&st.db, &GradRequest::parse(&p, st.cfg.max_page_size)?).await?))
}

pub async fn query_list(db: &Db, req: &GradRequest) -> ApiResult<Page<GradItem>> {
    // The health side is unique per account (FINAL): a plain outer join. An onboarding
    // account without a health result keeps its row, with empty attributes.
    let mut inner = Sql::new(
        "SELECT g.account_id AS account_id, h.name AS name, h.segment AS segment, h.csm AS csm, h.arr AS arr, \
         g.total AS total, g.verdict AS verdict, g.days_in_stage AS days_in_stage, g.overdue AS overdue, \
         g.recovery_plan_needed AS recovery_plan_needed, length(g.blockers) AS blocker_count FROM (\
         SELECT account_id, total, verdict, days_in_stage, overdue, recovery_plan_needed, blockers \
         FROM graduation_readiness_latest FINAL WHERE lifecycle_stage = 'onboarding'",
    );
    if !req.verdicts.is_empty() {
        inner.arg(" AND verdict IN {verdicts:Array(String)}", "verdicts", super::strings(&req.verdicts));
    }
    match req.overdue {
        Some(true) => inner.push(" AND overdue = 1"),
        Some(false) => inner.push(" AND overdue = 0"),
        None => &mut inner,
    };
    match req.recovery_plan_needed {
        Some(true) => inner.push(" AND recovery_plan_needed = 1"),
        Some(false) => inner.push(" AND recovery_plan_needed = 0"),
        None => &mut inner,
    };
    inner.push(
        ") AS g LEFT JOIN (SELECT account_id, name, segment, csm, arr FROM account_health_latest FINAL) AS h \
         ON h.account_id = g.account_id WHERE 1",
    );
    req.scope.push_columns(&mut inner, "h.segment", "h.csm");
    if let Some(q) = &req.q {
        inner.arg(
            " AND (positionCaseInsensitiveUTF8(h.name, {q:String}) > 0 \
             OR positionCaseInsensitiveUTF8(g.account_id, {q:String}) > 0)",
            "q",
            q.as_str(),
        );
    }
    let count = Sql::wrapped("SELECT count() FROM (", &inner, ")");
    let dir = req.sort.dir();
    let order = match req.sort.key {
        // Not yet ready first, highest total, fewest blockers.
        GradSort::Nearest if req.sort.desc => "verdict = 'ready' DESC, total ASC, blocker_count DESC".to_owned(),
        GradSort::Nearest => "verdict = 'ready' ASC, total DESC, blocker_count ASC".to_owned(),
        GradSort::Total => format!("total {dir}"),
        GradSort::DaysInStage => format!("days_in_stage {dir} NULLS LAST"),
        GradSort::Blockers => format!("blocker_count {dir}"),
        GradSort::Name => format!("lower(name) {dir}"),
    };
    let mut items = inner;
    items.push(&format!(" ORDER BY {order}, account_id ASC"));
    items.arg(" LIMIT {limit:UInt64}", "limit", req.page.page_size).arg(
        " OFFSET {offset:UInt64}",
        "offset",
        req.page.offset(),
    );
    let rows: Page<GradRow> = page(db, items, count, req.page, req.sort_label()).await?;
    // The wide `result` column only for the page's accounts.
    let ids: Vec<String> = rows.items.iter().map(|r| r.account_id.clone()).collect();
    let mut results: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    if !ids.is_empty() {
        let mut sql = Sql::new("SELECT account_id, result FROM graduation_readiness_latest FINAL");
        sql.arg(" PREWHERE account_id IN {ids:Array(String)}", "ids", ids);
        results = sql.query(&db.read).fetch_all::<(String, String)>().await?.into_iter().collect();
    }
    let items = rows
        .items
        .into_iter()
        .map(|r| {
            let result = results.remove(&r.account_id).unwrap_or_default();
            item(r, &result)
        })
        .collect();
    Ok(Page { items, page: rows.page, page_size: rows.page_size, total: rows.total, sort: rows.sort })
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

#[derive(Debug, Clone, Serialize)]
pub struct Pipeline {
    pub as_of: Option<NaiveDate>,
    pub scope: Scope,
    #[serde(flatten)]
    pub counts: Counts,
    /// The five not-ready accounts closest to graduating.
    pub nearest_to_ready: Vec<GradItem>,
}

pub async fn summary(State(st): State<AppState>, RawQuery(q): RawQuery) -> ApiResult<Json<Pipeline>> {
    let p = Params::parse(q.as_deref(), &["segment", "csm"])?;
    Ok(Json(query_summary(&st.db, &Scope::parse(&p)?).await?))
}

pub async fn query_summary(db: &Db, scope: &Scope) -> ApiResult<Pipeline> {
    let mut sql = Sql::new(
        "SELECT count() AS onboarding, countIf(g.verdict = 'ready') AS ready, countIf(g.verdict = 'close') AS close, \
         countIf(g.verdict = 'not_ready') AS not_ready, sum(g.overdue) AS overdue, \
         sum(g.recovery_plan_needed) AS recovery_plan_needed, \
         round(ifNull(avg(g.days_in_stage), 0), 1) AS avg_days_in_stage FROM (\
         SELECT account_id, verdict, overdue, recovery_plan_needed, days_in_stage FROM graduation_readiness_latest FINAL \
         WHERE lifecycle_stage = 'onboarding') AS g LEFT JOIN (SELECT account_id, segment, csm \
         FROM account_health_latest FINAL) AS h ON h.account_id = g.account_id WHERE 1",
    );
    scope.push_columns(&mut sql, "h.segment", "h.csm");
    let (counts, nearest, as_of) = futures::future::try_join3(
        async { Ok(sql.query(&db.read).fetch_one::<Counts>().await?) },
        query_list(db, &GradRequest::nearest(scope, 5)),
        latest_day(db),
    )
    .await?;
    Ok(Pipeline { as_of, scope: scope.clone(), counts, nearest_to_ready: nearest.items })
}
