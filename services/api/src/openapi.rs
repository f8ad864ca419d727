//! The OpenAPI 3.1 document, served at `/api/openapi.json`, derived with utoipa from the
//! handlers' own types so it cannot drift from them: each operation from its handler's
//! `#[utoipa::path]`, its query parameters from the route's request struct (`IntoParams`;
//! each value type of `params` states below exactly what it accepts), every response
//! body from its type (`ToSchema`). What no derive can know is added here: the bounds
//! taken from the config ([`bounds`], the same numbers the handlers check), the error
//! responses every operation has, the security schemes, and the schemas of the core's
//! results, which are the topic schemas of `schemas/events/` (checked against the core's
//! serde output by the schema tests) and, for the forecast and backtest types, written
//! here. `scripts/contract-test` checks the whole against the running server.

use axum::{extract::State, Json};
use serde_json::{json, Map, Value};
use utoipa::{
    openapi::{schema::Schema, Ref, RefOr},
    OpenApi, PartialSchema, ToSchema,
};

use crate::{
    config::ApiConfig,
    params::{Choices, Count, Day, Int, List, One, SortParam, Text, MAX_TEXT},
    routes,
    state::AppState,
};

/// Text the API accepts: no control characters (`char::is_control`, Unicode Cc).
pub const NO_CONTROL: &str = r"^[^\u0000-\u001f\u007f-\u009f]*$";

/// A note: no control characters but newlines.
pub const NOTE: &str = r"^[^\u0000-\u0009\u000b-\u001f\u007f-\u009f]*$";

/// What `str::trim` removes (Unicode White_Space), as a regex class.
const WS: &str = r"[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";

/// Dates the API accepts: YYYY-MM-DD within ClickHouse's `Date` (1970-01-02..=2149-06-01).
const DATE_RANGE: &str = r"^(1970-01-(0[2-9]|[12][0-9]|3[01])|1970-(0[2-9]|1[0-2])-[0-9]{2}|(197[1-9]|19[89][0-9]|20[0-9]{2}|21[0-3][0-9]|214[0-8])-[0-9]{2}-[0-9]{2}|2149-0[1-5]-[0-9]{2}|2149-06-01)$";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Pulse API",
        description = "Customer health, graduation readiness and alerts, read from ClickHouse. \
            Lists are paginated (`page`, `page_size`) and sortable (`sort=key`, `sort=-key`). \
            Unknown or repeated query parameters are rejected with 400; an empty value counts as absent."
    ),
    paths(
        routes::portfolio::filters,
        routes::portfolio::summary,
        routes::portfolio::breakdown,
        routes::portfolio::trend,
        routes::portfolio::movers,
        routes::accounts::list,
        routes::accounts::detail,
        routes::accounts::history,
        routes::accounts::readiness,
        routes::alerts::for_account,
        routes::graduation::summary,
        routes::graduation::list,
        routes::alerts::list,
        routes::alerts::summary,
        routes::alerts::ack,
        routes::renewals::renewals,
        routes::accuracy::accuracy,
        routes::reconcile::last_run,
        routes::sources::sources,
    ),
    components(schemas(crate::error::ErrorBody))
)]
struct ApiDoc;

