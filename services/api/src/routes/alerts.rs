//! Alerts: the feed (open or resolved, by rule, severity, account, acknowledgement,
//! age), open alerts by rule and age, and acknowledgements (who, when, note) stored in
//! `alert_acks`.

use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{header, HeaderMap},
    Extension, Json,
};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{account_id, latest_day, page, sort_label, Page, Scope, RULES, SEVERITIES};
use crate::{
    auth::Principal,
    db::{AlertStatus, Db, Sql},
    error::{ApiError, ApiResult},
    params::{check_text, PageReq, Params, Sort},
    service::AppState,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFilter {
    Open,
    Resolved,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AlertSort {
    Age,
    OpenedOn,
    Rule,
    Severity,
    Account,
}

const ALERT_SORTS: [(&str, AlertSort); 5] = [
    ("age", AlertSort::Age),
    ("opened_on", AlertSort::OpenedOn),
    ("rule", AlertSort::Rule),
    ("severity", AlertSort::Severity),
    ("account", AlertSort::Account),
];

#[derive(Debug, Clone)]
pub struct AlertsRequest {
    pub state: StateFilter,
    pub rules: Vec<&'static str>,
    pub severities: Vec<&'static str>,
    pub account_id: Option<String>,
    pub acknowledged: Option<bool>,
    pub scope: Scope,
    sort: Sort<AlertSort>,
    pub page: PageReq,
}

pub const LIST_KEYS: &[&str] =
    &["state", "rule", "severity", "account_id", "acknowledged", "segment", "csm", "sort", "page", "page_size"];

impl AlertsRequest {
    pub fn parse(p: &Params, max_page_size: u32) -> ApiResult<Self> {
        let account_id = match p.raw("account_id") {
            Some(a) => Some(account_id(a)?),
            None => None,
        };
        Ok(Self {
            state: p
                .choice(
                    "state",
                    &[("open", StateFilter::Open), ("resolved", StateFilter::Resolved), ("all", StateFilter::All)],
                )?
                .unwrap_or(StateFilter::Open),
            rules: p.choices("rule", &RULES)?,
            severities: p.choices("severity", &SEVERITIES)?,
            account_id,
            acknowledged: p.bool("acknowledged")?,
            scope: Scope::parse(p)?,
            sort: p.sort(&ALERT_SORTS, (AlertSort::Age, true))?,
            page: p.page(max_page_size)?,
        })
    }

    /// Every open alert of one account, oldest first.
    pub fn open_for(id: &str) -> Self {
        Self {
            state: StateFilter::Open,
            rules: Vec::new(),
            severities: Vec::new(),
            account_id: Some(id.to_owned()),
            acknowledged: None,
            scope: Scope::default(),
            sort: Sort { key: AlertSort::Age, desc: true },
            page: PageReq { page: 1, page_size: 100 },
        }
    }

    /// One account's alert history (open and resolved; never withdrawn), newest first.
    pub fn history_for(id: &str) -> Self {
        Self { state: StateFilter::All, sort: Sort { key: AlertSort::OpenedOn, desc: true }, ..Self::open_for(id) }
    }

    pub fn sort_label(&self) -> String {
        sort_label(ALERT_SORTS.iter().find(|(_, k)| *k == self.sort.key).map_or("", |(n, _)| n), self.sort.desc)
    }
}

#[derive(Debug, Clone, Deserialize, clickhouse::Row)]
struct AlertRow {
    alert_id: String,
    account_id: String,
    rule: String,
    severity: String,
    #[serde(with = "clickhouse::serde::chrono::date")]
    opened_on: NaiveDate,
    #[serde(with = "clickhouse::serde::chrono::date::option")]
    resolved_on: Option<NaiveDate>,
    status: AlertStatus,
    message: String,
    details: String,
    name: String,
    csm: String,
    /// NULL when the alert has no acknowledgement.
    acknowledged_by: Option<String>,
    note: String,
    #[serde(with = "clickhouse::serde::chrono::datetime")]
    acknowledged_at: DateTime<Utc>,
    age_days: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Acknowledgement {
    pub by: String,
    /// RFC 3339, UTC.
    pub at: String,
    pub note: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    pub alert_id: String,
    pub account_id: String,
    pub name: String,
    pub csm: String,
    pub rule: String,
    pub severity: String,
    pub state: &'static str,
    pub opened_on: NaiveDate,
    pub resolved_on: Option<NaiveDate>,
    /// Days open (to the newest day with results, or to its resolution).
    pub age_days: i64,
    pub message: String,
    pub details: serde_json::Value,
    pub acknowledged: Option<Acknowledgement>,
}

/// One row per alert from `alerts_current` (its current state, kept by a materialized
/// view over `health_alerts`), its account's name and CSM, and its acknowledgement looked
/// up on `alert_acks`' sort key for just the alerts selected. `{reference:Date}` is the
/// day ages are counted to. Withdrawn alerts (their opening was retracted) never show.
const ALERTS_SQL: &str = "WITH cur AS (SELECT alert_id, account_id, rule, severity, opened_on, resolved_on, \
     status, message, details FROM alerts_current FINAL";

/// The rest of [`ALERTS_SQL`], after the filters on `alerts_current`.
const ALERTS_JOIN_SQL: &str = ") SELECT a.alert_id AS alert_id, a.account_id AS account_id, a.rule AS rule, \
     a.severity AS severity, a.opened_on AS opened_on, a.resolved_on AS resolved_on, a.status AS status, \
     a.message AS message, a.details AS details, h.name AS name, h.csm AS csm, \
     k.acknowledged_by AS acknowledged_by, k.note AS note, k.acknowledged_at AS acknowledged_at, \
     toInt64(dateDiff('day', a.opened_on, if(a.status = 'resolved', assumeNotNull(a.resolved_on), {reference:Date}))) \
     AS age_days FROM cur AS a \
     LEFT JOIN (SELECT account_id, name, csm FROM account_health_latest FINAL) AS h ON h.account_id = a.account_id \
     LEFT JOIN (SELECT alert_id, toNullable(acknowledged_by) AS acknowledged_by, note, acknowledged_at \
     FROM alert_acks FINAL WHERE alert_id IN (SELECT alert_id FROM cur)) AS k ON k.alert_id = a.alert_id WHERE 1";

pub async fn list(State(st): State<AppState>, RawQuery(q): RawQuery) -> ApiResult<Json<Page<Alert>>> {
    let p = Params::parse(q.as_deref(), LIST_KEYS)?;
    Ok(Json(query_alerts(&st.db, &AlertsRequest::parse(&p, st.cfg.max_page_size)?).await?))
}

pub async fn for_account(
    State(st): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Page<Alert>>> {
    let p = Params::parse(q.as_deref(), &["state", "rule", "severity", "acknowledged", "sort", "page", "page_size"])?;
    let mut req = AlertsRequest::parse(&p, st.cfg.max_page_size)?;
    req.account_id = Some(account_id(&id)?);
    if p.raw("state").is_none() {
        req.state = StateFilter::All;
    }
    Ok(Json(query_alerts(&st.db, &req).await?))
}

fn alerts_sql(req: &AlertsRequest, reference: NaiveDate) -> Sql {
    let mut sql = Sql::new(ALERTS_SQL);
    if let Some(a) = &req.account_id {
        // On the sort key, so before the FINAL merge (every version has the same key).
        sql.arg(" PREWHERE account_id = {account_id:String}", "account_id", a.as_str());
    }
    // Conditions on other columns apply to the merged (newest) row only.
    sql.push(" WHERE status != 'withdrawn'");
    sql.push(match req.state {
        StateFilter::Open => " AND status = 'open'",
        StateFilter::Resolved => " AND status = 'resolved'",
        StateFilter::All => "",
    });
    if !req.rules.is_empty() {
        sql.arg(" AND rule IN {rules:Array(String)}", "rules", super::strings(&req.rules));
    }
    if !req.severities.is_empty() {
        sql.arg(" AND severity IN {severities:Array(String)}", "severities", super::strings(&req.severities));
    }
    if !req.scope.is_empty() {
        // Accounts of the segment / CSM, on alerts_current's sort key (account_id first).
        sql.push(" AND account_id IN (SELECT account_id FROM account_health_latest FINAL WHERE 1");
        req.scope.push(&mut sql);
        sql.push(")");
    }
    sql.push(ALERTS_JOIN_SQL).set("reference", reference);
    match req.acknowledged {
        Some(true) => sql.push(" AND acknowledged_by IS NOT NULL"),
        Some(false) => sql.push(" AND acknowledged_by IS NULL"),
        None => &mut sql,
    };
    sql
}

pub async fn query_alerts(db: &Db, req: &AlertsRequest) -> ApiResult<Page<Alert>> {
    let reference = latest_day(db).await?.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let inner = alerts_sql(req, reference);
    let count = Sql::wrapped("SELECT count() FROM (", &inner, ")");
    let order = match req.sort.key {
        AlertSort::Age => "age_days",
        AlertSort::OpenedOn => "opened_on",
        AlertSort::Rule => "rule",
        AlertSort::Severity => "indexOf(['info', 'warning', 'critical'], severity)",
        AlertSort::Account => "lower(name)",
    };
    let mut items = inner;
    items.push(&format!(" ORDER BY {order} {}, alert_id ASC", req.sort.dir()));
    items.arg(" LIMIT {limit:UInt64}", "limit", req.page.page_size).arg(
        " OFFSET {offset:UInt64}",
        "offset",
        req.page.offset(),
    );
    let rows: Page<AlertRow> = page(db, items, count, req.page, req.sort_label()).await?;
    let items = rows.items.into_iter().map(alert).collect();
    Ok(Page { items, page: rows.page, page_size: rows.page_size, total: rows.total, sort: rows.sort })
}

fn alert(r: AlertRow) -> Alert {
    let resolved = r.status == AlertStatus::Resolved;
    Alert {
        alert_id: r.alert_id,
        account_id: r.account_id,
        name: r.name,
        csm: r.csm,
        rule: r.rule,
        severity: r.severity,
        state: r.status.as_str(),
        opened_on: r.opened_on,
        resolved_on: if resolved { r.resolved_on } else { None },
        age_days: r.age_days,
        message: r.message,
        details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::Null),
        acknowledged: r.acknowledged_by.map(|by| Acknowledgement { by, at: rfc3339(r.acknowledged_at), note: r.note }),
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

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

#[derive(Debug, Clone, Serialize)]
pub struct AlertsSummary {
    pub as_of: Option<NaiveDate>,
    pub scope: Scope,
    pub open: u64,
    pub unacknowledged: u64,
    pub by_rule: Vec<RuleSummary>,
}

pub async fn summary(State(st): State<AppState>, RawQuery(q): RawQuery) -> ApiResult<Json<AlertsSummary>> {
    let p = Params::parse(q.as_deref(), &["segment", "csm"])?;
    Ok(Json(query_summary(&st.db, &Scope::parse(&p)?).await?))
}

pub async fn query_summary(db: &Db, scope: &Scope) -> ApiResult<AlertsSummary> {
    let as_of = latest_day(db).await?;
    let mut req = AlertsRequest::open_for("");
    req.account_id = None;
    req.scope = scope.clone();
    let inner = alerts_sql(&req, as_of.unwrap_or_else(|| chrono::Utc::now().date_naive()));
    let sql = Sql::wrapped(
        "SELECT rule, count() AS open, countIf(acknowledged_by IS NOT NULL) AS acknowledged, \
         countIf(age_days <= 7) AS age_0_7, \
         countIf(age_days > 7 AND age_days <= 30) AS age_8_30, countIf(age_days > 30) AS age_over_30, \
         max(age_days) AS oldest_days FROM (",
        &inner,
        ") GROUP BY rule ORDER BY open DESC, rule ASC",
    );
    let by_rule: Vec<RuleSummary> = sql.query(&db.read).fetch_all().await?;
    let open = by_rule.iter().map(|r| r.open).sum();
    let acked: u64 = by_rule.iter().map(|r| r.acknowledged).sum();
    Ok(AlertsSummary { as_of, scope: scope.clone(), open, unacknowledged: open - acked, by_rule })
}

/// Body of `POST /api/v1/alerts/ack`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    pub alert_id: String,
    /// Why; may be empty.
    #[serde(default)]
    pub note: String,
    /// Who acknowledged (a person's name); defaults to the credential's name.
    #[serde(default)]
    pub by: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, clickhouse::Row)]
struct AckRow {
    alert_id: String,
    account_id: String,
    rule: String,
    acknowledged_by: String,
    principal: String,
    note: String,
    #[serde(with = "clickhouse::serde::chrono::datetime")]
    acknowledged_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AckResponse {
    pub alert_id: String,
    pub acknowledged: Acknowledgement,
    pub principal: String,
}

pub async fn ack(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<AckResponse>> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")));
    if !json {
        return Err(ApiError::UnsupportedMediaType);
    }
    let req: AckRequest = serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(format!("body: {e}")))?;
    if req.alert_id.is_empty() {
        return Err(ApiError::bad("alert_id", "must not be empty"));
    }
    check_text("alert_id", &req.alert_id, 300)?;
    if req.note.chars().count() > 1000 || req.note.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::bad("note", "at most 1000 characters, no control characters but newlines"));
    }
    let by = match req.by.as_deref().map(str::trim) {
        Some(b) if !b.is_empty() => {
            check_text("by", b, 128)?;
            b.to_owned()
        }
        _ => who.0.clone(),
    };
    // A withdrawn alert never held: there is nothing to acknowledge.
    let mut find = Sql::new("SELECT account_id, rule FROM alerts_current FINAL");
    find.arg(
        " WHERE alert_id = {alert_id:String} AND status != 'withdrawn' LIMIT 1",
        "alert_id",
        req.alert_id.as_str(),
    );
    let (account, rule): (String, String) = find
        .query(&st.db.read)
        .fetch_optional()
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no alert `{}`", req.alert_id)))?;
    // DateTime has whole seconds: store what is stored, answer what is stored.
    let now = DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap_or_default();
    let row = AckRow {
        alert_id: req.alert_id.clone(),
        account_id: account,
        rule,
        acknowledged_by: by.clone(),
        principal: who.0.clone(),
        note: req.note.clone(),
        acknowledged_at: now,
    };
    let mut ins = st.db.write.insert::<AckRow>("alert_acks").await?;
    ins.write(&row).await?;
    ins.end().await?;
    st.metrics.acks.inc();
    tracing::info!(principal = %who.0, rule = %row.rule, "alert acknowledged");
    Ok(Json(AckResponse {
        alert_id: row.alert_id,
        acknowledged: Acknowledgement { by, at: rfc3339(row.acknowledged_at), note: row.note },
        principal: who.0,
    }))
}
