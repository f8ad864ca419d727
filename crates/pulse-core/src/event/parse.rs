//! Second pass of parsing: turn the permissive [`Wire`] capture into a typed
//! [`Event`], classifying every problem (see the module doc of `event` for the rules).

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use super::wire::{Any, Wire, WireSeed};
use super::*;

type R<T> = Result<T, InvalidEvent>;

fn missing(field: &str) -> InvalidEvent {
    InvalidEvent::new(InvalidReason::MissingField, format!("missing field `{field}`"))
}

fn wrong_type(field: &str, expected: &str, got: &Any<'_>) -> InvalidEvent {
    InvalidEvent::new(InvalidReason::WrongType, format!("field `{field}`: expected {expected}, got {}", got.kind()))
}

fn invalid(field: &str, why: impl std::fmt::Display) -> InvalidEvent {
    InvalidEvent::new(InvalidReason::InvalidValue, format!("field `{field}`: {why}"))
}

/// Parse one input message (native JSON or Segment `track`) and validate it against
/// SPEC §1. Pure: needs no clock (see [`check_skew`] for the one check that does).
pub fn parse_event(bytes: &[u8]) -> Result<Event, InvalidEvent> {
    // serde would read a JSON array as a struct by position: only objects go on.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            Ok(_) => InvalidEvent::new(InvalidReason::NotObject, "the event must be a JSON object"),
            Err(e) => InvalidEvent::new(InvalidReason::NotJson, format!("not valid JSON: {e}")),
        });
    }
    // Validating UTF-8 once for the whole input (fast, word-at-a-time for ASCII) lets
    // serde_json skip validating every string separately.
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => return Err(InvalidEvent::new(InvalidReason::NotJson, format!("not valid UTF-8: {e}"))),
    };
    let mut wire = Wire::default();
    let mut de = serde_json::Deserializer::from_str(text);
    if let Err(e) = serde::de::DeserializeSeed::deserialize(WireSeed(&mut wire), &mut de).and_then(|()| de.end()) {
        return Err(classify_json_error(&e));
    }
    let ty = match wire.ty.take() {
        None => return Err(missing("type")),
        Some(Any::Str(s)) => s,
        Some(other) => return Err(wrong_type("type", "string", &other)),
    };
    match ty.as_ref() {
        "usage" => usage(&mut wire),
        "track" => segment_track(&mut wire),
        "account" => account(&wire),
        "assessment" => assessment(&wire),
        "milestone" => milestone(&wire),
        "training" => training(&wire),
        "kpi" => kpi(&wire),
        "stakeholder" => stakeholder(&wire),
        "ticket" => ticket(&wire),
        "renewal" => renewal(&wire),
        other => Err(InvalidEvent::new(InvalidReason::UnknownType, format!("unknown type `{}`", truncate(other, 64)))),
    }
}

/// Reject a timestamp more than `max_skew` ahead of `now` (the services' wall
/// clock, passed in because the core never reads one).
pub fn check_skew(ts: DateTime<Utc>, now: DateTime<Utc>, max_skew: chrono::Duration) -> Result<(), InvalidEvent> {
    let ahead = ts.signed_duration_since(now);
    if ahead > max_skew {
        return Err(InvalidEvent::new(
            InvalidReason::FutureTimestamp,
            format!(
                "field `timestamp`: {} is {}s ahead of now {} (max skew {}s)",
                ts.to_rfc3339(),
                ahead.num_seconds(),
                now.to_rfc3339(),
                max_skew.num_seconds()
            ),
        ));
    }
    Ok(())
}

fn truncate(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some((i, _)) => Cow::Owned(format!("{}...", &s[..i])),
    }
}

/// For an input starting with `{`, serde_json fails only for syntax (not JSON) or a
/// repeated key (our capture accepts any value for every field).
fn classify_json_error(e: &serde_json::Error) -> InvalidEvent {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            InvalidEvent::new(InvalidReason::NotJson, format!("not valid JSON: {e}"))
        }
        Category::Data => InvalidEvent::new(InvalidReason::InvalidValue, format!("{e}")),
    }
}

fn check_len(field: &str, s: &str, max: usize) -> R<()> {
    // Bytes >= chars, so the char count is only needed for long byte strings.
    if s.len() > max {
        let n = s.chars().count();
        if n > max {
            return Err(InvalidEvent::new(
                InvalidReason::OversizeField,
                format!("field `{field}`: {n} chars, max {max}"),
            ));
        }
    }
    Ok(())
}

