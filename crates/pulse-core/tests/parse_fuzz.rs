//! Structured fuzzing of `parse_event`: near-valid input made by mutating valid events of
//! every type (a field dropped, nulled, retyped, emptied, repeated; lengths at and past
//! the limit in multi-byte characters; timestamps in every accepted and rejected form;
//! unknown extras; the message cut short or a byte overwritten). For each one the parser
//! must not panic, and whether it accepts the input, and with which reason it rejects
//! it, must agree with the documented rules: the JSON Schemas in `schemas/events/`
//! (required fields, string types, lengths, the timestamp pattern) and SPEC §1 (a null
//! field counts as absent, a repeated key is invalid, unknown extras are ignored).
//!
//! Random bytes alone (the test this replaces) almost always fail at the first byte, so
//! they never reach the field rules.

use std::collections::BTreeMap;

use proptest::prelude::*;
use pulse_core::event::{parse_event, InvalidReason};
use serde_json::{Map, Value};

const TS: &str = "2026-11-02T10:15:00Z";

/// One valid input per type: every field the schema knows, with non-ASCII text.
fn seeds() -> Vec<Value> {
    let crm = |ty: &str, extra: Value| {
        let mut m = serde_json::json!({"type": ty, "event_id": "c-1", "account_id": "acmé", "timestamp": TS});
        for (k, v) in extra.as_object().expect("object") {
            m[k] = v.clone();
        }
        m
    };
    use serde_json::json;
    vec![
        json!({"type": "usage", "event_id": "e-1", "account_id": "acmé", "user_id": "u-42", "event": "report.viewed",
               "feature": "reports", "timestamp": TS, "properties": {"a": [1, {"b": null}]}}),
        json!({"type": "track", "messageId": "m-1", "userId": "u-42", "event": "report.viewed",
               "timestamp": "2026-11-02T10:15:00+02:00", "context": {"groupId": "acmé"}, "properties": {"x": 1}}),
        crm(
            "account",
            json!({"name": "Acmé GmbH", "licensed_seats": 50, "usage_profile": "daily", "segment": "smb", "arr": 12000.5,
                   "csm": "ann", "lifecycle_stage": "onboarding", "onboarding_started_on": "2026-09-01",
                   "target_graduation_on": "2026-11-01", "renewal_on": "2027-09-01"}),
        ),
        crm(
            "assessment",
            json!({"dimension": "usage", "score": 6.5, "author": "ann", "note": "😀 good", "expires_on": "2027-01-01"}),
        ),
        crm("milestone", json!({"item": "sso", "status": "blocked", "note": "waiting on IT"})),
        crm("training", json!({"user_id": "u1", "module": "admin-101", "score_pct": 79.5})),
        crm("kpi", json!({"kpi": "tickets", "baseline": 1, "target": 2, "value": 1.5, "confirmed": true, "unit": "%"})),
        crm(
            "stakeholder",
            json!({"role": "executive_sponsor", "person": "p", "status": "left", "sentiment": "positive"}),
        ),
        crm("ticket", json!({"ticket_id": "T-1", "severity": "critical", "status": "open"})),
        crm(
            "renewal",
            json!({"outcome": "contracted", "renewal_on": "2026-06-30", "arr_before": 10.5, "arr_after": 5,
                   "reason": "seats"}),
        ),
    ]
}

/// What a schema says about one property (after resolving `$ref` into `common`).
#[derive(Debug, Clone, Default)]
struct Prop {
    /// Only strings (or null) are accepted, with no pattern, format or enum: free text.
    free_text: bool,
    /// A string type is the only non-null type allowed.
    string_only: bool,
    min_len: Option<u64>,
    max_len: Option<u64>,
}

#[derive(Debug, Clone, Default)]
struct Schema {
    required: Vec<String>,
    props: BTreeMap<String, Prop>,
    /// `allOf: [{anyOf: [{required: [...]}, ...]}, ...]`: each group needs one
    /// alternative's fields present (Segment `track`: a user id, an account id).
    one_of_each: Vec<Vec<Value>>,
}

