//! One Segment call to one Pulse input event (SPEC §9), pure: the clock, the source and
//! the trait map are arguments.
//!
//! - `track`, `page`, `screen` -> a native `usage` event on `topics.usage`;
//! - `group` -> a CRM `account` event on `topics.crm`, its attributes from the traits;
//! - `identify`, `alias` -> acknowledged, nothing produced.
//!
//! Every produced event is checked with ingest's own parser (`pulse_core::parse_event`)
//! before it is sent, so what the collector accepts ingest accepts: a call the parser
//! would refuse is a rejected entry here, with the parser's reason, not a dead letter
//! later that the sender never hears of. The raw event keeps the call's four times and
//! its `messageId` under `collect` (an unknown field: stored, ignored by scoring).

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use pulse_runtime::dlq::Reason;
use serde_json::{json, Map, Value};
use sha2::Digest as _;

use crate::config::{TraitKind, TraitMap};

/// The Segment call types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallType {
    Track,
    Page,
    Screen,
    Identify,
    Group,
    Alias,
}

impl CallType {
    pub const ALL: [CallType; 6] =
        [CallType::Track, CallType::Page, CallType::Screen, CallType::Identify, CallType::Group, CallType::Alias];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CallType::Track => "track",
            CallType::Page => "page",
            CallType::Screen => "screen",
            CallType::Identify => "identify",
            CallType::Group => "group",
            CallType::Alias => "alias",
        }
    }
}

/// What a request knows beside the call itself.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub source: &'a str,
    /// The source's `account_property` path.
    pub account_property: Option<&'a str>,
    pub traits: &'a TraitMap,
    /// When the request arrived (the collector's clock).
    pub received_at: DateTime<Utc>,
    /// The batch's `sentAt`, when the call has none of its own.
    pub batch_sent_at: Option<&'a Value>,
    /// `/v1/webhook`: the payload's `timestamp` is used as it is.
    pub webhook: bool,
    pub max_future_skew: chrono::Duration,
}

/// Where a mapped call goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A usage event for `topics.usage`, keyed by its account.
    Usage { account: String, payload: Vec<u8> },
    /// An account event for `topics.crm`, keyed by its account.
    Crm { account: String, payload: Vec<u8> },
    /// `identify` / `alias`: acknowledged and counted, not forwarded.
    Acknowledged,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    pub output: Output,
    /// The call had no `messageId`: one was minted (a retry cannot be deduplicated).
    pub minted_id: bool,
    /// `<source>:<messageId>` (see [`event_id`]).
    pub event_id: String,
}

/// Why a call is rejected (a rejected entry and a dead letter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: Reason,
    pub detail: String,
}

impl Rejection {
    pub fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Self { reason, detail: detail.into() }
    }
}

type R<T> = Result<T, Rejection>;

/// `event_id` = `<source>:<messageId>`; over 128 characters, `<source>:` and the hex
/// SHA-256 of the `messageId` (source names are at most 63 characters, so that fits).
pub fn event_id(source: &str, message_id: &str) -> String {
    let id = format!("{source}:{message_id}");
    if id.chars().count() <= pulse_core::event::MAX_ID_CHARS {
        id
    } else {
        format!("{source}:{}", hex::encode(sha2::Sha256::digest(message_id.as_bytes())))
    }
}

/// The call's `messageId` (`None` when absent, null or empty).
pub fn message_id(call: &Map<String, Value>) -> R<Option<&str>> {
    match call.get("messageId") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Rejection::new(Reason::WrongType, "field `messageId`: expected string")),
    }
}

fn timestamp(call: &Map<String, Value>, field: &str) -> R<Option<DateTime<Utc>>> {
    parse_time(call.get(field), field)
}

fn parse_time(v: Option<&Value>, field: &str) -> R<Option<DateTime<Utc>>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|e| Rejection::new(Reason::BadTimestamp, format!("field `{field}`: not RFC 3339 ({e})"))),
        Some(_) => Err(Rejection::new(Reason::WrongType, format!("field `{field}`: expected string (RFC 3339)"))),
    }
}

