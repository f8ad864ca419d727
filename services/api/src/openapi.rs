//! The OpenAPI 3.1 document, served at `/api/openapi.json`. Built from one table of
//! operations (path, summary, parameters) so a test can check that every route is
//! documented and every documented path is routed.

use axum::{extract::State, Json};
use serde_json::{json, Value};

use crate::{config::ApiConfig, service::AppState};

/// A note: no control characters but newlines.
const NOTE: &str = r"^[^\u0000-\u0009\u000b-\u001f\u007f-\u009f]*$";

/// `(method, path, summary, query parameters)`. Parameter names refer to [`param`].
pub const OPERATIONS: &[(&str, &str, &str, &[&str])] = &[
    ("get", "/api/v1/filters", "Values the filters accept (segments and CSMs found in the data, stages, colors, verdicts, red flags, rules)", &[]),
    ("get", "/api/v1/portfolio", "Accounts by color now, ARR total and ARR at risk (red and yellow)", &["segment", "csm"]),
    ("get", "/api/v1/portfolio/breakdown", "Accounts by color and ARR at risk per segment or CSM", &["by", "segment", "csm", "sort_breakdown", "page", "page_size"]),
    ("get", "/api/v1/portfolio/trend", "Accounts by color on the last day of each week", &["weeks", "to", "segment", "csm"]),
    ("get", "/api/v1/portfolio/movers", "Biggest score changes over a window (7 or 30 days, or any up to api.max_range_days)", &["window", "direction", "segment", "csm", "sort_movers", "page", "page_size"]),
    ("get", "/api/v1/accounts", "Accounts, filtered and sorted", &["color", "segment", "csm", "stage", "verdict", "red_flag", "q", "change_days", "sort_accounts", "page", "page_size"]),
    ("get", "/api/v1/accounts/{id}", "One account: attributes, current health (metrics, measures, reasons, red flags), readiness, scores 7 and 30 days ago, open alerts", &[]),
    ("get", "/api/v1/accounts/{id}/history", "Daily score, color and active-user counts and shares, with the chart thresholds", &["days", "from", "to"]),
    ("get", "/api/v1/accounts/{id}/readiness", "The readiness scorecard: each dimension with its source (computed, assessment with author, evidence), blockers with what clears them", &[]),
    ("get", "/api/v1/accounts/{id}/alerts", "The account's alerts (all states unless `state` is given)", &["state", "rule", "severity", "acknowledged", "sort_alerts", "page", "page_size"]),
    ("get", "/api/v1/graduation", "Graduation pipeline: onboarding accounts by verdict, overdue and recovery-plan counts, nearest to ready", &["segment", "csm"]),
    ("get", "/api/v1/graduation/accounts", "Onboarding accounts with verdict, days in stage, flags and blockers", &["verdict", "overdue", "recovery_plan_needed", "segment", "csm", "q", "sort_graduation", "page", "page_size"]),
    ("get", "/api/v1/alerts", "Alert feed", &["state", "rule", "severity", "account_id", "acknowledged", "segment", "csm", "sort_alerts", "page", "page_size"]),
    ("get", "/api/v1/alerts/summary", "Open alerts by rule and age", &["segment", "csm"]),
    ("get", "/api/v1/renewals", "Renewal forecast (SPEC section 8): renewals due in the next 90 and 180 days with color, score, smoothed probability of loss and expected retained ARR per account; the calibration table (loss rates by color and horizon over the renewals of the trailing 365 days); the same method back-cast as of the start of each past quarter against what happened", &["segment_scope", "csm_scope", "quarters"]),
    ("get", "/api/v1/accuracy", "Scorecard accuracy (SPEC section 8): the backtest of the stored daily results over the renewals of the trailing 365 days, per horizon (30, 60, 90 days): by color, precision and recall, AUC, median lead days; the graduation backtest; outcomes lost while green and red outcomes that renewed", &["segment_scope", "csm_scope"]),
    ("post", "/api/v1/alerts/ack", "Acknowledge an alert (who, when, note); the newest acknowledgement wins", &[]),
];

/// Text the API accepts: no control characters (`char::is_control`, Unicode Cc).
const NO_CONTROL: &str = r"^[^\u0000-\u001f\u007f-\u009f]*$";

/// What `str::trim` removes (Unicode White_Space), as a regex class.
const WS: &str = r"[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";