/// The upper bounds taken from the config, by parameter name: what the handlers check
/// ([`crate::params::Count::within`]) and what the document states.
pub fn bounds(cfg: &ApiConfig) -> [(&'static str, i64); 5] {
    let range = i64::from(cfg.max_range_days);
    [
        ("page_size", i64::from(cfg.max_page_size)),
        ("days", range),
        ("window", range),
        ("change_days", range),
        ("weeks", routes::portfolio::max_weeks(cfg.max_range_days)),
    ]
}

/// The whole document.
pub fn spec(cfg: &ApiConfig) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    doc["servers"] = json!([{"url": "/"}]);
    doc["security"] = json!([{"bearer": []}, {"basic": []}]);
    doc["components"]["securitySchemes"] = json!({
        "bearer": {"type": "http", "scheme": "bearer", "description": "A token from api.tokens"},
        "basic": {"type": "http", "scheme": "basic", "description": "User: the token's name; password: the token"},
    });
    if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
        schemas.extend(core_schemas());
    }
    let bounds = bounds(cfg);
    let error = |desc: &str| json!({"description": desc, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}});
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else { continue };
            for op in item.values_mut() {
                for p in op["parameters"].as_array_mut().into_iter().flatten() {
                    let name = p["name"].as_str().unwrap_or_default();
                    if let Some((_, max)) = bounds.iter().find(|(n, _)| *n == name) {
                        // `Count` is `anyOf [integer >= 1, ""]`: bound the integer.
                        p["schema"]["anyOf"][0]["maximum"] = json!(max);
                    }
                }
                if !op["parameters"].is_array() {
                    op["parameters"] = json!([]);
                }
                let responses = &mut op["responses"];
                responses["400"] = error("A parameter is invalid; the message names it");
                responses["401"] = error("Missing or wrong credentials");
                responses["503"] = error("ClickHouse unavailable or the request timed out");
                if path.contains("{id}") {
                    responses["404"] = error("No such account");
                }
            }
        }
    }
    doc
}

pub async fn document(State(st): State<AppState>) -> Json<Value> {
    Json(spec(&st.cfg))
}

// What each query value type accepts (`crate::params`), as JSON Schema. An empty value
// counts as absent, so every schema also admits "".

fn schema(v: Value) -> RefOr<Schema> {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| {
        tracing::error!(error = %e, schema = %v, "a parameter schema does not deserialize");
        RefOr::T(Schema::default())
    })
}

/// An empty value counts as absent (HTML forms submit unselected fields empty).
fn or_empty(v: Value) -> Value {
    json!({"anyOf": [v, {"type": "string", "maxLength": 0}]})
}

macro_rules! schema_impl {
    ($name:literal, [$($g:tt)*], $t:ty, $body:expr) => {
        impl<$($g)*> PartialSchema for $t {
            fn schema() -> RefOr<Schema> {
                schema($body)
            }
        }
        impl<$($g)*> ToSchema for $t {
            fn name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }
        }
    };
}

fn names<C: Choices>() -> Vec<&'static str> {
    C::ALL.iter().map(|(n, _)| *n).collect()
}

schema_impl!("Text", [], Text, json!({"type": "string", "maxLength": MAX_TEXT, "pattern": NO_CONTROL}));
schema_impl!("One", [C: Choices], One<C>, {
    let values: Vec<&str> = names::<C>().into_iter().chain([""]).collect();
    json!({"type": "string", "enum": values})
});
schema_impl!("List", [C: Choices], List<C>, {
    // Blanks around items and empty items are ignored.
    let item = format!("{WS}*(?:(?:{}){WS}*)?", names::<C>().join("|"));
    json!({"type": "string", "pattern": format!("^{item}(?:,{item})*$")})
});
schema_impl!("Int", [const MIN: i64, const MAX: i64], Int<MIN, MAX>, or_empty(
    json!({"type": "integer", "minimum": MIN, "maximum": MAX})
));
schema_impl!("Count", [], Count, or_empty(json!({"type": "integer", "minimum": 1})));
schema_impl!("Day", [], Day, or_empty(json!({"type": "string", "format": "date", "pattern": DATE_RANGE})));
schema_impl!("SortParam", [C: Choices], SortParam<C>, {
    let keys = names::<C>();
    let values: Vec<String> =
        keys.iter().map(|k| (*k).to_owned()).chain(keys.iter().map(|k| format!("-{k}"))).chain([String::new()]).collect();
    json!({"type": "string", "enum": values})
});

/// References to the core's result schemas added by [`core_schemas`].
pub fn health_result() -> Ref {
    Ref::from_schema_name("HealthResult")
}
pub fn usage_profile() -> Ref {
    Ref::from_schema_name("common.usage_profile")
}
pub fn graduation_report() -> Ref {
    Ref::from_schema_name("GraduationReport")
}