fn opt_str(field: &str, v: &Option<Any<'_>>, max: usize) -> R<Option<String>> {
    match v {
        None => Ok(None),
        Some(Any::Str(s)) => {
            check_len(field, s, max)?;
            Ok(Some(s.as_ref().to_owned()))
        }
        Some(other) => Err(wrong_type(field, "string", other)),
    }
}

fn req_str(field: &str, v: &Option<Any<'_>>, max: usize) -> R<String> {
    match opt_str(field, v, max)? {
        None => Err(missing(field)),
        Some(s) if s.is_empty() => Err(invalid(field, "must not be empty")),
        Some(s) => Ok(s),
    }
}

fn opt_f64(field: &str, v: &Option<Any<'_>>) -> R<Option<f64>> {
    let x = match v {
        None => return Ok(None),
        Some(Any::U64(n)) => *n as f64,
        Some(Any::I64(n)) => *n as f64,
        Some(Any::F64(n)) => *n,
        Some(other) => return Err(wrong_type(field, "number", other)),
    };
    if !x.is_finite() {
        return Err(invalid(field, "must be finite"));
    }
    Ok(Some(x))
}

fn req_f64(field: &str, v: &Option<Any<'_>>) -> R<f64> {
    opt_f64(field, v)?.ok_or_else(|| missing(field))
}

fn out_of_range(field: &str, why: impl std::fmt::Display) -> InvalidEvent {
    InvalidEvent::new(InvalidReason::OutOfRange, format!("field `{field}`: {why}"))
}

/// Money and KPI numbers: at most [`MAX_ABS_AMOUNT`] in absolute value (SPEC v3 §1).
fn amount(field: &str, x: f64) -> R<f64> {
    if x.abs() > MAX_ABS_AMOUNT {
        return Err(out_of_range(field, format_args!("{x} is beyond ±1e15")));
    }
    Ok(x)
}

fn in_range(field: &str, x: f64, lo: f64, hi: f64) -> R<f64> {
    if x < lo || x > hi {
        return Err(invalid(field, format_args!("{x} is outside {lo}..={hi}")));
    }
    Ok(x)
}

fn opt_bool(field: &str, v: &Option<Any<'_>>) -> R<Option<bool>> {
    match v {
        None => Ok(None),
        Some(Any::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(wrong_type(field, "boolean", other)),
    }
}

fn opt_date(field: &str, v: &Option<Any<'_>>) -> R<Option<NaiveDate>> {
    match v {
        None => Ok(None),
        Some(Any::Str(s)) => {
            let day = NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|_| invalid(field, format_args!("`{}` is not a YYYY-MM-DD date", truncate(s, 40))))?;
            if !date_in_range(day) {
                return Err(out_of_range(field, format_args!("{day} is outside {MIN_DATE}..={MAX_DATE}")));
            }
            Ok(Some(day))
        }
        Some(other) => Err(wrong_type(field, "string (YYYY-MM-DD)", other)),
    }
}

fn req_timestamp(field: &str, v: &Option<Any<'_>>) -> R<DateTime<Utc>> {
    match v {
        None => Err(missing(field)),
        // chrono also takes a space between date and time; RFC 3339 (and the schema's
        // pattern) want `T` or `t`.
        Some(Any::Str(s)) if !matches!(s.as_bytes().get(10), Some(b'T' | b't')) => Err(InvalidEvent::new(
            InvalidReason::BadTimestamp,
            format!("field `{field}`: `{}` is not RFC 3339 with offset (no `T` after the date)", truncate(s, 40)),
        )),
        Some(Any::Str(s)) => {
            let ts = DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).map_err(|e| {
                InvalidEvent::new(
                    InvalidReason::BadTimestamp,
                    format!("field `{field}`: `{}` is not RFC 3339 with offset ({e})", truncate(s, 40)),
                )
            })?;
            if !timestamp_in_range(ts) {
                return Err(out_of_range(
                    field,
                    format_args!("`{}` is outside {MIN_DATE}..={MAX_DATE} (UTC)", truncate(s, 40)),
                ));
            }
            Ok(ts)
        }
        Some(other) => Err(wrong_type(field, "string (RFC 3339)", other)),
    }
}

/// A string enum: `parse` maps the accepted spellings.
fn opt_enum<T>(field: &str, v: &Option<Any<'_>>, allowed: &str, parse: impl Fn(&str) -> Option<T>) -> R<Option<T>> {
    match v {
        None => Ok(None),
        Some(Any::Str(s)) => parse(s)
            .map(Some)
            .ok_or_else(|| invalid(field, format_args!("`{}` is not one of {allowed}", truncate(s, 40)))),
        Some(other) => Err(wrong_type(field, "string", other)),
    }
}

