//! The JSON Schemas in `schemas/events/` agree with the Rust code, without any service.
//!
//! - Every schema is draft 2020-12, has the `$id` its file name implies, and compiles
//!   (format validation on, cross-file `$ref`s resolved in memory).
//! - Every example in `schemas/examples/<schema>/{valid,invalid}/` validates or fails
//!   as labelled, and every schema has examples of both kinds.
//! - The schemas agree with the parser: each valid input example is accepted by
//!   `pulse_core::parse_event` and its normalized JSON validates against
//!   `normalized.schema.json`; each invalid one is rejected with the reason its file
//!   name starts with (`<reason>--<what>.json`). The two rules JSON Schema cannot
//!   express are pinned in [`parser_only_rules`].
//! - Real outputs validate: dead letters made by ingest's own per-message decision,
//!   and the health, readiness and alert results of the demo data set run through the
//!   engine day by day; output examples round-trip through the Rust types.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

use chrono::{DateTime, NaiveDate, Utc};
use jsonschema::{Draft, Resource, Validator};
use pulse_core::{
    alerts::AlertTransition, parse_event, AlertTracker, Engine, Event, HealthResult, InvalidReason, ReadinessResult,
    ScoringConfig,
};
use pulse_ingest::{
    batch::{process, Processed},
    dlq::{self, DeadLetter},
    rows::Source,
};
use serde_json::Value;

const ID_BASE: &str = "https://pulse.invalid/schemas/events/";
/// Example folders whose files are raw input messages, checked against the parser.
const INPUT_SCHEMAS: &[&str] = &[
    "input",
    "usage",
    "track",
    "account",
    "assessment",
    "milestone",
    "training",
    "kpi",
    "stakeholder",
    "ticket",
    "renewal",
];

fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas")
}

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every schema file by name (`usage` for `usage.schema.json`).
fn schema_files() -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for entry in fs::read_dir(schemas_dir().join("events")).expect("schemas/events exists") {
        let path = entry.expect("dir entry").path();
        let file = path.file_name().and_then(|f| f.to_str()).unwrap_or_default().to_owned();
        if let Some(name) = file.strip_suffix(".schema.json") {
            out.insert(name.to_owned(), read_json(&path));
        }
    }
    assert!(out.len() >= 15, "expected every event, envelope and output schema, found {:?}", out.keys());
    out
}

/// Compiled validators by schema name; the other files are registered by `$id` so
/// relative `$ref`s resolve without network or file access.
struct Schemas {
    validators: BTreeMap<String, Validator>,
}

impl Schemas {
    fn load() -> Self {
        let files = schema_files();
        let mut validators = BTreeMap::new();
        for (name, schema) in &files {
            let mut opts = jsonschema::options().with_draft(Draft::Draft202012).should_validate_formats(true);
            for (other, doc) in &files {
                let resource = Resource::from_contents(doc.clone()).expect("resource");
                opts = opts.with_resource(format!("{ID_BASE}{other}.schema.json"), resource);
            }
            let v = opts.build(schema).unwrap_or_else(|e| panic!("{name}.schema.json does not compile: {e}"));
            validators.insert(name.clone(), v);
        }
        Schemas { validators }
    }

    fn get(&self, name: &str) -> &Validator {
        self.validators.get(name).unwrap_or_else(|| panic!("no schema {name}.schema.json"))
    }

    /// `Ok` or every error with its location.
    fn check(&self, name: &str, instance: &Value) -> Result<(), String> {
        let errors: Vec<String> =
            self.get(name).iter_errors(instance).map(|e| format!("{} at `{}`", e, e.instance_path)).collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

struct Example {
    schema: String,
    valid: bool,
    name: String,
    bytes: Vec<u8>,
}

impl Example {
    /// The JSON, or `None` for the deliberately unparseable examples.
    fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.bytes).ok()
    }
    fn label(&self) -> String {
        format!("{}/{}/{}", self.schema, if self.valid { "valid" } else { "invalid" }, self.name)
    }
}

fn examples() -> Vec<Example> {
    let root = schemas_dir().join("examples");
    let mut out = Vec::new();
    for schema in fs::read_dir(&root).expect("schemas/examples exists") {
        let schema = schema.expect("dir entry").path();
        let schema_name = schema.file_name().and_then(|f| f.to_str()).expect("utf-8 name").to_owned();
        for (label, valid) in [("valid", true), ("invalid", false)] {
            let Ok(files) = fs::read_dir(schema.join(label)) else {
                continue;
            };
            for f in files {
                let path = f.expect("dir entry").path();
                let name = path.file_stem().and_then(|f| f.to_str()).expect("utf-8 name").to_owned();
                let bytes = fs::read(&path).expect("readable example");
                out.push(Example { schema: schema_name.clone(), valid, name, bytes });
            }
        }
    }
    out.sort_by_key(Example::label);
    out
}