/// The topic schema `file` (JSON Schema with `$defs` and references into
/// `common.schema.json`) as components: the schema itself as `name`, its `$defs` as
/// `prefix.def`, references rewritten.
fn topic_schema(raw: &str, name: &str, prefix: &str, out: &mut Map<String, Value>) {
    let text = raw
        .replace("\"common.schema.json#/$defs/", "\"#/components/schemas/common.")
        .replace("\"#/$defs/", &format!("\"#/components/schemas/{prefix}."));
    let Ok(Value::Object(mut s)) = serde_json::from_str::<Value>(&text) else {
        tracing::error!(schema = name, "a topic schema does not parse");
        return;
    };
    for k in ["$schema", "$id"] {
        s.remove(k);
    }
    if let Some(Value::Object(defs)) = s.remove("$defs") {
        for (k, v) in defs {
            out.insert(format!("{prefix}.{k}"), v);
        }
    }
    if !name.is_empty() {
        out.insert(name.to_owned(), Value::Object(s));
    }
}

/// The core's results: the health and readiness results are the topic schemas (the
/// same serde output, kept equal to them by the schema tests); the forecast and
/// backtest lines (SPEC §8) are written here and checked against the server by the
/// contract test.
fn core_schemas() -> Map<String, Value> {
    let mut out = Map::new();
    topic_schema(include_str!("../../../schemas/events/common.schema.json"), "", "common", &mut out);
    topic_schema(include_str!("../../../schemas/events/health.schema.json"), "HealthResult", "health", &mut out);
    topic_schema(
        include_str!("../../../schemas/events/readiness.schema.json"),
        "ReadinessResult",
        "readiness",
        &mut out,
    );
    let num = json!({"type": "number"});
    let count = json!({"type": "integer", "minimum": 0});
    let rate = json!({"type": ["number", "null"]});
    let date = json!({"type": "string", "format": "date"});
    let color = json!({"$ref": "#/components/schemas/common.color"});
    let object = |props: Value, optional: &[&str]| {
        let required: Vec<&String> = props
            .as_object()
            .map(|p| p.keys().filter(|k| !optional.contains(&k.as_str())).collect())
            .unwrap_or_default();
        json!({"type": "object", "additionalProperties": false, "required": required, "properties": props})
    };
    let color_stats = object(json!({"outcomes": count, "lost": count, "lost_rate": rate}), &[]);
    let precision = object(json!({"precision": rate, "recall": rate}), &[]);
    out.insert(
        "ColorForecast".into(),
        object(json!({"color": color, "renewals": count, "arr_due": num, "expected_retained_arr": num}), &[]),
    );
    out.insert(
        "QuarterBackcast".into(),
        object(
            json!({"quarter": {"type": "string"}, "from": date, "to": date, "as_of": date, "renewals": count,
                   "arr_due": num, "forecast_retained_arr": num, "actual_retained_arr": num,
                   "actual_arr_after": num, "lost": count, "expected_lost": num}),
            &[],
        ),
    );
    out.insert(
        "HorizonReport".into(),
        object(
            json!({"kind": {"type": "string"}, "config": {"type": "string"}, "config_version": {"type": "string"},
                   "horizon_days": count, "outcomes": count, "lost": count,
                   "by_color": object(json!({"green": color_stats, "yellow": color_stats, "red": color_stats}), &[]),
                   "red": precision, "at_risk": precision, "auc": rate, "median_lead_days": rate}),
            &["config"],
        ),
    );
    out.insert(
        "GraduationReport".into(),
        object(
            json!({"kind": {"type": "string"}, "config": {"type": "string"},
                   "by_verdict": object(json!({"ready": color_stats, "close": color_stats, "not_ready": color_stats}), &[])}),
            &["config"],
        ),
    );
    // `DueForecast` flattened with the account's name (`routes::renewals::RenewalAccount`).
    out.insert(
        "DueForecast".into(),
        json!({"type": "object", "required": ["account_id", "renewal_on", "arr", "color", "score", "days_left",
                                               "horizon_days", "p_lost", "expected_retained_arr"],
               "properties": {"account_id": {"type": "string"}, "renewal_on": date, "arr": num, "color": color,
                              "score": num, "days_left": {"type": "integer"}, "horizon_days": count,
                              "p_lost": num, "expected_retained_arr": num}}),
    );
    out
}