/// Dates the API accepts: YYYY-MM-DD within ClickHouse's `Date` (1970-01-02..=2149-06-01).
const DATE_RANGE: &str = r"^(1970-01-(0[2-9]|[12][0-9]|3[01])|1970-(0[2-9]|1[0-2])-[0-9]{2}|(197[1-9]|19[89][0-9]|20[0-9]{2}|21[0-3][0-9]|214[0-8])-[0-9]{2}-[0-9]{2}|2149-0[1-5]-[0-9]{2}|2149-06-01)$";

/// An empty value counts as absent (HTML forms submit unselected fields empty).
fn or_empty(schema: Value) -> Value {
    json!({"anyOf": [schema, {"type": "string", "maxLength": 0}]})
}

fn enum_param(name: &str, desc: &str, values: &[&str]) -> Value {
    let values: Vec<&str> = values.iter().copied().chain([""]).collect();
    json!({"name": name, "in": "query", "required": false, "description": desc,
           "schema": {"type": "string", "enum": values}})
}

/// A comma-separated list of choices: blanks around items and empty items are ignored.
fn list_param(name: &str, desc: &str, values: &[&str]) -> Value {
    let item = format!("{WS}*(?:(?:{}){WS}*)?", values.join("|"));
    json!({"name": name, "in": "query", "required": false,
           "description": format!("{desc} Comma-separated list of: {}.", values.join(", ")),
           "schema": {"type": "string", "pattern": format!("^{item}(?:,{item})*$")}})
}

fn text_param(name: &str, desc: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": desc,
           "schema": {"type": "string", "maxLength": 128, "pattern": NO_CONTROL}})
}

fn int_param(name: &str, desc: &str, min: i64, max: i64) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": desc,
           "schema": or_empty(json!({"type": "integer", "minimum": min, "maximum": max}))})
}

fn sort_param(keys: &[&str], default: &str) -> Value {
    let values: Vec<String> = keys
        .iter()
        .map(|k| (*k).to_owned())
        .chain(keys.iter().map(|k| format!("-{k}")))
        .chain([String::new()])
        .collect();
    json!({"name": "sort", "in": "query", "required": false,
           "description": format!("Sort key, `-` prefix for descending. Keys: {}. Default `{default}`.", keys.join(", ")),
           "schema": {"type": "string", "enum": values}})
}

fn date_param(name: &str, desc: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": desc,
           "schema": or_empty(json!({"type": "string", "format": "date", "pattern": DATE_RANGE}))})
}

fn bool_param(name: &str, desc: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": format!("{desc} `true` or `false` (`1`, `0`)."),
           "schema": {"type": "string", "enum": ["true", "false", "1", "0", ""]}})
}

/// The definition of a named query parameter; bounds from the configuration.
pub fn param(name: &str, cfg: &ApiConfig) -> Value {
    let range = i64::from(cfg.max_range_days);
    match name {
        "segment" => text_param("segment", "Only accounts of this segment."),
        "csm" => text_param("csm", "Only accounts of this CSM."),
        "segment_scope" => text_param(
            "segment",
            "Only accounts of this segment (their segment now): the rates, the forecast and the back-cast are all computed over them.",
        ),
        "csm_scope" => text_param(
            "csm",
            "Only accounts of this CSM (their CSM now): the rates, the forecast and the back-cast are all computed over them.",
        ),
        "quarters" => int_param("quarters", "Past calendar quarters back-cast (default 4).", 1, 8),
        "q" => text_param("q", "Case-insensitive search in account name and id."),
        "account_id" => text_param("account_id", "Only this account's alerts."),
        "by" => enum_param("by", "Group by segment (default) or CSM.", &["segment", "csm"]),
        "page" => int_param("page", "Page number, from 1.", 1, 100_000),
        "page_size" => int_param(
            "page_size",
            "Items per page (default 50, at most api.max_page_size).",
            1,
            i64::from(cfg.max_page_size),
        ),
        "weeks" => int_param("weeks", "Weeks back (default 12; at most api.max_range_days / 7).", 1, (range / 7).max(1)),
        "to" => date_param("to", "Last day (default: the newest day with results)."),
        "from" => date_param("from", "First day (instead of `days`)."),
        "days" => int_param("days", "Days of history ending at `to` (default 90; at most api.max_range_days).", 1, range),
        "window" => int_param("window", "Days between the two scores compared (default 7).", 1, range),
        "change_days" => int_param("change_days", "Days back for the `change` column (default 7).", 1, range),
        "direction" => enum_param("direction", "Drops (default), rises, or either.", &["down", "up", "any"]),
        "color" => list_param("color", "Health colors.", &["green", "yellow", "red"]),
        "stage" => list_param("stage", "Lifecycle stages.", &["onboarding", "adoption", "expansion", "renewal"]),
        "verdict" => list_param("verdict", "Graduation verdicts.", &["ready", "close", "not_ready"]),
        "red_flag" => enum_param(
            "red_flag",
            "Only accounts with this red flag.",
            &["low_engagement", "usage_declining", "seats_unknown", "critical_tickets_open", "champion_left"],
        ),
        "rule" => list_param(
            "rule",
            "Alert rules.",
            &["usage_declining", "low_engagement", "health_dropped", "graduation_overdue", "recovery_plan_needed"],
        ),
        "severity" => list_param("severity", "Alert severities.", &["info", "warning", "critical"]),
        "state" => enum_param("state", "Open (default for the feed), resolved or all.", &["open", "resolved", "all"]),
        "acknowledged" => bool_param("acknowledged", "Only acknowledged (true) or unacknowledged (false) alerts."),
        "overdue" => bool_param("overdue", "Past the target graduation date and not ready."),
        "recovery_plan_needed" => bool_param("recovery_plan_needed", "Overdue by 30 days or more."),
        "sort_breakdown" => sort_param(&["key", "accounts", "red", "arr_at_risk", "arr", "avg_score"], "-arr_at_risk"),
        "sort_movers" => sort_param(
            &["change", "abs_change", "score", "arr", "name"],
            "change for down, -change for up, -abs_change for any",
        ),
        "sort_accounts" => sort_param(&["score", "change", "arr", "renewal", "name"], "score"),
        "sort_graduation" => sort_param(&["nearest", "total", "days_in_stage", "blockers", "name"], "nearest"),
        "sort_alerts" => sort_param(&["age", "opened_on", "rule", "severity", "account"], "-age"),
        other => text_param(other, ""),
    }
}