/// The event time (SPEC §9): `receivedAt - (sentAt - originalTimestamp)` when both are
/// present, else `originalTimestamp`, else `receivedAt`; `originalTimestamp` is the
/// call's, else its `timestamp`; `sentAt` the call's, else the batch's. On `/v1/webhook`
/// the payload's `timestamp` as it is (Segment corrected it already), else the same rule.
pub fn event_time(call: &Map<String, Value>, ctx: &Context<'_>) -> R<DateTime<Utc>> {
    let ts = timestamp(call, "timestamp")?;
    let original = timestamp(call, "originalTimestamp")?;
    let sent = match call.get("sentAt") {
        None | Some(Value::Null) => parse_time(ctx.batch_sent_at, "sentAt")?,
        v => parse_time(v, "sentAt")?,
    };
    if ctx.webhook {
        if let Some(t) = ts {
            return Ok(t);
        }
    }
    let original = original.or(ts);
    match (original, sent) {
        (Some(o), Some(s)) => ctx
            .received_at
            .checked_sub_signed(s.signed_duration_since(o))
            .ok_or_else(|| Rejection::new(Reason::OutOfRange, "sentAt - originalTimestamp is out of range")),
        (Some(o), None) => Ok(o),
        (None, _) => Ok(ctx.received_at),
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A string field that counts only when it is a non-empty string.
fn nonempty(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn path<'a>(call: &'a Map<String, Value>, dotted: &str) -> Option<&'a Value> {
    let mut parts = dotted.split('.');
    let mut v = call.get(parts.next()?)?;
    for p in parts {
        v = v.as_object()?.get(p)?;
    }
    Some(v)
}

/// The account of a usage call: `context.groupId`, else `properties.account_id`, else
/// the source's `account_property`.
fn account(call: &Map<String, Value>, ctx: &Context<'_>) -> R<String> {
    let candidates = [
        ("context.groupId", path(call, "context.groupId")),
        ("properties.account_id", path(call, "properties.account_id")),
        (ctx.account_property.unwrap_or(""), ctx.account_property.and_then(|p| path(call, p))),
    ];
    for (field, v) in candidates {
        match v {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(Value::String(s)) => return Ok(s.clone()),
            Some(_) => return Err(Rejection::new(Reason::WrongType, format!("field `{field}`: expected string"))),
        }
    }
    Err(Rejection::new(
        Reason::NoAccount,
        "no account: none of context.groupId, properties.account_id or the source's account_property",
    ))
}

/// Maps one call. `kind` is the route's type (single-call routes) or the call's own.
pub fn map_call(call: &Map<String, Value>, kind: CallType, ctx: &Context<'_>) -> R<Mapped> {
    let given = message_id(call)?;
    let minted_id = given.is_none();
    let minted;
    let mid = match given {
        Some(m) => m,
        None => {
            minted = format!("minted-{}", uuid::Uuid::new_v4().simple());
            &minted
        }
    };
    let time = event_time(call, ctx)?;
    pulse_core::check_skew(time, ctx.received_at, ctx.max_future_skew)
        .map_err(|e| Rejection::new(Reason::from(e.reason), e.detail))?;
    let collect = json!({
        "source": ctx.source,
        "call": kind.as_str(),
        "message_id": mid,
        "message_id_minted": minted_id,
        "original_timestamp": call.get("originalTimestamp"),
        "timestamp": call.get("timestamp"),
        "sent_at": call.get("sentAt").filter(|v| !v.is_null()).or(ctx.batch_sent_at),
        "received_at": rfc3339(ctx.received_at),
    });
    let id = event_id(ctx.source, mid);
    let output = match kind {
        CallType::Identify | CallType::Alias => Output::Acknowledged,
        CallType::Track | CallType::Page | CallType::Screen => {
            let account = account(call, ctx)?;
            let user = match (call.get("userId").filter(|v| !v.is_null()), call.get("anonymousId")) {
                (Some(u), _) => u.clone(),
                (None, Some(a)) if !a.is_null() => a.clone(),
                _ => return Err(Rejection::new(Reason::MissingField, "field `userId` (or `anonymousId`) is missing")),
            };
            let event = match kind {
                CallType::Track => call.get("event").cloned().unwrap_or(Value::Null),
                _ => Value::from(match nonempty(call.get("name")) {
                    Some(name) => format!("{}:{name}", kind.as_str()),
                    None => kind.as_str().to_owned(),
                }),
            };
            if event.is_null() {
                return Err(Rejection::new(Reason::MissingField, "field `event` is missing"));
            }
            let properties = call.get("properties").cloned().unwrap_or_else(|| json!({}));
            let mut e = json!({
                "type": "usage",
                "event_id": id,
                "account_id": account,
                "user_id": user,
                "event": event,
                "timestamp": rfc3339(time),
                "collect": collect,
            });
            if let Some(f) = properties.get("feature").filter(|f| !f.is_null()) {
                e["feature"] = f.clone();
            }
            e["properties"] = properties;
            Output::Usage { account, payload: checked(&e)? }
        }
        CallType::Group => {
            let account = match call.get("groupId") {
                None | Some(Value::Null) => {
                    return Err(Rejection::new(Reason::MissingField, "field `groupId` is missing"))
                }
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                Some(Value::String(_)) => {
                    return Err(Rejection::new(Reason::InvalidValue, "field `groupId`: must not be empty"))
                }
                Some(_) => return Err(Rejection::new(Reason::WrongType, "field `groupId`: expected string")),
            };
            let mut e = json!({
                "type": "account",
                "event_id": id,
                "account_id": account,
                "timestamp": rfc3339(time),
                "collect": collect,
            });
            match call.get("traits") {
                None | Some(Value::Null) => {}
                Some(Value::Object(traits)) => {
                    for (attr, value) in attributes(traits, ctx.traits)? {
                        e[attr] = value;
                    }
                }
                Some(_) => return Err(Rejection::new(Reason::WrongType, "field `traits`: expected object")),
            }
            Output::Crm { account, payload: checked(&e)? }
        }
    };
    Ok(Mapped { output, minted_id, event_id: id })
}

/// The event's bytes, once ingest's parser accepts them.
fn checked(e: &Value) -> R<Vec<u8>> {
    let bytes = serde_json::to_vec(e).map_err(|err| Rejection::new(Reason::InvalidValue, err.to_string()))?;
    pulse_core::parse_event(&bytes).map_err(|err| Rejection::new(Reason::from(err.reason), err.detail))?;
    Ok(bytes)
}

/// The account attributes of a `group` call's traits: for each attribute, the first of
/// its trait names present and non-null, converted; absent or null: left out (the
/// value stays as it was).
pub fn attributes(traits: &Map<String, Value>, map: &TraitMap) -> R<Vec<(&'static str, Value)>> {
    let mut out = Vec::new();
    for (attr, names, kind) in map.entries() {
        let Some((name, v)) = names.iter().find_map(|n| traits.get(n).filter(|v| !v.is_null()).map(|v| (n, v))) else {
            continue;
        };
        let wrong = |want: &str| Rejection::new(Reason::WrongType, format!("trait `{name}` ({attr}): expected {want}"));
        let converted = match (kind, v) {
            (TraitKind::Text, Value::String(_)) => v.clone(),
            (TraitKind::Text, _) => return Err(wrong("string")),
            (TraitKind::Seats | TraitKind::Number, Value::Number(_)) => v.clone(),
            (TraitKind::Seats, Value::String(s)) => {
                Value::from(s.trim().parse::<u64>().map_err(|_| wrong("an integer >= 0 or a string of one"))?)
            }
            (TraitKind::Number, Value::String(s)) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| wrong("a number or a string of one"))?,
            (TraitKind::Seats, _) => return Err(wrong("an integer >= 0 or a string of one")),
            (TraitKind::Number, _) => return Err(wrong("a number or a string of one")),
            (TraitKind::Date, Value::String(s)) => Value::from(date(s).ok_or_else(|| wrong("a date or date-time"))?),
            (TraitKind::Date, _) => return Err(wrong("a date or date-time string")),
        };
        out.push((attr, converted));
    }
    Ok(out)
}