// Fields of the core's types (`#[schema(schema_with = ...)]`).

pub fn readiness_or_null() -> RefOr<Schema> {
    schema(json!({"oneOf": [{"$ref": "#/components/schemas/ReadinessResult"}, {"type": "null"}]}))
}
pub fn blockers() -> RefOr<Schema> {
    schema(json!({"type": "array", "items": {"$ref": "#/components/schemas/readiness.blocker"}}))
}
pub fn color_forecasts() -> RefOr<Schema> {
    schema(json!({"type": "array", "items": {"$ref": "#/components/schemas/ColorForecast"}}))
}
pub fn quarter_backcasts() -> RefOr<Schema> {
    schema(json!({"type": "array", "items": {"$ref": "#/components/schemas/QuarterBackcast"}}))
}
pub fn horizon_reports() -> RefOr<Schema> {
    schema(json!({"type": "array", "items": {"$ref": "#/components/schemas/HorizonReport"}}))
}
/// `[share name, percent]` pairs.
pub fn usage_pairs() -> RefOr<Schema> {
    schema(json!({"type": "array", "items": {"type": "array", "prefixItems": [
        {"type": "string", "enum": ["dau_pct", "wau_pct", "mau_pct"]}, {"type": "number"}], "minItems": 2, "maxItems": 2}}))
}
/// SPEC v3 §10's data status of a result (the health topic's).
pub fn data_status() -> RefOr<Schema> {
    schema(json!({"$ref": "#/components/schemas/health.data_status"}))
}
/// A health color (the topics').
pub fn color() -> RefOr<Schema> {
    schema(json!({"$ref": "#/components/schemas/common.color"}))
}
/// A health color, or null.
pub fn color_or_null() -> RefOr<Schema> {
    schema(json!({"oneOf": [{"$ref": "#/components/schemas/common.color"}, {"type": "null"}]}))
}
/// Why an alert resolved other than by its rule (SPEC v3 §8), or null.
pub fn alert_reason() -> RefOr<Schema> {
    schema(json!({"oneOf": [{"type": "string", "enum": ["churned"]}, {"type": "null"}]}))
}
/// The alert's details as the scorer stored them (null if unreadable).
pub fn any_json() -> RefOr<Schema> {
    // Any value: no `type` (a JSON `{}` with only a description does not deserialize
    // into utoipa's schema, so it is built).
    RefOr::T(Schema::Object(
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::SchemaType::AnyValue)
            .description(Some("The rule's details, as the scorer stored them; null if unreadable."))
            .build(),
    ))
}

schema_impl!(
    "ReadinessResponse",
    [],
    routes::accounts::ReadinessResponse,
    json!({"$ref": "#/components/schemas/ReadinessResult"})
);

