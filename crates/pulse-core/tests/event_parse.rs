//! SPEC §1: what is accepted, what is rejected and with which reason.

use chrono::{TimeZone, Utc};
use pulse_core::event::{check_skew, parse_event, Event, InvalidReason};

/// `Ok(type_name)` or `Err((reason, substring the detail must contain))`.
type Expect = Result<&'static str, (InvalidReason, &'static str)>;

fn check(input: &str, expect: Expect) {
    let got = parse_event(input.as_bytes());
    match (&got, &expect) {
        (Ok(ev), Ok(ty)) => assert_eq!(ev.type_name(), *ty, "input: {input}"),
        (Err(e), Err((reason, detail))) => {
            assert_eq!(e.reason, *reason, "input: {input}\ndetail: {}", e.detail);
            assert!(e.detail.contains(detail), "input: {input}\ndetail {:?} lacks {:?}", e.detail, detail);
        }
        _ => panic!("input: {input}\nexpected {expect:?}\ngot {got:?}"),
    }
}

const TS: &str = r#""timestamp":"2026-11-02T10:15:00Z""#;

fn usage(extra: &str) -> String {
    format!(
        r#"{{"type":"usage","event_id":"e-1","account_id":"acme","user_id":"u-42","event":"report.viewed",{TS}{extra}}}"#
    )
}