/// `YYYY-MM-DD` as it is; an RFC 3339 date-time as its UTC date.
fn date(s: &str) -> Option<String> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d.to_string());
    }
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc).date_naive().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(traits: &'a TraitMap, batch_sent_at: Option<&'a Value>) -> Context<'a> {
        Context {
            source: "web",
            account_property: Some("properties.company.id"),
            traits,
            received_at: "2026-11-02T12:00:00Z".parse().expect("time"),
            batch_sent_at,
            webhook: false,
            max_future_skew: chrono::Duration::days(1),
        }
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    fn payload(m: &Mapped) -> Value {
        match &m.output {
            Output::Usage { payload, .. } | Output::Crm { payload, .. } => {
                serde_json::from_slice(payload).expect("json")
            }
            Output::Acknowledged => Value::Null,
        }
    }

    #[test]
    fn ids_are_prefixed_and_long_ones_hashed() {
        assert_eq!(event_id("web", "m-1"), "web:m-1");
        let long = "x".repeat(200);
        let id = event_id("web", &long);
        assert_eq!(id, format!("web:{}", hex::encode(sha2::Sha256::digest(long.as_bytes()))));
        assert!(id.len() <= 128);
        assert_eq!(event_id("web", &"y".repeat(124)).len(), 128, "exactly 128 is kept as it is");
    }

    #[test]
    fn clock_skew_is_corrected_from_sent_at() {
        let t = TraitMap::default();
        let c = ctx(&t, None);
        // The device clock is an hour ahead: sent 10 s after the event, by its clock.
        let call = obj(json!({"originalTimestamp": "2026-11-02T13:00:00Z", "sentAt": "2026-11-02T13:00:10Z"}));
        assert_eq!(event_time(&call, &c).expect("time"), "2026-11-02T11:59:50Z".parse::<DateTime<Utc>>().expect("t"));
        // `timestamp` stands in for originalTimestamp; the batch's sentAt for the call's.
        let batch_sent = json!("2026-11-02T13:00:10Z");
        let call = obj(json!({"timestamp": "2026-11-02T13:00:00Z"}));
        let c2 = ctx(&t, Some(&batch_sent));
        assert_eq!(event_time(&call, &c2).expect("time"), "2026-11-02T11:59:50Z".parse::<DateTime<Utc>>().expect("t"));
        // No sentAt: the timestamp as it is; nothing: receivedAt.
        assert_eq!(event_time(&call, &c).expect("t"), "2026-11-02T13:00:00Z".parse::<DateTime<Utc>>().expect("t"));
        assert_eq!(event_time(&Map::new(), &c).expect("t"), c.received_at);
        // Webhooks: the payload's timestamp as it is.
        let hook = Context { webhook: true, ..c2 };
        assert_eq!(event_time(&call, &hook).expect("t"), "2026-11-02T13:00:00Z".parse::<DateTime<Utc>>().expect("t"));
        let bad = obj(json!({"timestamp": "yesterday"}));
        assert_eq!(event_time(&bad, &c).expect_err("bad").reason, Reason::BadTimestamp);
    }

    #[test]
    fn track_page_screen_become_usage_events_ingest_accepts() {
        let t = TraitMap::default();
        let c = ctx(&t, None);
        let cases = [
            (
                CallType::Track,
                json!({"messageId":"m1","userId":"u1","event":"Report Viewed","context":{"groupId":"acme"},"properties":{"feature":"reports"}}),
                "Report Viewed",
                "acme",
            ),
            (
                CallType::Page,
                json!({"messageId":"m2","anonymousId":"a1","name":"Home","properties":{"account_id":"acme"}}),
                "page:Home",
                "acme",
            ),
            (
                CallType::Screen,
                json!({"messageId":"m3","userId":"u1","properties":{"company":{"id":"globex"}}}),
                "screen",
                "globex",
            ),
        ];
        for (kind, call, event, account) in cases {
            let m = map_call(&obj(call), kind, &c).expect("mapped");
            let p = payload(&m);
            assert_eq!(p["event"], event);
            assert_eq!(p["account_id"], account);
            assert!(p["event_id"].as_str().expect("id").starts_with("web:m"));
            let bytes = serde_json::to_vec(&p).expect("bytes");
            match pulse_core::parse_event(&bytes).expect("ingest parses it") {
                pulse_core::Event::Usage(u) => assert_eq!(u.account_id, account),
                other => panic!("not usage: {other:?}"),
            }
        }
        let feature = payload(&map_call(&obj(json!({"messageId":"m1","userId":"u1","event":"e","context":{"groupId":"acme"},"properties":{"feature":"reports"}})), CallType::Track, &c).expect("m"));
        assert_eq!(feature["feature"], "reports");
    }

    #[test]
    fn per_call_problems_are_rejections_with_their_reason() {
        let t = TraitMap::default();
        let c = Context { account_property: None, ..ctx(&t, None) };
        let cases = [
            (CallType::Track, json!({"userId":"u","event":"e"}), Reason::NoAccount),
            (CallType::Track, json!({"event":"e","context":{"groupId":"a"}}), Reason::MissingField),
            (CallType::Track, json!({"userId":"u","context":{"groupId":"a"}}), Reason::MissingField),
            (CallType::Track, json!({"userId":5,"event":"e","context":{"groupId":"a"}}), Reason::WrongType),
            (
                CallType::Track,
                json!({"userId":"u","event":"e","context":{"groupId":"a"},"timestamp":"2026-11-05T00:00:00Z"}),
                Reason::FutureTimestamp,
            ),
            (
                CallType::Track,
                json!({"userId":"u","event":"e","context":{"groupId":"a"},"properties":[]}),
                Reason::WrongType,
            ),
            (
                CallType::Track,
                json!({"messageId":7,"userId":"u","event":"e","context":{"groupId":"a"}}),
                Reason::WrongType,
            ),
            (CallType::Group, json!({"traits":{}}), Reason::MissingField),
            (CallType::Group, json!({"groupId":"a","traits":{"seats":"many"}}), Reason::WrongType),
            (CallType::Group, json!({"groupId":"a","traits":{"renewal_on":"soon"}}), Reason::WrongType),
            (CallType::Group, json!({"groupId":"a","traits":{"lifecycle_stage":"bored"}}), Reason::InvalidValue),
        ];
        for (kind, call, reason) in cases {
            let got = map_call(&obj(call.clone()), kind, &c).expect_err(&call.to_string());
            assert_eq!(got.reason, reason, "{call}: {}", got.detail);
        }
    }

    #[test]
    fn group_traits_map_to_account_attributes_and_null_or_absent_ones_are_left_out() {
        let t = TraitMap::default();
        let c = ctx(&t, None);
        let call = json!({"messageId":"g1","groupId":"acme","traits":{"name":"Acme","seats":"25","arr":"1200.5",
            "renewal_on":"2027-01-31T23:30:00-05:00","csm":null,"plan":"gold"}});
        let m = map_call(&obj(call), CallType::Group, &c).expect("mapped");
        let p = payload(&m);
        assert_eq!(p["licensed_seats"], 25);
        assert_eq!(p["arr"], 1200.5);
        assert_eq!(p["renewal_on"], "2027-02-01");
        assert_eq!(p["name"], "Acme");
        assert!(p.get("csm").is_none() && p.get("segment").is_none() && p.get("plan").is_none());
        let bytes = serde_json::to_vec(&p).expect("bytes");
        match pulse_core::parse_event(&bytes).expect("ingest parses it") {
            pulse_core::Event::Account(a) => assert_eq!(a.licensed_seats, Some(25)),
            other => panic!("not an account event: {other:?}"),
        }
        // `licensed_seats` is read when `seats` is absent.
        let p = payload(
            &map_call(&obj(json!({"groupId":"acme","traits":{"licensed_seats":3}})), CallType::Group, &c).expect("m"),
        );
        assert_eq!(p["licensed_seats"], 3);
    }

    #[test]
    fn identify_and_alias_are_acknowledged_and_missing_ids_minted() {
        let t = TraitMap::default();
        let c = ctx(&t, None);
        for kind in [CallType::Identify, CallType::Alias] {
            let m = map_call(&obj(json!({"userId":"u"})), kind, &c).expect("ok");
            assert_eq!(m.output, Output::Acknowledged);
            assert!(m.minted_id);
        }
        let m = map_call(&obj(json!({"userId":"u","event":"e","context":{"groupId":"a"}})), CallType::Track, &c)
            .expect("ok");
        assert!(m.minted_id);
        assert!(payload(&m)["event_id"].as_str().expect("id").starts_with("web:minted-"));
    }
}