/// The core's `DueForecast` (flattened) and the account behind it.
impl PartialSchema for routes::renewals::RenewalAccount {
    fn schema() -> RefOr<Schema> {
        schema(json!({"allOf": [{"$ref": "#/components/schemas/DueForecast"}, {
            "type": "object", "required": ["name", "segment", "csm", "arr_unknown"],
            "properties": {"name": {"type": "string"}, "segment": {"type": "string"}, "csm": {"type": "string"},
                           "arr_unknown": {"type": "boolean", "description": "The account's ARR is not known (counted as 0)."}}}]}))
    }
}
impl ToSchema for routes::renewals::RenewalAccount {}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        spec(&ApiConfig { max_page_size: 77, max_range_days: 140, ..ApiConfig::default() })
    }

    /// Every operation answers JSON with a described body: a named schema, never a bare
    /// `object`; every error response is the error body.
    #[test]
    fn every_response_body_is_described() {
        let doc = doc();
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        let mut ops = 0;
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("item") {
                ops += 1;
                let ok = &op["responses"]["200"]["content"]["application/json"]["schema"];
                let name = ok["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/schemas/"));
                assert!(name.is_some_and(|n| schemas.contains_key(n)), "{method} {path}: {ok}");
                for status in ["400", "401", "503"] {
                    let e = &op["responses"][status]["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(e, "#/components/schemas/ErrorBody", "{method} {path} {status}");
                }
                assert!(op["parameters"].is_array(), "{method} {path}");
            }
        }
        assert_eq!(ops, 19);
        // Types of one name in two crates would share one component (the contract test
        // caught the portfolio's and reconcile's `Summary`).
        assert!(schemas["Summary"]["properties"]["colors"].is_object(), "{}", schemas["Summary"]);
        assert!(schemas["ReconcileSummary"]["properties"]["rows_compared"].is_object());
        // Every reference resolves.
        let text = doc.to_string();
        for r in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = r.split('"').next().unwrap_or_default();
            assert!(schemas.contains_key(name), "unresolved reference {name}");
        }
    }

    /// Every hand-written schema is one (`schema` falls back to an empty one, logged).
    #[test]
    fn hand_written_schemas_deserialize() {
        let fallback = serde_json::to_value(RefOr::T(Schema::default())).expect("json");
        for (name, s) in [
            ("readiness_or_null", readiness_or_null()),
            ("blockers", blockers()),
            ("color_forecasts", color_forecasts()),
            ("quarter_backcasts", quarter_backcasts()),
            ("horizon_reports", horizon_reports()),
            ("usage_pairs", usage_pairs()),
            ("data_status", data_status()),
            ("color", color()),
            ("color_or_null", color_or_null()),
            ("alert_reason", alert_reason()),
        ] {
            assert_ne!(serde_json::to_value(s).expect("json"), fallback, "{name}");
        }
        let any = serde_json::to_value(any_json()).expect("json");
        assert!(any.get("type").is_none() && any["description"].is_string(), "{any}");
    }

    /// The configured bounds are the ones the document states.
    #[test]
    fn bounds_come_from_the_config() {
        let doc = doc();
        let max = |path: &str, name: &str| {
            let params = doc["paths"][path]["get"]["parameters"].as_array().expect("parameters");
            let p = params.iter().find(|p| p["name"] == name).expect(name);
            p["schema"]["anyOf"][0]["maximum"].clone()
        };
        assert_eq!(max("/api/v1/accounts", "page_size"), 77);
        assert_eq!(max("/api/v1/accounts", "change_days"), 140);
        assert_eq!(max("/api/v1/accounts/{id}/history", "days"), 140);
        assert_eq!(max("/api/v1/portfolio/movers", "window"), 140);
        assert_eq!(max("/api/v1/portfolio/trend", "weeks"), 20);
        assert_eq!(max("/api/v1/renewals", "quarters"), 8);
        // A day is the strict pattern or empty (a type named `Date` was taken by utoipa
        // for chrono's and documented as any `format: date`; the contract test caught it).
        let to = &doc["paths"]["/api/v1/portfolio/trend"]["get"]["parameters"][1]["schema"];
        assert_eq!(to["anyOf"][0]["pattern"], DATE_RANGE, "{to}");
    }

    /// The query parameters documented are exactly the fields of the request structs.
    #[test]
    fn parameters_are_the_request_fields() {
        let doc = doc();
        let names = |path: &str| -> Vec<String> {
            doc["paths"][path]["get"]["parameters"]
                .as_array()
                .expect("parameters")
                .iter()
                .filter(|p| p["in"] == "query")
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect()
        };
        assert_eq!(names("/api/v1/accounts"), crate::params::fields::<routes::accounts::ListQuery>());
        assert_eq!(names("/api/v1/alerts"), crate::params::fields::<routes::alerts::AlertsQuery>());
        assert_eq!(names("/api/v1/filters"), Vec::<String>::new());
    }
}