fn error_response(desc: &str) -> Value {
    json!({"description": desc, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

/// The whole document.
pub fn spec(cfg: &ApiConfig) -> Value {
    let mut paths = serde_json::Map::new();
    for (method, path, summary, params) in OPERATIONS {
        let mut parameters: Vec<Value> = params.iter().map(|p| param(p, cfg)).collect();
        if path.contains("{id}") {
            parameters.insert(
                0,
                json!({"name": "id", "in": "path", "required": true, "description": "Account id (URL-encoded).",
                       "schema": {"type": "string", "maxLength": 128, "pattern": NO_CONTROL}}),
            );
        }
        let mut op = json!({
            "summary": summary,
            "parameters": parameters,
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}},
                "400": error_response("A parameter is invalid; the message names it"),
                "401": error_response("Missing or wrong credentials"),
                "503": error_response("ClickHouse unavailable or the request timed out"),
            }
        });
        if path.contains("{id}") {
            op["responses"]["404"] = error_response("No such account");
        }
        if path.ends_with("/history") {
            op["description"] = json!(
                "`days` and `from` exclude each other, `from` must not be after `to`, and the range is at most \
                 api.max_range_days days; otherwise 400."
            );
        }
        if *method == "post" {
            op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AckRequest"}}}});
            op["responses"]["404"] = error_response("No such alert");
            op["responses"]["415"] = error_response("The body is not application/json");
        }
        let entry = paths.entry((*path).to_owned()).or_insert_with(|| json!({}));
        entry[*method] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Pulse API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Customer health, graduation readiness and alerts, read from ClickHouse. \
                Lists are paginated (`page`, `page_size`) and sortable (`sort=key`, `sort=-key`). \
                Unknown or repeated query parameters are rejected with 400; an empty value counts as absent.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"basic": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "A token from api.tokens"},
                "basic": {"type": "http", "scheme": "basic", "description": "User: the token's name; password: the token"},
            },
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
                "AckRequest": {"type": "object", "required": ["alert_id"], "additionalProperties": false, "properties": {
                    "alert_id": {"type": "string", "minLength": 1, "maxLength": 300, "pattern": NO_CONTROL},
                    "note": {"type": "string", "maxLength": 1000, "pattern": NOTE,
                             "description": "Why; may be empty; no control characters but newlines"},
                    "by": {"type": ["string", "null"], "maxLength": 128, "pattern": NO_CONTROL,
                           "description": "Who acknowledged; default (absent, null or blank): the credential's name"}}},
            },
        },
    })
}

pub async fn document(State(st): State<AppState>) -> Json<Value> {
    Json(spec(&st.cfg))
}