fn req_enum<T>(field: &str, v: &Option<Any<'_>>, allowed: &str, parse: impl Fn(&str) -> Option<T>) -> R<T> {
    opt_enum(field, v, allowed, parse)?.ok_or_else(|| missing(field))
}

/// The fields every native event carries.
struct Common {
    event_id: String,
    account_id: String,
    timestamp: DateTime<Utc>,
}

fn common(w: &Wire<'_>) -> R<Common> {
    Ok(Common {
        event_id: req_str("event_id", &w.event_id, MAX_ID_CHARS)?,
        account_id: req_str("account_id", &w.account_id, MAX_ID_CHARS)?,
        timestamp: req_timestamp("timestamp", &w.timestamp)?,
    })
}

fn properties(v: Option<Value>) -> R<Value> {
    match v {
        None => Ok(Value::Object(serde_json::Map::new())),
        Some(p @ Value::Object(_)) => Ok(p),
        Some(other) => {
            let kind = match other {
                Value::Array(_) => "array",
                Value::String(_) => "string",
                Value::Number(_) => "number",
                Value::Bool(_) => "boolean",
                _ => "null",
            };
            Err(InvalidEvent::new(InvalidReason::WrongType, format!("field `properties`: expected object, got {kind}")))
        }
    }
}

/// An empty feature is treated as absent: "no feature" is what producers mean.
fn feature(field: &str, v: &Option<Any<'_>>) -> R<Option<String>> {
    Ok(opt_str(field, v, MAX_FEATURE_CHARS)?.filter(|f| !f.is_empty()))
}

fn usage(w: &mut Wire<'_>) -> R<Event> {
    let c = common(w)?;
    Ok(Event::Usage(UsageEvent {
        event_id: c.event_id,
        account_id: c.account_id,
        user_id: req_str("user_id", &w.user_id, MAX_ID_CHARS)?,
        event: req_str("event", &w.event, MAX_EVENT_NAME_CHARS)?,
        feature: feature("feature", &w.feature)?,
        timestamp: c.timestamp,
        properties: properties(w.properties.take())?,
    }))
}

fn segment_track(w: &mut Wire<'_>) -> R<Event> {
    let event_id = req_str("messageId", &w.message_id, MAX_ID_CHARS)?;
    // Both ids are checked when present (as the schema does), even when userId wins.
    let anonymous_id = match &w.anonymous_id {
        Some(_) => Some(req_str("anonymousId", &w.anonymous_id, MAX_ID_CHARS)?),
        None => None,
    };
    let user_id = match (&w.seg_user_id, anonymous_id) {
        (Some(_), _) => req_str("userId", &w.seg_user_id, MAX_ID_CHARS)?,
        (None, Some(a)) => a,
        (None, None) => return Err(missing("userId")),
    };
    let event = req_str("event", &w.event, MAX_EVENT_NAME_CHARS)?;
    let timestamp = req_timestamp("timestamp", &w.timestamp)?;
    let props = properties(w.properties.take())?;

    let group = match &w.context {
        None => None,
        Some(ctx) if !ctx.is_object => {
            return Err(InvalidEvent::new(InvalidReason::WrongType, "field `context`: expected object"))
        }
        Some(ctx) => opt_str("context.groupId", &ctx.group_id, MAX_ID_CHARS)?,
    };
    let account_id = match group.filter(|g| !g.is_empty()) {
        Some(g) => g,
        None => match props.get("account_id") {
            None | Some(Value::Null) => return Err(missing("context.groupId")),
            Some(Value::String(s)) if s.is_empty() => {
                return Err(invalid("properties.account_id", "must not be empty"))
            }
            Some(Value::String(s)) => {
                check_len("properties.account_id", s, MAX_ID_CHARS)?;
                s.clone()
            }
            Some(_) => {
                return Err(InvalidEvent::new(
                    InvalidReason::WrongType,
                    "field `properties.account_id`: expected string",
                ))
            }
        },
    };
    // The top-level `feature` is checked even when `properties.feature` replaces it.
    let top_feature = feature("feature", &w.feature)?;
    let feature = match props.get("feature") {
        None | Some(Value::Null) => top_feature,
        Some(Value::String(s)) => {
            check_len("properties.feature", s, MAX_FEATURE_CHARS)?;
            Some(s.clone()).filter(|f| !f.is_empty())
        }
        Some(_) => {
            return Err(InvalidEvent::new(InvalidReason::WrongType, "field `properties.feature`: expected string"))
        }
    };
    Ok(Event::Usage(UsageEvent { event_id, account_id, user_id, event, feature, timestamp, properties: props }))
}