/// Whether `m` has the fields `alt` requires, one level of nested `required` included
/// (`properties.account_id`), a required string non-empty when `minLength` says so.
fn satisfies(alt: &Value, m: &Map<String, Value>) -> bool {
    let present = |m: &Map<String, Value>, k: &String, rule: &Value| match m.get(k) {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => s.chars().count() as u64 >= rule["minLength"].as_u64().unwrap_or(0),
        Some(_) => true,
    };
    strings(&alt["required"]).iter().all(|k| present(m, k, &alt["properties"][k]))
        && alt["properties"].as_object().into_iter().flatten().all(|(k, sub)| {
            let nested = strings(&sub["required"]);
            nested.is_empty()
                || m.get(k)
                    .and_then(Value::as_object)
                    .is_some_and(|inner| nested.iter().all(|n| present(inner, n, &sub["properties"][n])))
        })
}

impl Schema {
    /// Whether `m` has what `required` and the alternatives ask for (top level only).
    fn has_required(&self, m: &Map<String, Value>) -> bool {
        let present = |k: &String| m.get(k).is_some_and(|v| !v.is_null());
        self.required.iter().all(present)
            && self.one_of_each.iter().all(|group| group.iter().any(|alt| satisfies(alt, m)))
    }
}

fn schema_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/events")
}

