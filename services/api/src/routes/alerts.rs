//! Alerts: the feed (open or resolved, by rule, severity, account, acknowledgement,
//! age), open alerts by rule and age, and acknowledgements (who, when, note) stored in
//! `alert_acks`.

use axum::{
    extract::{rejection::JsonRejection, FromRequest, Path, Request, State},
    response::{IntoResponse, Response},
    Extension, Json,
};
use chrono::{DateTime, NaiveDate, Utc};
use pulse_core::alerts::TransitionReason;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use pulse_storage::{
    read::alerts::{self as read, AlertFilter, AlertItemRow, AlertSort},
    AckRow, AlertStatus,
};

pub use pulse_storage::read::alerts::{RuleSummary, StateFilter};

use super::{account_id, latest_day, page_of, paging, scope_of, Page, Rules, Scope, Severities};
use crate::{
    auth::Principal,
    db::Db,
    error::{ApiError, ApiResult},
    params::{
        self, check_text, choices, Count, Flag, List, One, PageNumber, PageReq, Params, Query, Sort, SortParam, Text,
    },
    state::AppState,
};

choices!(
    /// Sort keys of alert lists.
    AlertSorts: AlertSort = [
        ("age", AlertSort::Age),
        ("opened_on", AlertSort::OpenedOn),
        ("rule", AlertSort::Rule),
        ("severity", AlertSort::Severity),
        ("account", AlertSort::Account),
    ]
);

choices!(
    /// Alert states a list may ask for.
    States: StateFilter = [("open", StateFilter::Open), ("resolved", StateFilter::Resolved), ("all", StateFilter::All)]
);

// Concrete names for the generic value types: utoipa's derive inlines a type by name.
pub type RuleList = List<Rules>;
pub type SeverityList = List<Severities>;
pub type StateParam = One<States>;
pub type AlertSortParam = SortParam<AlertSorts>;

/// The query of `GET /api/v1/alerts` (and the alerts page).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertsQuery {
    /// Open, resolved or all (default: open for the feed, all for one account).
    #[param(inline)]
    pub state: Option<StateParam>,
    /// Alert rules (comma-separated list).
    #[param(inline)]
    pub rule: Option<RuleList>,
    /// Alert severities (comma-separated list).
    #[param(inline)]
    pub severity: Option<SeverityList>,
    /// Only this account's alerts.
    #[param(inline)]
    pub account_id: Option<Text>,
    /// Only acknowledged (true) or unacknowledged (false) alerts; `1`, `0` also accepted.
    #[param(inline)]
    pub acknowledged: Option<Flag>,
    /// Only accounts of this segment.
    #[param(inline)]
    pub segment: Option<Text>,
    /// Only accounts of this CSM.
    #[param(inline)]
    pub csm: Option<Text>,
    /// Alerts of former customers too (SPEC v3 §8; default false); `1`, `0` also accepted.
    #[param(inline)]
    pub include_former: Option<Flag>,
    /// Sort key, `-` prefix for descending (default `-age`).
    #[param(inline)]
    pub sort: Option<AlertSortParam>,
    /// Page number, from 1.
    #[param(inline)]
    pub page: Option<PageNumber>,
    /// Items per page (default 50, at most api.max_page_size).
    #[param(inline)]
    pub page_size: Option<Count>,
}

/// The query of `GET /api/v1/accounts/{id}/alerts`: the feed's, less account and scope.
/// Its fields repeat the feed's on purpose: one flat struct per route is
/// what the unknown/repeated-parameter check reads (the struct's own field names) and what
/// utoipa documents parameter by parameter; `#[serde(flatten)]` would hide both.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountAlertsQuery {
    /// Open, resolved or all (default: open for the feed, all for one account).
    #[param(inline)]
    pub state: Option<StateParam>,
    /// Alert rules (comma-separated list).
    #[param(inline)]
    pub rule: Option<RuleList>,
    /// Alert severities (comma-separated list).
    #[param(inline)]
    pub severity: Option<SeverityList>,
    /// Only acknowledged (true) or unacknowledged (false) alerts; `1`, `0` also accepted.
    #[param(inline)]
    pub acknowledged: Option<Flag>,
    /// Sort key, `-` prefix for descending (default `-age`).
    #[param(inline)]
    pub sort: Option<AlertSortParam>,
    /// Page number, from 1.
    #[param(inline)]
    pub page: Option<PageNumber>,
    /// Items per page (default 50, at most api.max_page_size).
    #[param(inline)]
    pub page_size: Option<Count>,
}

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

pub const LIST_KEYS: &[&str] = &[
    "state",
    "rule",
    "severity",
    "account_id",
    "acknowledged",
    "segment",
    "csm",
    "include_former",
    "sort",
    "page",
    "page_size",
];