fn account(w: &Wire<'_>) -> R<Event> {
    let c = common(w)?;
    let licensed_seats = match opt_f64("licensed_seats", &w.licensed_seats)? {
        None => None,
        Some(x) => {
            if x.fract() != 0.0 {
                return Err(invalid("licensed_seats", format_args!("{x} is not an integer")));
            }
            if x < 0.0 {
                return Err(invalid("licensed_seats", "must be >= 0"));
            }
            if x > MAX_SEATS as f64 {
                return Err(out_of_range("licensed_seats", format_args!("{x} is over {MAX_SEATS}")));
            }
            Some(x as u64)
        }
    };
    let arr = match opt_f64("arr", &w.arr)? {
        Some(x) if x < 0.0 => return Err(invalid("arr", "must be >= 0")),
        Some(x) => Some(amount("arr", x)?),
        None => None,
    };
    Ok(Event::Account(AccountEvent {
        event_id: c.event_id,
        account_id: c.account_id,
        timestamp: c.timestamp,
        name: opt_str("name", &w.name, MAX_NAME_CHARS)?,
        licensed_seats,
        usage_profile: opt_enum("usage_profile", &w.usage_profile, "daily, weekly, periodic", |s| match s {
            "daily" => Some(UsageProfile::Daily),
            "weekly" => Some(UsageProfile::Weekly),
            "periodic" => Some(UsageProfile::Periodic),
            _ => None,
        })?,
        segment: opt_str("segment", &w.segment, MAX_SEGMENT_CHARS)?,
        arr,
        csm: opt_str("csm", &w.csm, MAX_NAME_CHARS)?,
        lifecycle_stage: opt_enum(
            "lifecycle_stage",
            &w.lifecycle_stage,
            "onboarding, adoption, expansion, renewal, churned",
            |s| match s {
                "onboarding" => Some(LifecycleStage::Onboarding),
                "adoption" => Some(LifecycleStage::Adoption),
                "expansion" => Some(LifecycleStage::Expansion),
                "renewal" => Some(LifecycleStage::Renewal),
                "churned" => Some(LifecycleStage::Churned),
                _ => None,
            },
        )?,
        onboarding_started_on: opt_date("onboarding_started_on", &w.onboarding_started_on)?,
        target_graduation_on: opt_date("target_graduation_on", &w.target_graduation_on)?,
        renewal_on: opt_date("renewal_on", &w.renewal_on)?,
    }))
}

fn parse_dimension(s: &str) -> Option<Dimension> {
    Dimension::ALL.into_iter().find(|d| d.as_str() == s)
}

fn assessment(w: &Wire<'_>) -> R<Event> {
    let c = common(w)?;
    Ok(Event::Assessment(AssessmentEvent {
        event_id: c.event_id,
        account_id: c.account_id,
        timestamp: c.timestamp,
        dimension: req_enum(
            "dimension",
            &w.dimension,
            "technical, knowledge, usage, value, stakeholder",
            parse_dimension,
        )?,
        score: in_range("score", req_f64("score", &w.score)?, 0.0, 10.0)?,
        author: req_str("author", &w.author, MAX_NAME_CHARS)?,
        note: opt_str("note", &w.note, MAX_NOTE_CHARS)?,
        expires_on: opt_date("expires_on", &w.expires_on)?,
    }))
}

fn milestone(w: &Wire<'_>) -> R<Event> {
    let c = common(w)?;
    Ok(Event::Milestone(MilestoneEvent {
        event_id: c.event_id,
        account_id: c.account_id,
        timestamp: c.timestamp,
        item: req_str("item", &w.item, MAX_KEY_CHARS)?,
        status: req_enum("status", &w.status, "done, pending, blocked", |s| match s {
            "done" => Some(MilestoneStatus::Done),
            "pending" => Some(MilestoneStatus::Pending),
            "blocked" => Some(MilestoneStatus::Blocked),
            _ => None,
        })?,
        note: opt_str("note", &w.note, MAX_NOTE_CHARS)?,
    }))
}