fn load_json(name: &str) -> Value {
    let path = schema_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn resolve<'a>(v: &'a Value, common: &'a Value) -> &'a Value {
    match v["$ref"].as_str().and_then(|r| r.strip_prefix("common.schema.json#/$defs/")) {
        Some(def) => &common["$defs"][def],
        None => v,
    }
}

fn types_of(v: &Value, common: &Value) -> Vec<String> {
    let v = resolve(v, common);
    let mut out = Vec::new();
    match &v["type"] {
        Value::String(t) => out.push(t.clone()),
        Value::Array(ts) => out.extend(ts.iter().filter_map(|t| t.as_str().map(str::to_owned))),
        _ => {}
    }
    for alt in v["anyOf"].as_array().into_iter().flatten() {
        out.extend(types_of(alt, common));
    }
    if v.get("const").is_some() || v.get("enum").is_some() {
        out.push("enum".into());
    }
    out
}

fn prop_of(v: &Value, common: &Value) -> Prop {
    let r = resolve(v, common);
    let types = types_of(v, common);
    let non_null: Vec<&str> = types.iter().map(String::as_str).filter(|t| *t != "null").collect();
    let string_only = !non_null.is_empty() && non_null.iter().all(|t| *t == "string" || *t == "enum");
    let constrained = ["pattern", "format", "enum", "const"].iter().any(|k| r.get(*k).is_some())
        || v.get("anyOf").is_some()
        || non_null.contains(&"enum");
    Prop {
        free_text: string_only && !constrained,
        string_only,
        min_len: r["minLength"].as_u64(),
        max_len: r["maxLength"].as_u64(),
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(|s| s.as_str()).map(str::to_owned).collect()
}

fn schemas() -> BTreeMap<String, Schema> {
    let common = load_json("common.schema.json");
    let mut out = BTreeMap::new();
    for ty in
        ["usage", "track", "account", "assessment", "milestone", "training", "kpi", "stakeholder", "ticket", "renewal"]
    {
        let s = load_json(&format!("{ty}.schema.json"));
        let required = s["required"].as_array().expect("required").iter().filter_map(|r| r.as_str()).map(str::to_owned);
        let props = s["properties"]
            .as_object()
            .expect("properties")
            .iter()
            .map(|(k, v)| (k.clone(), prop_of(v, &common)))
            .collect();
        let one_of_each = s["allOf"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|g| g["anyOf"].as_array().expect("anyOf").to_vec())
            .collect();
        out.insert(ty.to_owned(), Schema { required: required.collect(), props, one_of_each });
    }
    out
}

/// A string of `n` characters mixing one-, two-, three- and four-byte code points.
fn chars(n: u64, salt: usize) -> String {
    const ALPHABET: [char; 6] = ['a', 'é', '中', '😀', 'Z', 'ß'];
    (0..n as usize).map(|i| ALPHABET[(i + salt) % ALPHABET.len()]).collect()
}

#[derive(Debug, Clone)]
enum Mutation {
    /// Remove a field (index into the object's keys).
    Drop(usize),
    /// Set a field to null.
    Null(usize),
    /// Set a free-text or string-only property of the schema to a number, bool, array or object.
    Retype(usize, usize),
    /// Set a free-text property to exactly its maximum length, or one past it.
    Length(usize, bool, usize),
    /// Set a free-text property with a minimum length to "".
    Empty(usize),
    /// Write a present field a second time (a repeated key).
    Duplicate(usize),
    /// Add a field the schema does not know.
    Extra(usize),
    /// Replace the timestamp with one of `TIMESTAMPS`.
    Timestamp(usize),
    /// Cut the message short at this fraction (per mille) of its length.
    Truncate(u16),
    /// Overwrite one byte (position per mille) with this byte: must not panic.
    Byte(u16, u8),
    /// Surround with whitespace.
    Pad,
}

/// (timestamp, accepted?) per the schema's pattern (RFC 3339 with an offset).
const TIMESTAMPS: &[(&str, bool)] = &[
    ("2026-11-02T10:15:00Z", true),
    ("2026-11-02T10:15:00.123456789Z", true),
    ("2026-11-02T10:15:00+05:30", true),
    ("2026-11-02T10:15:00-08:00", true),
    ("2026-11-02t10:15:00z", true),
    ("1970-01-01T00:00:00Z", true),
    ("2026-11-02", false),
    ("2026-11-02T10:15:00", false),
    ("2026-11-02T10:15Z", false),
    ("2026-11-02 10:15:00Z", false),
    ("2026-13-02T10:15:00Z", false),
    ("2026-02-30T10:15:00Z", false),
    ("2026-11-02T25:15:00Z", false),
    ("2026-11-02T10:15:00+5:30", false),
    ("yesterday", false),
    ("", false),
    ("２０２６-11-02T10:15:00Z", false),
];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Drop),
        any::<usize>().prop_map(Mutation::Null),
        (any::<usize>(), 0..4usize).prop_map(|(f, k)| Mutation::Retype(f, k)),
        (any::<usize>(), any::<bool>(), any::<usize>()).prop_map(|(f, over, s)| Mutation::Length(f, over, s)),
        any::<usize>().prop_map(Mutation::Empty),
        any::<usize>().prop_map(Mutation::Duplicate),
        any::<usize>().prop_map(Mutation::Extra),
        (0..TIMESTAMPS.len()).prop_map(Mutation::Timestamp),
        (0..1000u16).prop_map(Mutation::Truncate),
        (0..1000u16, any::<u8>()).prop_map(|(p, b)| Mutation::Byte(p, b)),
        Just(Mutation::Pad),
    ]
}

/// What the rules say about a mutated input: accepted (and equal to the seed's event, when
/// the mutation does not change a scored field), rejected with a reason, or no claim.
#[derive(Debug, PartialEq)]
enum Expect {
    SameAsSeed,
    Valid,
    Invalid(InvalidReason),
    /// Only "does not panic".
    Anything,
}

fn pick(keys: &[String], i: usize) -> Option<&String> {
    (!keys.is_empty()).then(|| &keys[i % keys.len()])
}

fn to_bytes(m: &Map<String, Value>) -> Vec<u8> {
    serde_json::to_vec(m).expect("serializes")
}