impl AlertsRequest {
    pub fn parse(p: &Params, max_page_size: u32) -> ApiResult<Self> {
        Self::from_query(p.decode()?, max_page_size)
    }

    pub fn from_query(q: AlertsQuery, max_page_size: u32) -> ApiResult<Self> {
        let account_id = match q.account_id {
            Some(a) => Some(account_id(&a.0)?),
            None => None,
        };
        Ok(Self {
            state: params::one(q.state).unwrap_or(StateFilter::Open),
            rules: params::list(q.rule),
            severities: params::list(q.severity),
            account_id,
            acknowledged: params::one(q.acknowledged),
            scope: scope_of(q.segment, q.csm, q.include_former),
            sort: SortParam::or(q.sort, (AlertSort::Age, true)),
            page: params::page(q.page, q.page_size, max_page_size)?,
        })
    }

    /// Every open alert of one account, oldest first (a former customer's too: its
    /// page keeps working).
    pub fn open_for(id: &str) -> Self {
        Self {
            state: StateFilter::Open,
            rules: Vec::new(),
            severities: Vec::new(),
            account_id: Some(id.to_owned()),
            acknowledged: None,
            scope: Scope { include_former: true, ..Scope::default() },
            sort: Sort { key: AlertSort::Age, desc: true },
            page: PageReq { page: 1, page_size: 100 },
        }
    }

    /// One account's alert history (open and resolved; never withdrawn), newest first.
    pub fn history_for(id: &str) -> Self {
        Self { state: StateFilter::All, sort: Sort { key: AlertSort::OpenedOn, desc: true }, ..Self::open_for(id) }
    }

    pub fn sort_label(&self) -> String {
        SortParam::<AlertSorts>::label(&self.sort)
    }

    fn filter(&self) -> AlertFilter {
        AlertFilter {
            state: self.state,
            rules: self.rules.clone(),
            severities: self.severities.clone(),
            account_id: self.account_id.clone(),
            acknowledged: self.acknowledged,
            scope: self.scope.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Acknowledgement {
    pub by: String,
    /// RFC 3339, UTC.
    pub at: String,
    pub note: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
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
    #[schema(schema_with = crate::openapi::any_json)]
    pub details: serde_json::Value,
    pub acknowledged: Option<Acknowledgement>,
    /// Why a resolved alert resolved when not by its rule: `churned`, the account
    /// became a former customer that day (SPEC v3 §8); null otherwise.
    #[schema(schema_with = crate::openapi::alert_reason)]
    pub reason: Option<TransitionReason>,
}

#[utoipa::path(
    operation_id = "alerts_list",
    get,
    path = "/api/v1/alerts",
    summary = "Alert feed; alerts of former customers only with include_former=true (SPEC v3 section 8; their open alerts resolved with reason churned)",
    params(AlertsQuery),
    responses((status = 200, description = "OK", body = Page<Alert>))
)]
pub async fn list(State(st): State<AppState>, Query(q): Query<AlertsQuery>) -> ApiResult<Json<Page<Alert>>> {
    Ok(Json(query_alerts(&st.db, &AlertsRequest::from_query(q, st.cfg.max_page_size)?).await?))
}

#[utoipa::path(
    operation_id = "alerts_for_account",
    get,
    path = "/api/v1/accounts/{id}/alerts",
    summary = "The account's alerts (all states unless `state` is given)",
    params(super::AccountPath, AccountAlertsQuery),
    responses((status = 200, description = "OK", body = Page<Alert>))
)]
pub async fn for_account(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<AccountAlertsQuery>,
) -> ApiResult<Json<Page<Alert>>> {
    // All states unless `state` is given.
    let state = q.state.map_or(StateFilter::All, |s| s.0);
    let feed = AlertsQuery {
        state: None,
        rule: q.rule,
        severity: q.severity,
        account_id: None,
        acknowledged: q.acknowledged,
        segment: None,
        csm: None,
        include_former: None,
        sort: q.sort,
        page: q.page,
        page_size: q.page_size,
    };
    let mut req = AlertsRequest::from_query(feed, st.cfg.max_page_size)?;
    req.account_id = Some(account_id(&id)?);
    req.state = state;
    // One account's alerts, a former customer's too (its history stays readable).
    req.scope.include_former = true;
    Ok(Json(query_alerts(&st.db, &req).await?))
}

pub async fn query_alerts(db: &Db, req: &AlertsRequest) -> ApiResult<Page<Alert>> {
    let reference = latest_day(db).await?.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let rows = read::list(&db.read, &req.filter(), reference, req.sort.key, paging(req.page, &req.sort)).await?;
    Ok(page_of(rows, req.page, req.sort_label(), alert))
}