#[test]
fn usage_and_framing() {
    use InvalidReason::*;
    let long = "x".repeat(129);
    let ok128 = "é".repeat(128); // 256 bytes, 128 chars: within the limit
    let cases: Vec<(String, Expect)> = vec![
        (usage(""), Ok("usage")),
        (usage(r#","feature":"reports","properties":{"a":1}"#), Ok("usage")),
        (usage(r#","feature":null,"properties":null"#), Ok("usage")),
        (usage(r#","unknown_extra":{"deep":[1,2]}"#), Ok("usage")),
        ("not json".into(), Err((NotJson, "not valid JSON"))),
        ("".into(), Err((NotJson, ""))),
        (usage("") + "x", Err((NotJson, ""))),
        ("[1,2]".into(), Err((NotObject, "object"))),
        ("\"usage\"".into(), Err((NotObject, ""))),
        ("42".into(), Err((NotObject, ""))),
        (r#"{"event_id":"e"}"#.into(), Err((MissingField, "`type`"))),
        (r#"{"type":7}"#.into(), Err((WrongType, "`type`"))),
        (r#"{"type":"identify","event_id":"e"}"#.into(), Err((UnknownType, "identify"))),
        (r#"{"type":"usage","account_id":"a","user_id":"u","event":"x","timestamp":"2026-11-02T10:15:00Z"}"#.into(), Err((MissingField, "`event_id`"))),
        (r#"{"type":"usage","event_id":"e","account_id":"a","event":"x","timestamp":"2026-11-02T10:15:00Z"}"#.into(), Err((MissingField, "missing field `user_id`"))),
        (r#"{"type":"usage","event_id":"e","account_id":"a","user_id":null,"event":"x","timestamp":"2026-11-02T10:15:00Z"}"#.into(), Err((MissingField, "`user_id`"))),
        (r#"{"type":"usage","event_id":"e","account_id":"a","user_id":"u","timestamp":"2026-11-02T10:15:00Z"}"#.into(), Err((MissingField, "`event`"))),
        (r#"{"type":"usage","event_id":"e","account_id":"a","user_id":"u","event":"x"}"#.into(), Err((MissingField, "`timestamp`"))),
        (r#"{"type":"usage","event_id":"e","account_id":"a","user_id":42,"event":"x","timestamp":"2026-11-02T10:15:00Z"}"#.into(), Err((WrongType, "`user_id`"))),
        (r#"{"type":"usage","event_id":"e","account_id":"","user_id":"u","event":"x","timestamp":"2026-11-02T10:15:00Z"}"#.into(), Err((InvalidValue, "`account_id`"))),
        (format!(r#"{{"type":"usage","event_id":"{long}","account_id":"a","user_id":"u","event":"x",{TS}}}"#), Err((OversizeField, "`event_id`"))),
        (format!(r#"{{"type":"usage","event_id":"{ok128}","account_id":"a","user_id":"u","event":"x",{TS}}}"#), Ok("usage")),
        (format!(r#"{{"type":"usage","event_id":"e","account_id":"a","user_id":"{long}","event":"x",{TS}}}"#), Err((OversizeField, "`user_id`"))),
        (r#"{"type":"usage","event_id":"e","account_id":"a","user_id":"u","event":"x","timestamp":"2026-11-02"}"#.into(), Err((BadTimestamp, "`timestamp`"))),
        (r#"{"type":"usage","event_id":"e","account_id":"a","user_id":"u","event":"x","timestamp":"2026-11-02T10:15:00"}"#.into(), Err((BadTimestamp, ""))),
        (r#"{"type":"usage","event_id":"e","account_id":"a","user_id":"u","event":"x","timestamp":"yesterday"}"#.into(), Err((BadTimestamp, ""))),
        (r#"{"type":"usage","event_id":"e","account_id":"a","user_id":"u","event":"x","timestamp":1700000000}"#.into(), Err((WrongType, "`timestamp`"))),
        (usage(r#","properties":[1]"#), Err((WrongType, "`properties`"))),
        (usage(r#","feature":5"#), Err((WrongType, "`feature`"))),
        (usage(r#","user_id":"dup""#), Err((InvalidValue, "duplicate"))),
    ];
    for (input, expect) in cases {
        check(&input, expect);
    }
}

#[test]
fn segment_track() {
    use InvalidReason::*;
    let cases: Vec<(&str, Expect)> = vec![
        (
            r#"{"type":"track","messageId":"m1","userId":"u","event":"x","timestamp":"2026-11-02T10:15:00+02:00","context":{"groupId":"acme"},"properties":{}}"#,
            Ok("usage"),
        ),
        (
            r#"{"type":"track","messageId":"m1","userId":"u","event":"x","timestamp":"2026-11-02T10:15:00Z","properties":{"account_id":"acme"}}"#,
            Ok("usage"),
        ),
        (
            r#"{"type":"track","messageId":"m1","anonymousId":"anon","event":"x","timestamp":"2026-11-02T10:15:00Z","context":{"groupId":"acme"}}"#,
            Ok("usage"),
        ),
        (
            r#"{"type":"track","messageId":"m1","userId":"u","event":"x","timestamp":"2026-11-02T10:15:00Z"}"#,
            Err((MissingField, "context.groupId")),
        ),
        (
            r#"{"type":"track","userId":"u","event":"x","timestamp":"2026-11-02T10:15:00Z","context":{"groupId":"a"}}"#,
            Err((MissingField, "messageId")),
        ),
        (
            r#"{"type":"track","messageId":"m1","event":"x","timestamp":"2026-11-02T10:15:00Z","context":{"groupId":"a"}}"#,
            Err((MissingField, "userId")),
        ),
        (
            r#"{"type":"track","messageId":"m1","userId":"u","event":"x","timestamp":"2026-11-02T10:15:00Z","context":"a"}"#,
            Err((WrongType, "context")),
        ),
        (
            r#"{"type":"track","messageId":"m1","userId":"u","event":"x","timestamp":"2026-11-02T10:15:00Z","context":{"groupId":1}}"#,
            Err((WrongType, "groupId")),
        ),
        (r#"{"type":"page","messageId":"m1"}"#, Err((UnknownType, "page"))),
    ];
    for (input, expect) in cases {
        check(input, expect);
    }
}

#[test]
fn segment_track_is_normalized_to_usage() {
    let ev = parse_event(br#"{"type":"track","messageId":"m1","userId":"u","event":"Report Viewed","timestamp":"2026-11-02T12:15:00+02:00","context":{"groupId":"acme","library":{"name":"x"}},"properties":{"feature":"reports","n":1}}"#).expect("valid");
    let Event::Usage(u) = &ev else { panic!("usage expected") };
    assert_eq!((u.event_id.as_str(), u.account_id.as_str(), u.user_id.as_str()), ("m1", "acme", "u"));
    assert_eq!(u.feature.as_deref(), Some("reports"));
    assert_eq!(u.timestamp, Utc.with_ymd_and_hms(2026, 11, 2, 10, 15, 0).single().expect("valid"));
    let json = serde_json::to_value(&ev).expect("serializes");
    assert_eq!(json["type"], "usage");
    let back: Event = serde_json::from_value(json).expect("round trip");
    assert_eq!(back, ev);
}

fn crm(ty: &str, extra: &str) -> String {
    format!(r#"{{"type":"{ty}","event_id":"c-1","account_id":"acme",{TS}{extra}}}"#)
}

#[test]
fn crm_events() {
    use InvalidReason::*;
    let cases: Vec<(String, Expect)> = vec![
        (crm("account", ""), Ok("account")),
        (
            crm(
                "account",
                r#","name":"Acme","licensed_seats":50,"usage_profile":"daily","segment":"smb","arr":12000.5,"csm":"ann","lifecycle_stage":"onboarding","onboarding_started_on":"2026-09-01","target_graduation_on":"2026-11-01","renewal_on":"2027-09-01""#,
            ),
            Ok("account"),
        ),
        (crm("account", r#","licensed_seats":0"#), Ok("account")),
        (crm("account", r#","licensed_seats":null"#), Ok("account")),
        (crm("account", r#","licensed_seats":"50""#), Err((WrongType, "licensed_seats"))),
        (crm("account", r#","licensed_seats":-1"#), Err((InvalidValue, "licensed_seats"))),
        (crm("account", r#","licensed_seats":2.5"#), Err((InvalidValue, "licensed_seats"))),
        (crm("account", r#","licensed_seats":20000000"#), Ok("account")),
        (crm("account", r#","licensed_seats":4294967295"#), Ok("account")),
        // SPEC v3 §1: values Pulse cannot store are `out_of_range`.
        (crm("account", r#","licensed_seats":4294967296"#), Err((OutOfRange, "licensed_seats"))),
        (crm("account", r#","licensed_seats":1e300"#), Err((OutOfRange, "licensed_seats"))),
        (crm("account", r#","renewal_on":"2150-01-01""#), Err((OutOfRange, "renewal_on"))),
        (crm("account", r#","renewal_on":"2149-06-06""#), Ok("account")),
        (crm("account", r#","onboarding_started_on":"1969-12-31""#), Err((OutOfRange, "onboarding_started_on"))),
        (crm("account", r#","target_graduation_on":"9999-12-31""#), Err((OutOfRange, "target_graduation_on"))),
        (crm("account", r#","arr":1e15"#), Ok("account")),
        (crm("account", r#","arr":1.0000001e15"#), Err((OutOfRange, "arr"))),
        (crm("account", r#","usage_profile":"hourly""#), Err((InvalidValue, "usage_profile"))),
        (crm("account", r#","lifecycle_stage":"churned""#), Ok("account")),
        (crm("account", r#","lifecycle_stage":"lost""#), Err((InvalidValue, "lifecycle_stage"))),
        (crm("account", r#","target_graduation_on":"11/01/2026""#), Err((InvalidValue, "target_graduation_on"))),
        (crm("account", r#","arr":-5"#), Err((InvalidValue, "arr"))),
        (crm("account", &format!(r#","segment":"{}""#, "s".repeat(65))), Err((OversizeField, "segment"))),
        (
            crm(
                "assessment",
                r#","dimension":"value","score":9,"author":"ann","note":"confirmed","expires_on":"2027-01-01""#,
            ),
            Ok("assessment"),
        ),
        (crm("assessment", r#","dimension":"value","score":9.5,"author":"ann""#), Ok("assessment")),
        (crm("assessment", r#","dimension":"vibes","score":9,"author":"ann""#), Err((InvalidValue, "dimension"))),
        (crm("assessment", r#","dimension":"value","score":11,"author":"ann""#), Err((InvalidValue, "score"))),
        (crm("assessment", r#","dimension":"value","score":"9","author":"ann""#), Err((WrongType, "score"))),
        (crm("assessment", r#","dimension":"value","author":"ann""#), Err((MissingField, "score"))),
        (crm("assessment", r#","dimension":"value","score":9"#), Err((MissingField, "author"))),
        (crm("milestone", r#","item":"sso_configured","status":"done""#), Ok("milestone")),
        (crm("milestone", r#","item":"sso_configured","status":"finished""#), Err((InvalidValue, "status"))),
        (crm("training", r#","user_id":"u1","module":"admin-101","score_pct":85"#), Ok("training")),
        (crm("training", r#","user_id":"u1","module":"admin-101""#), Ok("training")),
        (crm("training", r#","user_id":"u1","module":"admin-101","score_pct":101"#), Err((InvalidValue, "score_pct"))),
        (
            crm("kpi", r#","kpi":"invoice_days","baseline":6,"target":3,"value":2.8,"confirmed":true,"unit":"days""#),
            Ok("kpi"),
        ),
        (crm("kpi", r#","kpi":"invoice_days","baseline":6,"target":6,"value":2.8"#), Err((InvalidValue, "target"))),
        (
            crm("kpi", r#","kpi":"invoice_days","baseline":6,"target":3,"value":2.8,"confirmed":"yes""#),
            Err((WrongType, "confirmed")),
        ),
        (
            crm("stakeholder", r#","role":"champion","person":"dana","status":"active","sentiment":"positive""#),
            Ok("stakeholder"),
        ),
        (crm("stakeholder", r#","role":"cfo","person":"dana","status":"active""#), Err((InvalidValue, "role"))),
        (crm("ticket", r#","ticket_id":"T-1","severity":"critical","status":"open""#), Ok("ticket")),
        (crm("ticket", r#","ticket_id":"T-1","severity":"critical""#), Err((MissingField, "status"))),
        (
            crm(
                "renewal",
                r#","outcome":"churned","renewal_on":"2026-06-30","arr_before":12000,"arr_after":0,"reason":"budget cut""#,
            ),
            Ok("renewal"),
        ),
        (
            crm("renewal", r#","outcome":"expanded","renewal_on":"2026-06-30","arr_before":1,"arr_after":2"#),
            Ok("renewal"),
        ),
        (
            crm("renewal", r#","outcome":"lost","renewal_on":"2026-06-30","arr_before":1,"arr_after":0"#),
            Err((InvalidValue, "outcome")),
        ),
        (crm("renewal", r#","outcome":"renewed","arr_before":1,"arr_after":1"#), Err((MissingField, "renewal_on"))),
        (
            crm("renewal", r#","outcome":"renewed","renewal_on":"2026-06-31","arr_before":1,"arr_after":1"#),
            Err((InvalidValue, "renewal_on")),
        ),
        (
            crm("renewal", r#","outcome":"renewed","renewal_on":"2026-06-30","arr_after":1"#),
            Err((MissingField, "arr_before")),
        ),
        (
            crm("renewal", r#","outcome":"renewed","renewal_on":"2026-06-30","arr_before":-1,"arr_after":1"#),
            Err((InvalidValue, "arr_before")),
        ),
        (
            crm("renewal", r#","outcome":"renewed","renewal_on":"2026-06-30","arr_before":1,"arr_after":"1""#),
            Err((WrongType, "arr_after")),
        ),
        (crm("renewal", r#","renewal_on":"2026-06-30","arr_before":1,"arr_after":1"#), Err((MissingField, "outcome"))),
    ];
    for (input, expect) in cases {
        check(&input, expect);
    }
}

#[test]
fn every_event_round_trips_through_its_normalized_json() {
    let inputs = [
        usage(r#","feature":"reports","properties":{"a":[1,{"b":null}]}"#),
        crm(
            "account",
            r#","name":"Acme","licensed_seats":50,"usage_profile":"daily","arr":1.5,"onboarding_started_on":"2026-09-01""#,
        ),
        crm("assessment", r#","dimension":"usage","score":6.5,"author":"ann","expires_on":"2027-01-01""#),
        crm("milestone", r#","item":"sso","status":"blocked","note":"waiting on IT""#),
        crm("training", r#","user_id":"u1","module":"m","score_pct":79.5"#),
        crm("kpi", r#","kpi":"k","baseline":1,"target":2,"value":1.5"#),
        crm("stakeholder", r#","role":"executive_sponsor","person":"p","status":"left""#),
        crm("ticket", r#","ticket_id":"T","severity":"low","status":"resolved""#),
        crm(
            "renewal",
            r#","outcome":"contracted","renewal_on":"2026-06-30","arr_before":10.5,"arr_after":5,"reason":"seats""#,
        ),
    ];
    for input in inputs {
        let ev = parse_event(input.as_bytes()).expect("valid");
        let json = serde_json::to_string(&ev).expect("serializes");
        let again = parse_event(json.as_bytes()).expect("normalized form is valid input");
        assert_eq!(again, ev, "{json}");
        let back: Event = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, ev);
    }
}

#[test]
fn reasons_are_stable_strings() {
    let names: Vec<&str> = InvalidReason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        names,
        [
            "not_json",
            "not_object",
            "missing_field",
            "wrong_type",
            "unknown_type",
            "bad_timestamp",
            "oversize_field",
            "invalid_value",
            "future_timestamp",
            "out_of_range"
        ]
    );
}

#[test]
fn skew() {
    let now = Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).single().expect("valid");
    let day = chrono::Duration::days(1);
    let cases = [
        (now, true),
        (now + day, true),
        (now + day + chrono::Duration::seconds(1), false),
        (now - chrono::Duration::days(400), true),
    ];
    for (ts, ok) in cases {
        let got = check_skew(ts, now, day);
        assert_eq!(got.is_ok(), ok, "{ts}");
        if let Err(e) = got {
            assert_eq!(e.reason, InvalidReason::FutureTimestamp);
            assert!(e.to_string().starts_with("future_timestamp: field `timestamp`"));
        }
    }
}

/// Found by `parse_fuzz`: the parser took what the schema rejects.
#[test]
fn what_the_schema_rejects_is_rejected() {
    use InvalidReason::*;
    let long = "x".repeat(129);
    let track = |extra: &str| {
        format!(
            r#"{{"type":"track","messageId":"m1","userId":"u","event":"x",{TS},"context":{{"groupId":"acme"}}{extra}}}"#
        )
    };
    let cases: Vec<(String, Expect)> = vec![
        // chrono accepts a space between date and time; RFC 3339's `T` is required.
        (usage("").replace("2026-11-02T10:15:00Z", "2026-11-02 10:15:00Z"), Err((BadTimestamp, "`timestamp`"))),
        (usage("").replace("2026-11-02T10:15:00Z", "2026-11-02t10:15:00z"), Ok("usage")),
        // Segment ids and the top-level feature are checked even when another field wins.
        (track(""), Ok("usage")),
        (track(&format!(r#","anonymousId":"{long}""#)), Err((OversizeField, "`anonymousId`"))),
        (track(r#","anonymousId":"""#), Err((InvalidValue, "`anonymousId`"))),
        (track(r#","anonymousId":null"#), Ok("usage")),
        (track(&format!(r#","feature":"{long}","properties":{{"feature":"f"}}"#)), Err((OversizeField, "`feature`"))),
    ];
    for (input, expect) in cases {
        check(&input, expect);
    }
}