/// Applies `mutation` to `seed` (of schema `schema`): the bytes and what to expect.
fn apply(seed: &Map<String, Value>, schema: &Schema, mutation: &Mutation) -> (Vec<u8>, Expect) {
    use InvalidReason::*;
    let present: Vec<String> = seed.keys().cloned().collect();
    let mut m = seed.clone();
    let string_props: Vec<String> =
        schema.props.iter().filter(|(_, p)| p.string_only).map(|(k, _)| k.clone()).collect();
    let free_text: Vec<String> =
        schema.props.iter().filter(|(_, p)| p.free_text && p.max_len.is_some()).map(|(k, _)| k.clone()).collect();
    let non_empty: Vec<String> =
        schema.props.iter().filter(|(_, p)| p.free_text && p.min_len >= Some(1)).map(|(k, _)| k.clone()).collect();
    match mutation {
        Mutation::Drop(i) | Mutation::Null(i) => {
            let Some(k) = pick(&present, *i) else { return (to_bytes(&m), Expect::SameAsSeed) };
            if matches!(mutation, Mutation::Drop(_)) {
                m.remove(k);
            } else {
                m.insert(k.clone(), Value::Null);
            }
            // A null counts as absent: both must give the same verdict.
            let expect = if !schema.has_required(&m) {
                Expect::Invalid(MissingField)
            } else if schema.props.contains_key(k) {
                // Optional: absent is allowed, though the event may differ (a default).
                Expect::Valid
            } else {
                Expect::SameAsSeed
            };
            (to_bytes(&m), expect)
        }
        Mutation::Retype(i, kind) => {
            let Some(k) = pick(&string_props, *i) else { return (to_bytes(&m), Expect::SameAsSeed) };
            let v = match kind {
                0 => serde_json::json!(7),
                1 => serde_json::json!(true),
                2 => serde_json::json!(["x"]),
                _ => serde_json::json!({"x": "y"}),
            };
            m.insert(k.clone(), v);
            (to_bytes(&m), Expect::Invalid(WrongType))
        }
        Mutation::Length(i, over, salt) => {
            let Some(k) = pick(&free_text, *i) else { return (to_bytes(&m), Expect::SameAsSeed) };
            let max = schema.props[k].max_len.expect("max");
            m.insert(k.clone(), Value::String(chars(max + u64::from(*over), *salt)));
            (to_bytes(&m), if *over { Expect::Invalid(OversizeField) } else { Expect::Valid })
        }
        Mutation::Empty(i) => {
            let Some(k) = pick(&non_empty, *i) else { return (to_bytes(&m), Expect::SameAsSeed) };
            m.insert(k.clone(), Value::String(String::new()));
            (to_bytes(&m), Expect::Invalid(InvalidValue))
        }
        Mutation::Duplicate(i) => {
            let known: Vec<String> = present.iter().filter(|k| schema.props.contains_key(*k)).cloned().collect();
            let Some(k) = pick(&known, *i) else { return (to_bytes(&m), Expect::SameAsSeed) };
            let mut bytes = to_bytes(&m);
            bytes.pop(); // the closing brace
            let again = format!(",{}:{}}}", Value::String(k.clone()), m[k]);
            bytes.extend_from_slice(again.as_bytes());
            (bytes, Expect::Invalid(InvalidValue))
        }
        Mutation::Extra(salt) => {
            let name = format!("zz_extra_{}", chars(3, *salt));
            m.insert(name, serde_json::json!({"deep": [1, null, "😀"]}));
            (to_bytes(&m), Expect::SameAsSeed)
        }
        Mutation::Timestamp(i) => {
            let (ts, ok) = TIMESTAMPS[*i];
            m.insert("timestamp".into(), Value::String(ts.to_owned()));
            (to_bytes(&m), if ok { Expect::Valid } else { Expect::Invalid(BadTimestamp) })
        }
        Mutation::Truncate(per_mille) => {
            let mut bytes = to_bytes(&m);
            let at = bytes.len() * usize::from(*per_mille) / 1000; // < len: always cut
            bytes.truncate(at);
            // A proper prefix of a compact JSON object is never JSON.
            (bytes, Expect::Invalid(NotJson))
        }
        Mutation::Byte(per_mille, b) => {
            let mut bytes = to_bytes(&m);
            let at = bytes.len() * usize::from(*per_mille) / 1000;
            bytes[at] = *b;
            (bytes, Expect::Anything)
        }
        Mutation::Pad => {
            let mut bytes = b" \n\t".to_vec();
            bytes.extend(to_bytes(&m));
            bytes.extend_from_slice(b"\r\n ");
            (bytes, Expect::SameAsSeed)
        }
    }
}