fn alert(r: AlertItemRow) -> Alert {
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
        reason: if resolved { r.reason } else { None },
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertsSummary {
    pub as_of: Option<NaiveDate>,
    pub scope: Scope,
    pub open: u64,
    pub unacknowledged: u64,
    pub by_rule: Vec<RuleSummary>,
}

#[utoipa::path(
    operation_id = "alerts_summary",
    get,
    path = "/api/v1/alerts/summary",
    summary = "Open alerts by rule and age",
    params(super::ScopeQuery),
    responses((status = 200, description = "OK", body = AlertsSummary))
)]
pub async fn summary(State(st): State<AppState>, Query(q): Query<super::ScopeQuery>) -> ApiResult<Json<AlertsSummary>> {
    Ok(Json(query_summary(&st.db, &q.scope()).await?))
}

pub async fn query_summary(db: &Db, scope: &Scope) -> ApiResult<AlertsSummary> {
    let as_of = latest_day(db).await?;
    let mut req = AlertsRequest::open_for("");
    req.account_id = None;
    req.scope = scope.clone();
    let reference = as_of.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let by_rule = read::by_rule(&db.read, &req.filter(), reference).await?;
    let open = by_rule.iter().map(|r| r.open).sum();
    let acked: u64 = by_rule.iter().map(|r| r.acknowledged).sum();
    Ok(AlertsSummary { as_of, scope: scope.clone(), open, unacknowledged: open - acked, by_rule })
}

/// Body of `POST /api/v1/alerts/ack`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    #[schema(min_length = 1, max_length = 300, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    pub alert_id: String,
    /// Why; may be empty; no control characters but newlines.
    #[serde(default)]
    #[schema(max_length = 1000, pattern = r"^[^\u0000-\u0009\u000b-\u001f\u007f-\u009f]*$")]
    pub note: String,
    /// Who acknowledged (a person's name); default (absent, null or blank): the
    /// credential's name.
    #[serde(default)]
    #[schema(max_length = 128, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    pub by: Option<String>,
}

/// [`AckRequest`] through axum's `Json` extractor, its rejections as the API's errors: a
/// body that is not `application/json` is 415 (what keeps HTML forms of other sites from
/// posting with a browser's stored credentials), one that is not an `AckRequest` is 400
/// (`body: ...`); a body over the limit keeps axum's 413.
pub struct AckBody(pub AckRequest);

impl<S: Send + Sync> FromRequest<S> for AckBody {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        match Json::<AckRequest>::from_request(req, state).await {
            Ok(Json(body)) => Ok(AckBody(body)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::UnsupportedMediaType.into_response()),
            Err(JsonRejection::JsonDataError(e)) => Err(body_error(&e)),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(body_error(&e)),
            Err(other) => Err(other.into_response()),
        }
    }
}

/// `body: <what serde said>` (the rejection's source; its own text is axum's prose).
fn body_error(e: &dyn std::error::Error) -> Response {
    let detail = e.source().map_or_else(|| e.to_string(), ToString::to_string);
    ApiError::BadRequest(format!("body: {detail}")).into_response()
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AckResponse {
    pub alert_id: String,
    pub acknowledged: Acknowledgement,
    pub principal: String,
}

#[utoipa::path(
    operation_id = "alerts_ack",
    post,
    path = "/api/v1/alerts/ack",
    summary = "Acknowledge an alert (who, when, note); the newest acknowledgement wins",
    request_body = AckRequest,
    responses(
        (status = 200, description = "OK", body = AckResponse),
        (status = 404, description = "No such alert", body = crate::error::ErrorBody),
        (status = 415, description = "The body is not application/json", body = crate::error::ErrorBody),
    )
)]
pub async fn ack(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    AckBody(req): AckBody,
) -> ApiResult<Json<AckResponse>> {
    if req.alert_id.is_empty() {
        return Err(ApiError::bad("alert_id", "must not be empty"));
    }
    check_text("alert_id", &req.alert_id, 300)?;
    if req.note.chars().count() > 1000 || req.note.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::bad("note", "at most 1000 characters, no control characters but newlines"));
    }
    if let Some(b) = &req.by {
        check_text("by", b, 128)?;
    }
    let by = match req.by.as_deref().map(str::trim) {
        Some(b) if !b.is_empty() => b.to_owned(),
        _ => who.0.clone(),
    };
    // A withdrawn alert never held: there is nothing to acknowledge.
    let (account, rule) = read::find(&st.db.read, &req.alert_id)
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
    read::acknowledge(&st.db.write, &row).await?;
    st.metrics.acks.inc();
    tracing::info!(principal = %who.0, rule = %row.rule, "alert acknowledged");
    Ok(Json(AckResponse {
        alert_id: row.alert_id,
        acknowledged: Acknowledgement { by, at: rfc3339(row.acknowledged_at), note: row.note },
        principal: who.0,
    }))
}