fn training(w: &Wire<'_>) -> R<Event> {
    let c = common(w)?;
    let score_pct = match opt_f64("score_pct", &w.score_pct)? {
        None => None,
        Some(x) => Some(in_range("score_pct", x, 0.0, 100.0)?),
    };
    Ok(Event::Training(TrainingEvent {
        event_id: c.event_id,
        account_id: c.account_id,
        timestamp: c.timestamp,
        user_id: req_str("user_id", &w.user_id, MAX_ID_CHARS)?,
        module: req_str("module", &w.module, MAX_KEY_CHARS)?,
        score_pct,
    }))
}

fn kpi(w: &Wire<'_>) -> R<Event> {
    let c = common(w)?;
    let baseline = amount("baseline", req_f64("baseline", &w.baseline)?)?;
    let target = amount("target", req_f64("target", &w.target)?)?;
    if target == baseline {
        return Err(invalid("target", "must differ from `baseline` (no improvement to measure)"));
    }
    Ok(Event::Kpi(KpiEvent {
        event_id: c.event_id,
        account_id: c.account_id,
        timestamp: c.timestamp,
        kpi: req_str("kpi", &w.kpi, MAX_KEY_CHARS)?,
        baseline,
        target,
        value: amount("value", req_f64("value", &w.value)?)?,
        confirmed: opt_bool("confirmed", &w.confirmed)?.unwrap_or(false),
        unit: opt_str("unit", &w.unit, MAX_UNIT_CHARS)?,
    }))
}

fn stakeholder(w: &Wire<'_>) -> R<Event> {
    let c = common(w)?;
    Ok(Event::Stakeholder(StakeholderEvent {
        event_id: c.event_id,
        account_id: c.account_id,
        timestamp: c.timestamp,
        role: req_enum("role", &w.role, "champion, executive_sponsor", |s| match s {
            "champion" => Some(StakeholderRole::Champion),
            "executive_sponsor" => Some(StakeholderRole::ExecutiveSponsor),
            _ => None,
        })?,
        person: req_str("person", &w.person, MAX_NAME_CHARS)?,
        status: req_enum("status", &w.status, "active, left", |s| match s {
            "active" => Some(StakeholderStatus::Active),
            "left" => Some(StakeholderStatus::Left),
            _ => None,
        })?,
        sentiment: opt_enum("sentiment", &w.sentiment, "positive, neutral, negative", |s| match s {
            "positive" => Some(Sentiment::Positive),
            "neutral" => Some(Sentiment::Neutral),
            "negative" => Some(Sentiment::Negative),
            _ => None,
        })?,
    }))
}

fn ticket(w: &Wire<'_>) -> R<Event> {
    let c = common(w)?;
    Ok(Event::Ticket(TicketEvent {
        event_id: c.event_id,
        account_id: c.account_id,
        timestamp: c.timestamp,
        ticket_id: req_str("ticket_id", &w.ticket_id, MAX_KEY_CHARS)?,
        severity: req_enum("severity", &w.severity, "critical, high, normal, low", |s| match s {
            "critical" => Some(TicketSeverity::Critical),
            "high" => Some(TicketSeverity::High),
            "normal" => Some(TicketSeverity::Normal),
            "low" => Some(TicketSeverity::Low),
            _ => None,
        })?,
        status: req_enum("status", &w.status, "open, resolved", |s| match s {
            "open" => Some(TicketStatus::Open),
            "resolved" => Some(TicketStatus::Resolved),
            _ => None,
        })?,
    }))
}

fn renewal(w: &Wire<'_>) -> R<Event> {
    let c = common(w)?;
    let arr = |field: &str, v: &Option<Any<'_>>| -> R<f64> {
        let x = req_f64(field, v)?;
        if x < 0.0 {
            return Err(invalid(field, "must be >= 0"));
        }
        amount(field, x)
    };
    Ok(Event::Renewal(RenewalEvent {
        event_id: c.event_id,
        account_id: c.account_id,
        timestamp: c.timestamp,
        outcome: req_enum("outcome", &w.outcome, "renewed, churned, contracted, expanded", |s| {
            RenewalOutcome::ALL.into_iter().find(|o| o.as_str() == s)
        })?,
        renewal_on: opt_date("renewal_on", &w.renewal_on)?.ok_or_else(|| missing("renewal_on"))?,
        arr_before: arr("arr_before", &w.arr_before)?,
        arr_after: arr("arr_after", &w.arr_after)?,
        reason: opt_str("reason", &w.reason, MAX_NOTE_CHARS)?,
    }))
}