#[test]
fn every_schema_is_2020_12_with_its_id_and_compiles() {
    for (name, schema) in schema_files() {
        assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema", "{name}");
        assert_eq!(schema["$id"], format!("{ID_BASE}{name}.schema.json"), "{name}: $id must match the file name");
        assert!(schema["description"].as_str().is_some_and(|d| !d.is_empty()), "{name}: describe it");
    }
    let schemas = Schemas::load();
    assert!(schemas.validators.contains_key("common"));
}

#[test]
fn examples_validate_as_labelled() {
    let schemas = Schemas::load();
    let mut failures = Vec::new();
    let mut seen: BTreeSet<(String, bool)> = BTreeSet::new();
    for ex in examples() {
        seen.insert((ex.schema.clone(), ex.valid));
        // Type examples must also pass (or fail) the topic-level dispatch schema.
        let mut names = vec![ex.schema.as_str()];
        if INPUT_SCHEMAS.contains(&ex.schema.as_str()) && ex.schema != "input" {
            names.push("input");
        }
        for name in names {
            let result = match ex.json() {
                Some(v) => schemas.check(name, &v),
                None => Err("not JSON".to_owned()),
            };
            match (ex.valid, result) {
                (true, Err(e)) => failures.push(format!("{} should pass {name}.schema.json: {e}", ex.label())),
                (false, Ok(())) => failures.push(format!("{} should fail {name}.schema.json", ex.label())),
                _ => {}
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for name in schema_files().keys().filter(|n| *n != "common") {
        for valid in [true, false] {
            if name == "input" && valid {
                continue; // its valid examples are those of the nine types
            }
            assert!(
                seen.contains(&(name.clone(), valid)),
                "no {} example for {name}",
                if valid { "valid" } else { "invalid" }
            );
        }
    }
}

/// The reason an invalid input example is named after: `missing_field--user_id`.
fn expected_reason(ex: &Example) -> &str {
    ex.name.split("--").next().unwrap_or_default()
}

#[test]
fn parser_agrees_with_input_examples() {
    let schemas = Schemas::load();
    let reasons: BTreeSet<&str> = InvalidReason::ALL.iter().map(InvalidReason::as_str).collect();
    let mut failures = Vec::new();
    let mut checked = 0;
    for ex in examples().iter().filter(|e| INPUT_SCHEMAS.contains(&e.schema.as_str())) {
        checked += 1;
        match (ex.valid, parse_event(&ex.bytes)) {
            (true, Ok(event)) => {
                let want = if ex.schema == "track" { "usage" } else { ex.schema.as_str() };
                if event.type_name() != want {
                    failures.push(format!("{}: parsed as {}", ex.label(), event.type_name()));
                }
                let normalized = serde_json::to_value(&event).expect("serializes");
                if let Err(e) = schemas.check("normalized", &normalized) {
                    failures.push(format!("{}: normalized {normalized} fails normalized.schema.json: {e}", ex.label()));
                }
            }
            (true, Err(e)) => failures.push(format!("{}: schema-valid but the parser rejects it: {e}", ex.label())),
            (false, Ok(_)) => failures.push(format!("{}: schema-invalid but the parser accepts it", ex.label())),
            (false, Err(e)) => {
                let want = expected_reason(ex);
                assert!(reasons.contains(want), "{}: file name must start with a reason code", ex.label());
                if e.reason.as_str() != want {
                    failures.push(format!("{}: rejected as {} ({}), expected {want}", ex.label(), e.reason, e.detail));
                }
            }
        }
    }
    assert!(checked >= 60, "only {checked} input examples");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What JSON Schema cannot say: the schemas accept these, the parser rejects them.
/// Documented in schemas/README.md; if a schema ever learns to reject one, move it to
/// the examples.
#[test]
fn parser_only_rules() {
    let schemas = Schemas::load();
    let cases = [
        (
            r#"{"type":"kpi","event_id":"k-1","account_id":"acme","timestamp":"2026-11-02T10:15:00Z","kpi":"x","baseline":5,"target":5,"value":5}"#,
            InvalidReason::InvalidValue,
        ),
        (
            r#"{"type":"usage","event_id":"e-1","account_id":"acme","account_id":"other","user_id":"u","event":"x","timestamp":"2026-11-02T10:15:00Z"}"#,
            InvalidReason::InvalidValue,
        ),
        // The pattern bounds the date as written; the offset moves the UTC date out of
        // 1970-01-01..=2149-06-06 (SPEC v3 §1).
        (
            r#"{"type":"usage","event_id":"e-1","account_id":"acme","user_id":"u","event":"x","timestamp":"1970-01-01T00:30:00+01:00"}"#,
            InvalidReason::OutOfRange,
        ),
        (
            r#"{"type":"usage","event_id":"e-1","account_id":"acme","user_id":"u","event":"x","timestamp":"2149-06-06T23:30:00-01:00"}"#,
            InvalidReason::OutOfRange,
        ),
    ];
    for (input, reason) in cases {
        let v: Value = serde_json::from_str(input).expect("JSON");
        assert_eq!(schemas.check("input", &v), Ok(()), "{input}");
        assert_eq!(parse_event(input.as_bytes()).map_err(|e| e.reason), Err(reason), "{input}");
    }
}

/// RFC 3339 allows a space for the `T`; the schemas' timestamp pattern does not, and
/// neither does the parser any more (the structured fuzz test found the gap): both
/// reject it, with the parser's reason `bad_timestamp`.
#[test]
fn schema_and_parser_reject_a_space_separated_timestamp() {
    let schemas = Schemas::load();
    let input = r#"{"type":"usage","event_id":"e-1","account_id":"acme","user_id":"u","event":"x","timestamp":"2026-11-02 10:15:00Z"}"#;
    let v: Value = serde_json::from_str(input).expect("JSON");
    assert!(schemas.check("usage", &v).is_err());
    assert_eq!(parse_event(input.as_bytes()).map_err(|e| e.reason), Err(InvalidReason::BadTimestamp));
}

#[test]
fn normalized_examples_round_trip_through_event() {
    for ex in examples().iter().filter(|e| e.schema == "normalized" && e.valid) {
        let json = ex.json().expect("JSON");
        let event: Event = serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("{}: {e}", ex.label()));
        assert_eq!(serde_json::to_value(&event).expect("serializes"), json, "{}", ex.label());
    }
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-02T12:00:00Z").expect("valid").with_timezone(&Utc)
}

#[test]
fn real_dead_letters_validate() {
    let schemas = Schemas::load();
    // The schema's reason codes are exactly the envelope's (every producer's), and those
    // include every parser reason.
    let schema = &schema_files()["dead-letter"];
    let listed: BTreeSet<&str> =
        schema["properties"]["reason"]["enum"].as_array().expect("enum").iter().filter_map(Value::as_str).collect();
    let codes: BTreeSet<&str> = dlq::Reason::ALL.iter().map(dlq::Reason::as_str).collect();
    assert_eq!(listed, codes);
    assert!(InvalidReason::ALL.iter().all(|r| listed.contains(r.as_str())));

    let src = Source { topic: "pulse.usage", partition: 2, offset: 41 };
    let mut payloads: Vec<Vec<u8>> = examples()
        .into_iter()
        .filter(|e| INPUT_SCHEMAS.contains(&e.schema.as_str()) && !e.valid)
        .map(|e| e.bytes)
        .collect();
    payloads.push(vec![0xff, 0xfe, 0x00, 0x41]); // not UTF-8: stored as base64
    payloads.push(br#"{"type":"usage","event_id":"e","account_id":"a","user_id":"u","event":"x","timestamp":"2030-01-01T00:00:00Z"}"#.to_vec());
    payloads.push(br#"{"type":"usage","event_id":"e","account_id":"a","user_id":"u","event":"x","timestamp":"1899-12-31T23:59:59Z"}"#.to_vec());
    payloads.push(vec![b' '; 5000]); // over max_message_bytes
    payloads.push(vec![0x01; 3000]); // control characters: a truncated original
    let mut reasons = BTreeSet::new();
    for payload in payloads {
        let limits = pulse_ingest::batch::Limits {
            max_message_bytes: 4096,
            max_skew: chrono::Duration::days(1),
            max_original: 1024,
            max_forward: Some(1 << 20),
        };
        let Processed::Invalid(dead) = process(&payload, Some(b"acme"), &src, now(), &limits) else {
            panic!("accepted: {}", String::from_utf8_lossy(&payload));
        };
        let json = serde_json::to_value(&dead).expect("serializes");
        schemas.check("dead-letter", &json).unwrap_or_else(|e| panic!("{json}: {e}"));
        reasons.insert(dead.reason.as_str());
    }
    // A row ClickHouse refused (built by ingest's isolation path the same way).
    let refused = pulse_ingest::dlq::DeadLetter::new(
        dlq::Reason::StorageRejected,
        "ClickHouse refused the row for usage_events: Code: 469 (VIOLATED_CONSTRAINT)".into(),
        dlq::origin(&src),
        Some(b"acme"),
        br#"{"type":"usage"}"#,
        now(),
        dlq::DEFAULT_MAX_ORIGINAL_BYTES,
    );
    let json = serde_json::to_value(&refused).expect("serializes");
    schemas.check("dead-letter", &json).unwrap_or_else(|e| panic!("{json}: {e}"));
    for r in ["future_timestamp", "oversize_message", "out_of_range", "not_json", "missing_field"] {
        assert!(reasons.contains(r), "no dead letter with reason {r}: {reasons:?}");
    }
    for ex in examples().iter().filter(|e| e.schema == "dead-letter" && e.valid) {
        let json = ex.json().expect("JSON");
        let dead: DeadLetter = serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("{}: {e}", ex.label()));
        assert_eq!(serde_json::to_value(&dead).expect("serializes"), json, "{}", ex.label());
    }
}

/// Removes the `kind` that `pulse replay` puts in front of a result.
fn without_kind(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("kind");
    }
    v
}

#[test]
fn output_examples_round_trip_through_the_rust_types() {
    for ex in examples().iter().filter(|e| e.valid) {
        let mut json = without_kind(ex.json().expect("JSON"));
        if let (Some(o), "alert") = (json.as_object_mut(), ex.schema.as_str()) {
            // Added on the topic (alert id, the scorer's marks for the notifier), not
            // fields of the transition.
            for k in ["alert_id", "version", "notify"] {
                o.remove(k);
            }
        }
        let back = match ex.schema.as_str() {
            "health" => serde_json::from_value::<HealthResult>(json.clone()).map(serde_json::to_value),
            "readiness" => serde_json::from_value::<ReadinessResult>(json.clone()).map(serde_json::to_value),
            "alert" => serde_json::from_value::<AlertTransition>(json.clone()).map(serde_json::to_value),
            _ => continue,
        };
        let back = back.unwrap_or_else(|e| panic!("{}: {e}", ex.label())).expect("serializes");
        assert_eq!(back, json, "{}", ex.label());
    }
}

/// The demo data set (every cohort, every color, verdict and red flag, plus malformed
/// lines): the schema and the parser agree on every line, and every result of the
/// last three weeks, fed day by day as the scorer will, validates.
#[test]
fn demo_data_and_real_results_validate() {
    let schemas = Schemas::load();
    let end = NaiveDate::from_ymd_opt(2026, 11, 30).expect("date");
    let spec = pulse_gen::DemoSpec { accounts: 15, days: 56, end, seed: 7, malformed: true };
    let mut ndjson = Vec::new();
    pulse_gen::write_demo(&spec, &mut ndjson).expect("demo generates");

    let mut engine = Engine::new(ScoringConfig::default());
    let (mut valid, mut invalid) = (0, 0);
    for line in ndjson.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let schema_ok = serde_json::from_slice::<Value>(line).ok().map(|v| schemas.check("input", &v));
        match (parse_event(line), schema_ok) {
            (Ok(event), Some(Ok(()))) => {
                valid += 1;
                engine.apply(&event);
            }
            (Err(_), None | Some(Err(_))) => invalid += 1,
            (parsed, schema) => panic!(
                "schema and parser disagree on {}: parser {parsed:?}, schema {schema:?}",
                String::from_utf8_lossy(line)
            ),
        }
    }
    assert!(valid > 1000 && invalid > 0, "valid {valid}, invalid {invalid}");

    let mut tracker = AlertTracker::new(engine.config());
    let (mut colors, mut verdicts, mut alerts) = (BTreeSet::new(), BTreeSet::new(), 0);
    for k in (0..21).rev() {
        let day = end - chrono::Days::new(k);
        for ev in engine.evaluate_all(day) {
            for (name, value) in
                [("health", serde_json::to_value(&ev.health)), ("readiness", serde_json::to_value(&ev.readiness))]
            {
                let value = value.expect("serializes");
                schemas.check(name, &value).unwrap_or_else(|e| panic!("{name} {value}: {e}"));
            }
            colors.insert(ev.health.color);
            verdicts.insert(ev.readiness.verdict.as_str());
            for t in tracker.update(&ev) {
                let value = serde_json::to_value(&t).expect("serializes");
                schemas.check("alert", &value).unwrap_or_else(|e| panic!("alert {value}: {e}"));
                alerts += 1;
            }
        }
    }
    assert_eq!((colors.len(), verdicts.len()), (3, 3), "demo should show every color and verdict");
    assert!(alerts > 0, "demo should open alerts");
}
