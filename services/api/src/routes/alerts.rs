//! Alerts: the feed (open or resolved, by rule, severity, account, acknowledgement,
//! age), open alerts by rule and age, and acknowledgements (who, when, note) stored in
//! `alert_acks`.

use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{header, HeaderMap},
    Extension, Json,
};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{account_id, latest_day, page, sort_label, Page, Scope, RULES, SEVERITIES};
use crate::{
    auth::Principal,
    db::{self, Db, Sql},
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
    opened_on: u16,
    resolved_on: u16,
    resolved: u8,
    message: String,
    details: String,
    name: String,
    csm: String,
    acked: u8,
    acknowledged_by: String,
    note: String,
    acknowledged_at: u32,
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

/// One row per alert: its transitions folded, its acknowledgement and account joined.
/// `?` is the reference day for ages.
const ALERTS_SQL: &str = "SELECT alert_id, account_id, rule, severity, opened_on, resolved_on, resolved, message, \
     details, name, csm, acked, acknowledged_by, note, acknowledged_at, \
     toInt64(if(resolved = 1, resolved_on, toDate(?))) - toInt64(opened_on) AS age_days FROM (\
     SELECT alert_id, account_id, rule, severity, opened_on, resolved_on, resolved, message, details, \
     acked, acknowledged_by, note, acknowledged_at FROM (\
     SELECT alert_id, account_id, rule, anyIf(severity, state = 'opened') AS severity, \
     min(opened_on) AS opened_on, maxIf(as_of, state = 'resolved') AS resolved_on, \
     toUInt8(countIf(state = 'resolved') > 0) AS resolved, anyIf(message, state = 'opened') AS message, \
     anyIf(details, state = 'opened') AS details FROM health_alerts FINAL";

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
    let mut sql = Sql::new("");
    sql.bind(ALERTS_SQL, reference);
    if let Some(a) = &req.account_id {
        sql.bind(" PREWHERE account_id = ?", a.as_str());
    }
    sql.push(" WHERE 1");
    if !req.rules.is_empty() {
        sql.bind(" AND has(?, rule)", super::strings(&req.rules));
    }
    sql.push(
        " GROUP BY alert_id, account_id, rule) ANY LEFT JOIN (SELECT alert_id, toUInt8(1) AS acked, acknowledged_by, note, acknowledged_at \
         FROM alert_acks FINAL) USING alert_id) ANY LEFT JOIN (SELECT account_id, name, csm, segment \
         FROM account_health_latest FINAL) USING account_id WHERE 1",
    );
    sql.push(match req.state {
        StateFilter::Open => " AND resolved = 0",
        StateFilter::Resolved => " AND resolved = 1",
        StateFilter::All => "",
    });
    if !req.severities.is_empty() {
        sql.bind(" AND has(?, severity)", super::strings(&req.severities));
    }
    match req.acknowledged {
        Some(true) => sql.push(" AND acked = 1"),
        Some(false) => sql.push(" AND acked = 0"),
        None => &mut sql,
    };
    req.scope.push(&mut sql);
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
    items.bind(" LIMIT ?", req.page.page_size).bind(" OFFSET ?", req.page.offset());
    let rows: Page<AlertRow> = page(db, items, count, req.page, req.sort_label()).await?;
    let items = rows.items.into_iter().map(alert).collect();
    Ok(Page { items, page: rows.page, page_size: rows.page_size, total: rows.total, sort: rows.sort })
}

fn alert(r: AlertRow) -> Alert {
    Alert {
        alert_id: r.alert_id,
        account_id: r.account_id,
        name: r.name,
        csm: r.csm,
        rule: r.rule,
        severity: r.severity,
        state: if r.resolved == 1 { "resolved" } else { "open" },
        opened_on: db::date(r.opened_on),
        resolved_on: (r.resolved == 1).then(|| db::date(r.resolved_on)),
        age_days: r.age_days,
        message: r.message,
        details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::Null),
        acknowledged: (r.acked == 1).then(|| Acknowledgement {
            by: r.acknowledged_by,
            at: rfc3339(r.acknowledged_at),
            note: r.note,
        }),
    }
}

fn rfc3339(secs: u32) -> String {
    chrono::DateTime::from_timestamp(i64::from(secs), 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
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
        "SELECT rule, count() AS open, sum(acked) AS acknowledged, countIf(age_days <= 7) AS age_0_7, \
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
    acknowledged_at: u32,
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
    let mut find = Sql::new("SELECT account_id, rule FROM health_alerts WHERE");
    find.bind(" alert_id = ? LIMIT 1", req.alert_id.as_str());
    let (account, rule): (String, String) = find
        .query(&st.db.read)
        .fetch_optional()
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no alert `{}`", req.alert_id)))?;
    let now = chrono::Utc::now();
    let row = AckRow {
        alert_id: req.alert_id.clone(),
        account_id: account,
        rule,
        acknowledged_by: by.clone(),
        principal: who.0.clone(),
        note: req.note.clone(),
        acknowledged_at: u32::try_from(now.timestamp()).unwrap_or(u32::MAX),
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