#[test]
fn seeds_are_valid_and_cover_every_type() {
    let schemas = schemas();
    let seeds = seeds();
    for seed in &seeds {
        let ty = seed["type"].as_str().expect("type");
        assert!(schemas.contains_key(ty), "{ty}");
        let bytes = serde_json::to_vec(seed).expect("serializes");
        parse_event(&bytes).unwrap_or_else(|e| panic!("seed {seed}: {e:?}"));
    }
    assert_eq!(seeds.len(), schemas.len(), "one seed per schema");
}

/// The oracle has teeth: a few mutations whose outcome is known by hand.
#[test]
fn the_oracle_is_the_documented_rules() {
    let schemas = schemas();
    let usage = seeds()[0].as_object().expect("object").clone();
    let s = &schemas["usage"];
    assert!(s.props["event_id"].free_text && s.props["event_id"].max_len == Some(128));
    assert!(s.props["timestamp"].string_only && !s.props["timestamp"].free_text);
    let keys: Vec<String> = usage.keys().cloned().collect();
    let user = keys.iter().position(|k| k == "user_id").expect("user_id");
    let feature = keys.iter().position(|k| k == "feature").expect("feature");
    assert_eq!(apply(&usage, s, &Mutation::Drop(user)).1, Expect::Invalid(InvalidReason::MissingField));
    assert_eq!(apply(&usage, s, &Mutation::Null(feature)).1, Expect::Valid);
    assert_eq!(apply(&usage, s, &Mutation::Truncate(500)).1, Expect::Invalid(InvalidReason::NotJson));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    #[test]
    fn near_valid_events_parse_as_the_rules_say(
        which in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..3),
    ) {
        let schemas = schemas();
        let seeds = seeds();
        let seed = seeds[which.index(seeds.len())].as_object().expect("object").clone();
        let ty = seed["type"].as_str().expect("type").to_owned();
        let schema = &schemas[&ty];
        let original = parse_event(&to_bytes(&seed)).expect("seed is valid");
        // The first mutation is checked against the rules; a second one, on top of it,
        // only for panics (two faults: which is reported first is the parser's choice).
        let (bytes, expect) = apply(&seed, schema, &mutations[0]);
        let got = parse_event(&bytes);
        let shown = String::from_utf8_lossy(&bytes);
        match (&expect, &got) {
            (Expect::SameAsSeed, Ok(ev)) => prop_assert_eq!(ev, &original, "{}", shown),
            (Expect::Valid, Ok(_)) | (Expect::Anything, _) => {}
            (Expect::Invalid(reason), Err(e)) => prop_assert_eq!(e.reason, *reason, "{}: {}", shown, e.detail),
            _ => prop_assert!(false, "{:?} of {}: expected {:?}, got {:?}", mutations[0], shown, expect, got),
        }
        if let Ok(ev) = &got {
            // Whatever is accepted round-trips through its normalized form.
            let json = serde_json::to_vec(ev).expect("serializes");
            prop_assert_eq!(&parse_event(&json).expect("normalized form is valid"), ev);
        }
        if let (Some(second), Ok(Value::Object(m))) = (mutations.get(1), serde_json::from_slice::<Value>(&bytes)) {
            let (twice, _) = apply(&m, schema, second);
            let _ = parse_event(&twice);
        }
    }
}
