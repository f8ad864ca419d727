//! A hostile-input corpus for the real pipeline (issue 19 item 6): messages that must each
//! be dead-lettered by ingest with a reason, never stored, forwarded or allowed to stop a
//! service, plus a few *boundary-valid* lines (the largest ids, dates and numbers Pulse
//! accepts, deep nesting where it is ignored) that must be stored and scored like any
//! other valid line.
//!
//! Every hostile message says what it expects ([`Expect`]); [`Hostile::check`] confirms it
//! with the parser itself (`pulse_core::parse_event`), so the corpus cannot silently drift
//! from what ingest decides.

use chrono::{DateTime, NaiveDate, Utc};

/// Which input topic a message is sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    Usage,
    Crm,
}

/// What ingest must do with a hostile message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The parser refuses it with this reason (checked with `parse_event`).
    Parser(&'static str),
    /// The parser refuses it; which reason is its call (`1e400`, deep nesting, a BOM...).
    ParserInvalid,
    /// Over `ingest.max_message_bytes`: `oversize_message`, not parsed at all.
    OverMaxMessage,
    /// Valid for the parser, but its normalized JSON is over the producer's
    /// `message.max.bytes` (JSON numbers come out longer than they went in):
    /// `oversize_message`, else the forward would be refused by the broker forever.
    NormalizedTooLarge,
    /// Valid for the parser, but more than ingest's skew (1 day) ahead of the clock.
    Future,
}

impl Expect {
    /// The dead-letter reason this expectation fixes, if it fixes one.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            Expect::Parser(r) => Some(r),
            Expect::ParserInvalid => None,
            Expect::OverMaxMessage | Expect::NormalizedTooLarge => Some("oversize_message"),
            Expect::Future => Some("future_timestamp"),
        }
    }
}

/// One hostile Kafka message.
#[derive(Debug, Clone)]
pub struct Hostile {
    /// The issue's category (`out_of_range_date`, `control_characters`, ...).
    pub category: &'static str,
    /// What is hostile about it, for failure messages.
    pub what: String,
    pub topic: Topic,
    pub key: Option<Vec<u8>>,
    /// `None`: a record with no value at all (a tombstone).
    pub payload: Option<Vec<u8>>,
    pub expect: Expect,
}

/// librdkafka's default `message.max.bytes`, which the spawned ingest's producer keeps:
/// a normalized event larger than this can never be forwarded, whatever room ingest
/// reserves beside it.
pub const PRODUCER_MESSAGE_MAX_BYTES: usize = 1_000_000;

/// Ingest's default skew for `future_timestamp`.
const MAX_SKEW_SECS: i64 = 86_400;

impl Hostile {
    /// The bytes ingest sees (a record without a value reads as empty).
    pub fn bytes(&self) -> &[u8] {
        self.payload.as_deref().unwrap_or(&[])
    }

    /// Confirms the expectation with the parser: the reason it gives, or that it refuses
    /// at all; for the expectations decided after parsing, that the parser accepts it
    /// and the later check applies.
    pub fn check(&self, now: DateTime<Utc>, max_message_bytes: usize) -> Result<(), String> {
        let bytes = self.bytes();
        if self.expect == Expect::OverMaxMessage {
            return if bytes.len() > max_message_bytes {
                Ok(())
            } else {
                Err(format!("{} bytes is not over ingest.max_message_bytes = {max_message_bytes}", bytes.len()))
            };
        }
        if bytes.len() > max_message_bytes {
            return Err(format!("{} bytes: ingest would refuse it unparsed, not for {:?}", bytes.len(), self.expect));
        }
        let parsed = pulse_core::parse_event(bytes);
        match (self.expect, parsed) {
            (Expect::Parser(want), Err(e)) if e.reason.as_str() == want => Ok(()),
            (Expect::Parser(want), Err(e)) => Err(format!("the parser says {} ({}), not {want}", e.reason, e.detail)),
            (Expect::ParserInvalid, Err(_)) => Ok(()),
            (Expect::Future, Ok(ev)) if ev.timestamp() > now + chrono::Duration::seconds(MAX_SKEW_SECS) => Ok(()),
            (Expect::Future, Ok(ev)) => Err(format!("timestamp {} is not over a day ahead", ev.timestamp())),
            (Expect::NormalizedTooLarge, Ok(ev)) => {
                let n = serde_json::to_vec(&ev).map_err(|e| e.to_string())?.len();
                if n > PRODUCER_MESSAGE_MAX_BYTES {
                    Ok(())
                } else {
                    Err(format!("normalized to {n} bytes only"))
                }
            }
            (_, Err(e)) => {
                Err(format!("the parser refuses it ({}: {}), not what {:?} says", e.reason, e.detail, self.expect))
            }
            (_, Ok(_)) => Err(format!("the parser accepts it, yet {:?} says it refuses it", self.expect)),
        }
    }
}

/// A JSON string literal.
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// An object from (key, raw JSON value) pairs, in order (so keys may repeat).
fn obj(fields: &[(&str, String)]) -> String {
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("{}:{v}", q(k))).collect();
    format!("{{{}}}", body.join(","))
}

/// `fields` with `key` set to `value` (replaced in place, else appended).
fn with(mut fields: Vec<(&'static str, String)>, key: &'static str, value: String) -> Vec<(&'static str, String)> {
    match fields.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => fields.push((key, value)),
    }
    fields
}

fn without(mut fields: Vec<(&'static str, String)>, key: &str) -> Vec<(&'static str, String)> {
    fields.retain(|(k, _)| *k != key);
    fields
}

/// Builds the corpus around valid templates of each event type.
struct Gen<'a> {
    accounts: &'a [String],
    ts: String,
    n: usize,
    out: Vec<Hostile>,
}

impl Gen<'_> {
    fn id(&mut self) -> String {
        self.n += 1;
        q(&format!("hostile-{:04}", self.n))
    }

    fn account(&self, i: usize) -> String {
        q(&self.accounts[i % self.accounts.len()])
    }

    fn usage(&mut self, i: usize) -> Vec<(&'static str, String)> {
        vec![
            ("type", q("usage")),
            ("event_id", self.id()),
            ("account_id", self.account(i)),
            ("user_id", q("u-hostile")),
            ("event", q("report.viewed")),
            ("feature", q("reports")),
            ("timestamp", q(&self.ts)),
        ]
    }

    fn track(&mut self, i: usize) -> Vec<(&'static str, String)> {
        vec![
            ("type", q("track")),
            ("messageId", self.id()),
            ("userId", q("u-hostile")),
            ("event", q("report.viewed")),
            ("timestamp", q(&self.ts)),
            ("context", format!("{{\"groupId\":{}}}", self.account(i))),
            ("properties", "{\"feature\":\"reports\"}".into()),
        ]
    }

    fn crm(&mut self, ty: &str, i: usize) -> Vec<(&'static str, String)> {
        let mut f =
            vec![("type", q(ty)), ("event_id", self.id()), ("account_id", self.account(i)), ("timestamp", q(&self.ts))];
        let extra: &[(&'static str, &str)] = match ty {
            "account" => &[("name", "\"Hostile Inc\""), ("licensed_seats", "10")],
            "assessment" => &[("dimension", "\"technical\""), ("score", "7"), ("author", "\"csm\"")],
            "renewal" => &[
                ("outcome", "\"renewed\""),
                ("renewal_on", "\"2026-01-01\""),
                ("arr_before", "1000"),
                ("arr_after", "1000"),
            ],
            "kpi" => &[("kpi", "\"tickets_deflected\""), ("baseline", "10"), ("target", "20"), ("value", "15")],
            "training" => &[("user_id", "\"u-1\""), ("module", "\"basics\""), ("score_pct", "90")],
            "ticket" => &[("ticket_id", "\"T-1\""), ("severity", "\"high\""), ("status", "\"open\"")],
            _ => &[],
        };
        f.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        f
    }

    fn push(
        &mut self,
        category: &'static str,
        what: impl Into<String>,
        topic: Topic,
        payload: Vec<u8>,
        expect: Expect,
    ) {
        // Keys vary: the account (as producers send), none, a 10,000-character one, one
        // that is not UTF-8, an empty one (ingest re-keys; the dead letter keeps what fits).
        let key = match self.out.len() % 7 {
            4 => None,
            5 => Some(vec![b'k'; 10_000]),
            6 => Some(vec![0xff, 0xfe, b'k']),
            3 => Some(Vec::new()),
            i => Some(self.accounts[(self.out.len() + i) % self.accounts.len()].clone().into_bytes()),
        };
        self.out.push(Hostile { category, what: what.into(), topic, key, payload: Some(payload), expect });
    }

    fn json(&mut self, category: &'static str, what: &str, topic: Topic, fields: &[(&str, String)], expect: Expect) {
        self.push(category, what, topic, obj(fields).into_bytes(), expect);
    }
}

/// The hostile corpus (at least 200 messages, every category of issue 19 item 6) aimed at
/// `accounts` (ids of valid accounts, so an invalid event for a real account must not
/// change its results), timestamped `day` where a timestamp is not the point.
/// `max_message_bytes` is ingest's limit (its default); `now` dates the future ones.
pub fn corpus(accounts: &[String], day: NaiveDate, now: DateTime<Utc>, max_message_bytes: usize) -> Vec<Hostile> {
    assert!(!accounts.is_empty(), "the corpus needs valid account ids");
    let mut g = Gen { accounts, ts: format!("{day}T12:00:00Z"), n: 0, out: Vec::new() };
    use Expect::*;
    use Topic::{Crm, Usage};
    let oor = Parser("out_of_range");

    // Dates outside 1970-01-01..=2149-06-06. The first used to stop the scorer forever
    // ("2150-01-01 cannot be represented as Date").
    for i in 0..4 {
        let cases: [(&str, &str, &'static str, &str); 7] = [
            ("account", "renewal_on", "renewal_on", "\"2150-01-01\""),
            ("account", "renewal_on", "renewal_on", "\"2149-06-07\""),
            ("account", "onboarding_started_on", "onboarding_started_on", "\"1969-12-31\""),
            ("account", "target_graduation_on", "target_graduation_on", "\"9999-12-31\""),
            ("assessment", "expires_on", "expires_on", "\"2150-01-01\""),
            ("renewal", "renewal_on", "renewal_on", "\"2150-01-01\""),
            ("renewal", "renewal_on", "renewal_on", "\"1900-01-01\""),
        ];
        for (ty, what, field, value) in cases {
            let f = with(g.crm(ty, i), field, value.into());
            g.json("out_of_range_date", &format!("{ty} {what} {value}"), Crm, &f, oor);
        }
    }

    // Timestamps whose UTC date is outside the storable range: 1969, 2150, year 9999, year 1,
    // and offsets that move an in-range local time out of range.
    for i in 0..3 {
        for ts in [
            "1969-12-31T23:59:59Z",
            "1970-01-01T00:30:00+01:00",
            "2150-01-01T00:00:00Z",
            "2149-06-06T23:00:00-02:00",
            "9999-12-31T23:59:59Z",
            "0001-01-01T00:00:00Z",
        ] {
            let f = with(g.usage(i), "timestamp", q(ts));
            g.json("out_of_range_timestamp", &format!("usage at {ts}"), Usage, &f, oor);
        }
        let f = with(g.track(i), "timestamp", q("9999-12-31T23:59:59Z"));
        g.json("out_of_range_timestamp", "track in year 9999", Usage, &f, oor);
        let f = with(g.crm("account", i), "timestamp", q("1969-07-20T20:17:40Z"));
        g.json("out_of_range_timestamp", "account event in 1969", Crm, &f, oor);
    }

    // In range, but ahead of the clock.
    for i in 0..2 {
        let soon = (now + chrono::Duration::days(3)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        for ts in ["2149-06-06T12:00:00Z", "2100-01-01T00:00:00Z", soon.as_str()] {
            let f = with(g.usage(i), "timestamp", q(ts));
            g.json("future_timestamp", &format!("usage at {ts}"), Usage, &f, Future);
        }
    }

    // Numbers Pulse cannot store.
    for i in 0..3 {
        let cases: [(&str, &'static str, &str); 9] = [
            ("account", "licensed_seats", "4294967296"),
            ("account", "licensed_seats", "1e300"),
            ("account", "arr", "1e16"),
            ("account", "arr", "1.7976931348623157e308"),
            ("renewal", "arr_before", "1e16"),
            ("renewal", "arr_after", "10000000000000001"),
            ("kpi", "value", "1e16"),
            ("kpi", "baseline", "-1e16"),
            ("kpi", "target", "1e16"),
        ];
        for (ty, field, value) in cases {
            let f = with(g.crm(ty, i), field, value.into());
            g.json("out_of_range_number", &format!("{ty} {field} {value}"), Crm, &f, oor);
        }
    }

    // Negative, fractional, mistyped or out-of-domain numbers.
    for i in 0..2 {
        let cases: [(&str, &'static str, &str, &'static str); 8] = [
            ("account", "licensed_seats", "-5", "invalid_value"),
            ("account", "licensed_seats", "2.5", "invalid_value"),
            ("account", "licensed_seats", "\"50\"", "wrong_type"),
            ("account", "arr", "-1", "invalid_value"),
            ("assessment", "score", "11", "invalid_value"),
            ("assessment", "score", "-0.5", "invalid_value"),
            ("training", "score_pct", "101", "invalid_value"),
            ("kpi", "target", "10", "invalid_value"),
        ];
        for (ty, field, value, reason) in cases {
            let f = with(g.crm(ty, i), field, value.into());
            g.json("bad_number", &format!("{ty} {field} {value}"), Crm, &f, Parser(reason));
        }
    }

    // Numbers JSON cannot hold in a double, and non-JSON number tokens.
    for i in 0..2 {
        for (field, value) in
            [("licensed_seats", "1e400"), ("arr", "-1e400"), ("licensed_seats", "NaN"), ("arr", "Infinity")]
        {
            let f = with(g.crm("account", i), field, value.into());
            g.json("1e400", &format!("account {field} {value}"), Crm, &f, ParserInvalid);
        }
        let f = with(g.crm("kpi", i), "value", "1e400".into());
        g.json("1e400", "kpi value 1e400", Crm, &f, ParserInvalid);
        let f = with(g.usage(i), "properties", "{\"x\":1e400}".into());
        g.json("1e400", "usage properties.x 1e400", Usage, &f, ParserInvalid);
        let f = with(g.track(i), "properties", "{\"feature\":\"reports\",\"n\":-1e400}".into());
        g.json("1e400", "track properties.n -1e400", Usage, &f, ParserInvalid);
    }

    // Lines over ingest.max_message_bytes: 2 MiB (the broker takes them; probed up to 5 MB),
    // and one byte over the limit.
    let pad = |fields: Vec<(&'static str, String)>, field: &'static str, total: usize| {
        let base = obj(&with(fields.clone(), field, q(""))).len();
        obj(&with(fields, field, q(&"x".repeat(total.saturating_sub(base))))).into_bytes()
    };
    let two_mib = 2 * 1024 * 1024;
    let f = g.usage(0);
    let p = pad(with(f, "properties", "{}".into()), "padding", two_mib);
    g.push("oversize_message", "2 MiB usage line", Usage, p, OverMaxMessage);
    let f = g.crm("account", 1);
    let p = pad(f, "name", two_mib);
    g.push("oversize_message", "2 MiB account line", Crm, p, OverMaxMessage);
    g.push("oversize_message", "2 MiB of one byte, not JSON", Usage, vec![b'x'; two_mib], OverMaxMessage);
    let f = g.usage(2);
    let p = pad(f, "padding", max_message_bytes + 1);
    g.push("oversize_message", "one byte over ingest.max_message_bytes", Usage, p, OverMaxMessage);
    // Valid for the parser, but `1e15` is written out as `1000000000000000.0` when the
    // event is normalized: 300 KB in, over 1 MB out.
    let f = with(g.usage(3), "properties", format!("{{\"n\":[{}]}}", vec!["1e15"; 60_000].join(",")));
    g.json(
        "oversize_message",
        "usage whose normalized form is over 1 MB (60,000 x 1e15)",
        Usage,
        &f,
        NormalizedTooLarge,
    );

    // Control characters: ~200 KB of them raw (its dead letter, every byte escaped as six,
    // used to exceed the producer's limit and stop ingest forever), inside JSON strings
    // raw, and as \u0001 escapes in an otherwise invalid event.
    g.push("control_characters", "200 KB of raw 0x01", Usage, vec![0x01; 200_000], Parser("not_json"));
    g.push("control_characters", "200 KB of raw NUL", Crm, vec![0x00; 200_000], Parser("not_json"));
    let all: Vec<u8> = (0..200_000u32).map(|i| (i % 32) as u8).collect();
    g.push("control_characters", "200 KB cycling through 0x00..=0x1f", Usage, all, Parser("not_json"));
    let f = without(with(g.usage(4), "properties", format!("{{\"x\":\"{}\"}}", "\\u0001".repeat(35_000))), "user_id");
    g.json("control_characters", "210 KB of \\u0001 escapes, no user_id", Usage, &f, Parser("missing_field"));
    let f = with(g.crm("wat", 5), "note", format!("\"{}\"", "\\u0001\\u001f\\u0000".repeat(12_000)));
    g.json("control_characters", "216 KB of control escapes, unknown type", Crm, &f, Parser("unknown_type"));
    for i in 0..2 {
        let f = with(g.usage(i), "event", "\"report\u{1}viewed\"".into());
        g.json("control_characters", "raw 0x01 inside a string", Usage, &f, Parser("not_json"));
        let f = with(g.crm("account", i), "name", "\"tab\there\"".into());
        g.json("control_characters", "raw tab inside a string", Crm, &f, Parser("not_json"));
        let mut p = vec![0u8];
        p.extend(obj(&g.usage(i)).into_bytes());
        g.push("control_characters", "NUL before the object", Usage, p, Parser("not_json"));
    }

    // Invalid UTF-8, and JSON escapes that are not Unicode scalar values.
    for i in 0..2 {
        let cases: [(&str, &[u8]); 5] = [
            ("0xff 0xfe in event_id", b"\xff\xfe"),
            ("overlong NUL 0xc0 0x80", b"\xc0\x80"),
            ("truncated 3-byte sequence", b"\xe2\x82"),
            ("Latin-1 e-acute", b"caf\xe9"),
            ("CESU-8 surrogate", b"\xed\xa0\x80"),
        ];
        for (what, bad) in cases {
            let f = g.usage(i);
            let text = obj(&with(f, "event_id", "\"@@\"".into()));
            let mut p = Vec::new();
            let (a, b) = text.split_once("@@").unwrap_or((&text, ""));
            p.extend_from_slice(a.as_bytes());
            p.extend_from_slice(bad);
            p.extend_from_slice(b.as_bytes());
            g.push("invalid_utf8", what, Usage, p, Parser("not_json"));
        }
        let f = with(g.usage(i), "user_id", "\"\\ud800\"".into());
        g.json("invalid_utf8", "lone surrogate escape", Usage, &f, ParserInvalid);
        let utf16: Vec<u8> = obj(&g.usage(i)).encode_utf16().flat_map(u16::to_le_bytes).collect();
        g.push("invalid_utf8", "UTF-16LE JSON", Usage, utf16, ParserInvalid);
    }

    // Deep nesting where the parser builds values (properties; a known field).
    for i in 0..2 {
        let arrays = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let f = with(g.usage(i), "properties", format!("{{\"deep\":{arrays}}}"));
        g.json("deep_nesting", "10,000 nested arrays in properties", Usage, &f, ParserInvalid);
        let objects = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
        let f = with(g.track(i), "properties", objects);
        g.json("deep_nesting", "10,000 nested objects as track properties", Usage, &f, ParserInvalid);
        let f = with(g.crm("account", i), "name", arrays.clone());
        g.json("deep_nesting", "10,000 nested arrays as the account name", Crm, &f, ParserInvalid);
        g.push("deep_nesting", "100,000 unclosed [", Usage, vec![b'['; 100_000], ParserInvalid);
        g.push("deep_nesting", "10,000 nested arrays at the top", Crm, arrays.into_bytes(), ParserInvalid);
    }

    // A byte-order mark before an otherwise valid event.
    for i in 0..2 {
        let mut p = b"\xef\xbb\xbf".to_vec();
        p.extend(obj(&g.usage(i)).into_bytes());
        g.push("bom", "UTF-8 BOM before a valid usage event", Usage, p, Parser("not_json"));
        let mut p = b"\xef\xbb\xbf".to_vec();
        p.extend(obj(&g.crm("account", i)).into_bytes());
        g.push("bom", "UTF-8 BOM before a valid account event", Crm, p, Parser("not_json"));
        let mut p = b"\xef\xbb\xbf \n".to_vec();
        p.extend(obj(&g.track(i)).into_bytes());
        g.push("bom", "UTF-8 BOM and whitespace before a valid track call", Usage, p, Parser("not_json"));
        let mut p = b"\xfe\xff".to_vec();
        p.extend(obj(&g.usage(i)).into_bytes());
        g.push("bom", "UTF-16 BE BOM before a UTF-8 event", Usage, p, Parser("not_json"));
    }

    // Empty and not-an-object messages.
    for topic in [Usage, Crm] {
        g.push("empty", "empty payload", topic, Vec::new(), Parser("not_json"));
        let n = g.out.len();
        g.push("empty", "no value at all (tombstone)", topic, Vec::new(), Parser("not_json"));
        g.out[n].payload = None;
        g.push("empty", "whitespace only", topic, b" \t\r\n ".to_vec(), Parser("not_json"));
        g.push("empty", "a newline", topic, b"\n".to_vec(), Parser("not_json"));
        g.push("empty", "null", topic, b"null".to_vec(), Parser("not_object"));
        g.push("empty", "empty array", topic, b"[]".to_vec(), Parser("not_object"));
        g.push("empty", "empty string", topic, b"\"\"".to_vec(), Parser("not_object"));
        g.push("empty", "a number", topic, b"0".to_vec(), Parser("not_object"));
        g.push("empty", "empty object", topic, b"{}".to_vec(), Parser("missing_field"));
    }

    // Repeated keys at the top level.
    for i in 0..2 {
        let mut f = g.usage(i);
        f.insert(0, ("type", q("usage")));
        g.json("duplicate_keys", "type twice", Usage, &f, Parser("invalid_value"));
        let mut f = g.usage(i);
        f.push(("event_id", q("another-id")));
        g.json("duplicate_keys", "event_id twice, different", Usage, &f, Parser("invalid_value"));
        let mut f = g.usage(i);
        f.push(("account_id", g.account(i + 1)));
        g.json("duplicate_keys", "account_id twice, another account", Usage, &f, Parser("invalid_value"));
        let mut f = g.usage(i);
        f.push(("timestamp", q("2020-01-01T00:00:00Z")));
        g.json("duplicate_keys", "timestamp twice", Usage, &f, Parser("invalid_value"));
        let mut f = g.crm("account", i);
        f.push(("licensed_seats", "1000".into()));
        g.json("duplicate_keys", "licensed_seats twice", Crm, &f, Parser("invalid_value"));
        let mut f = g.track(i);
        f.push(("messageId", q("m-again")));
        g.json("duplicate_keys", "messageId twice", Usage, &f, Parser("invalid_value"));
    }

    // 10,000-character ids and keys.
    let long = q(&"i".repeat(10_000));
    let long_multibyte = q(&"é".repeat(10_000));
    for i in 0..2 {
        for field in ["event_id", "account_id", "user_id"] {
            let f = with(g.usage(i), field, long.clone());
            g.json("oversize_id", &format!("10,000-char {field}"), Usage, &f, Parser("oversize_field"));
        }
        let f = with(g.usage(i), "account_id", long_multibyte.clone());
        g.json("oversize_id", "10,000 two-byte chars as account_id", Usage, &f, Parser("oversize_field"));
        let f = with(g.track(i), "messageId", long.clone());
        g.json("oversize_id", "10,000-char messageId", Usage, &f, Parser("oversize_field"));
        let f = with(g.track(i), "context", format!("{{\"groupId\":{long}}}"));
        g.json("oversize_id", "10,000-char context.groupId", Usage, &f, Parser("oversize_field"));
        let f = with(without(g.track(i), "context"), "properties", format!("{{\"account_id\":{long}}}"));
        g.json("oversize_id", "10,000-char properties.account_id", Usage, &f, Parser("oversize_field"));
        let f = with(g.crm("ticket", i), "ticket_id", long.clone());
        g.json("oversize_id", "10,000-char ticket_id", Crm, &f, Parser("oversize_field"));
    }

    // Segment calls with the wrong types (and Segment calls Pulse does not take).
    for i in 0..2 {
        let cases: [(&'static str, &str, &'static str); 10] = [
            ("userId", "12345", "wrong_type"),
            ("context", "\"acme\"", "wrong_type"),
            ("messageId", "42", "wrong_type"),
            ("event", "[\"a\"]", "wrong_type"),
            ("timestamp", "1700000000", "wrong_type"),
            ("properties", "[1,2]", "wrong_type"),
            ("context", "{\"groupId\":{\"id\":\"acme\"}}", "wrong_type"),
            ("properties", "{\"feature\":7}", "wrong_type"),
            ("userId", "\"\"", "invalid_value"),
            ("type", "\"identify\"", "unknown_type"),
        ];
        for (field, value, reason) in cases {
            let f = with(g.track(i), field, value.into());
            g.json("segment_wrong_types", &format!("track {field}: {value}"), Usage, &f, Parser(reason));
        }
        let f = with(without(g.track(i), "userId"), "anonymousId", "true".into());
        g.json("segment_wrong_types", "track anonymousId: true, no userId", Usage, &f, Parser("wrong_type"));
        let f = with(without(g.track(i), "context"), "properties", "{\"account_id\":7}".into());
        g.json("segment_wrong_types", "track properties.account_id: 7", Usage, &f, Parser("wrong_type"));
        let f = without(g.track(i), "context");
        g.json("segment_wrong_types", "track with no account", Usage, &f, Parser("missing_field"));
        let f = with(g.track(i), "type", q("page"));
        g.json("segment_wrong_types", "a page call", Usage, &f, Parser("unknown_type"));
    }

    // The other reasons: unknown or mistyped type, missing fields, bad timestamps, empty
    // ids, values outside their enumerations, broken JSON.
    for i in 0..2 {
        let f = with(g.usage(i), "type", q("usage2"));
        g.json("other", "unknown type usage2", Usage, &f, Parser("unknown_type"));
        let f = with(g.usage(i), "type", "7".into());
        g.json("other", "type is a number", Usage, &f, Parser("wrong_type"));
        let f = without(g.usage(i), "type");
        g.json("other", "no type", Usage, &f, Parser("missing_field"));
        for ts in ["yesterday", "2026-11-02 10:00:00Z", "2026-11-02T10:00:00", "2026-11-02", "2026-02-30T10:00:00Z"] {
            let f = with(g.usage(i), "timestamp", q(ts));
            g.json("other", &format!("timestamp {ts}"), Usage, &f, Parser("bad_timestamp"));
        }
        let f = with(g.usage(i), "event_id", q(""));
        g.json("other", "empty event_id", Usage, &f, Parser("invalid_value"));
        let f = with(g.crm("account", i), "usage_profile", q("hourly"));
        g.json("other", "usage_profile hourly", Crm, &f, Parser("invalid_value"));
        let f = with(g.crm("assessment", i), "dimension", q("vibes"));
        g.json("other", "dimension vibes", Crm, &f, Parser("invalid_value"));
        let f = with(g.usage(i), "properties", q("not an object"));
        g.json("other", "properties is a string", Usage, &f, Parser("wrong_type"));
        let valid = obj(&g.usage(i));
        g.push("other", "trailing garbage", Usage, format!("{valid} x").into_bytes(), Parser("not_json"));
        let valid = obj(&g.usage(i));
        g.push(
            "other",
            "two objects in one message",
            Usage,
            format!("{valid}{valid}").into_bytes(),
            Parser("not_json"),
        );
        let valid = obj(&g.crm("account", i));
        g.push("other", "truncated", Crm, valid.as_bytes()[..valid.len() / 2].to_vec(), Parser("not_json"));
    }
    g.out
}

/// Valid lines at the edges of what Pulse accepts, for `accounts` (at least 10), dated
/// `day`: the longest ids (in chars, multi-byte), the last storable date, the largest
/// seats and money, deep nesting and `1e400` in fields the parser skips, control
/// characters as escapes, the first storable instant, a large line, new accounts with
/// unusual ids or an account event in 1970, and events 12 hours after `now` (within
/// ingest's skew, after `day`). They belong to the valid traffic: stored, scored, and
/// replayed like the rest.
pub fn boundary_valid(accounts: &[String], day: NaiveDate, now: DateTime<Utc>) -> Vec<String> {
    let ahead = (now + chrono::Duration::hours(12)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(accounts.len() >= 10, "boundary lines need 10 accounts");
    let a = |i: usize| q(&accounts[i]);
    let ts = |h: u32| q(&format!("{day}T{h:02}:00:00Z"));
    let before = day - chrono::Days::new(1);
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let nested_100 = format!("{}1{}", "[".repeat(100), "]".repeat(100));
    vec![
        obj(&[
            ("type", q("usage")),
            ("event_id", q(&"e".repeat(128))),
            ("account_id", a(0)),
            ("user_id", q(&"u".repeat(128))),
            ("event", q(&"v".repeat(256))),
            ("feature", q(&"f".repeat(128))),
            ("timestamp", ts(9)),
        ]),
        obj(&[
            ("type", q("track")),
            ("messageId", q(&"😀".repeat(128))),
            ("userId", q(&"é".repeat(128))),
            ("event", q("report.viewed")),
            ("timestamp", ts(10)),
            ("context", format!("{{\"groupId\":{}}}", a(1))),
            ("properties", format!("{{\"feature\":{}}}", q(&"ü".repeat(128)))),
        ]),
        obj(&[
            ("type", q("usage")),
            ("event_id", q("boundary-nested-100")),
            ("account_id", a(2)),
            ("user_id", q("u-boundary-2")),
            ("event", q("report.viewed")),
            ("timestamp", ts(11)),
            ("properties", format!("{{\"nested\":{nested_100}}}")),
            ("unknown_deep", deep),
            ("unknown_huge_number", "1e400".into()),
        ]),
        obj(&[
            ("type", q("usage")),
            ("event_id", q("boundary-control-escapes")),
            ("account_id", a(3)),
            ("user_id", q("u-\u{1}-\u{0}-\u{1f}")),
            ("event", q("report\u{0}viewed")),
            ("timestamp", ts(12)),
            ("properties", format!("{{\"s\":{},\"bom\":\"\\ufeff\"}}", q(&"\u{1}\u{7f}\u{2028}".repeat(1000)))),
        ]),
        obj(&[
            ("type", q("usage")),
            ("event_id", q("boundary-large-line")),
            ("account_id", a(4)),
            ("user_id", q("u-boundary-4")),
            ("event", q("report.viewed")),
            ("timestamp", ts(13)),
            ("properties", format!("{{\"blob\":{}}}", q(&"b".repeat(600_000)))),
        ]),
        obj(&[
            ("type", q("account")),
            ("event_id", q("boundary-account-max")),
            ("account_id", a(5)),
            ("timestamp", q(&format!("{before}T08:00:00Z"))),
            ("licensed_seats", "4294967295".into()),
            ("arr", "1e15".into()),
            ("renewal_on", q("2149-06-06")),
            ("target_graduation_on", q("2149-06-06")),
        ]),
        obj(&[
            ("type", q("kpi")),
            ("event_id", q("boundary-kpi")),
            ("account_id", a(6)),
            ("timestamp", ts(8)),
            ("kpi", q("boundary")),
            ("baseline", "-1e15".into()),
            ("target", "1e15".into()),
            ("value", "-1000000000000000".into()),
            ("confirmed", "true".into()),
        ]),
        obj(&[
            ("type", q("assessment")),
            ("event_id", q("boundary-assessment")),
            ("account_id", a(7)),
            ("timestamp", ts(8)),
            ("dimension", q("knowledge")),
            ("score", "10".into()),
            ("author", q("csm")),
            ("expires_on", q("2149-06-06")),
        ]),
        obj(&[
            ("type", q("usage")),
            ("event_id", q("boundary-first-instant")),
            ("account_id", a(8)),
            ("user_id", q("u-boundary-8")),
            ("event", q("report.viewed")),
            ("timestamp", q("1970-01-01T01:00:00+01:00")),
        ]),
        obj(&[
            ("type", q("account")),
            ("event_id", q("boundary-account-min")),
            ("account_id", a(9)),
            ("timestamp", q(&format!("{before}T09:00:00Z"))),
            ("onboarding_started_on", q("1970-01-01")),
            ("arr", "0".into()),
            ("licensed_seats", "0".into()),
        ]),
        // Two new accounts: 128 four-byte characters, and control characters, a quote, a
        // backslash and a line separator in the id.
        obj(&[
            ("type", q("usage")),
            ("event_id", q("boundary-new-account-emoji")),
            ("account_id", q(&"😀".repeat(128))),
            ("user_id", q("u-1")),
            ("event", q("report.viewed")),
            ("timestamp", ts(14)),
        ]),
        obj(&[
            ("type", q("account")),
            ("event_id", q("boundary-new-account-control")),
            ("account_id", q(CONTROL_ACCOUNT)),
            ("timestamp", q(&format!("{before}T10:00:00Z"))),
            ("licensed_seats", "3".into()),
        ]),
        obj(&[
            ("type", q("usage")),
            ("event_id", q("boundary-new-account-control-usage")),
            ("account_id", q(CONTROL_ACCOUNT)),
            ("user_id", q("u-1")),
            ("event", q("report.viewed")),
            ("timestamp", ts(15)),
        ]),
        // A new account whose only account event is in 1970 (the first storable day,
        // decades before any horizon): the seats of its day are still that event's.
        obj(&[
            ("type", q("account")),
            ("event_id", q("boundary-ancient-account")),
            ("account_id", q("boundary-ancient-crm")),
            ("timestamp", q("1970-01-02T00:00:00Z")),
            ("licensed_seats", "7".into()),
        ]),
        obj(&[
            ("type", q("usage")),
            ("event_id", q("boundary-ancient-account-usage")),
            ("account_id", q("boundary-ancient-crm")),
            ("user_id", q("u-1")),
            ("event", q("report.viewed")),
            ("timestamp", ts(16)),
        ]),
        // Within ingest's skew but after `day`: replay as of `day` ignores them; a new
        // account with nothing else has no result for `day`.
        obj(&[
            ("type", q("usage")),
            ("event_id", q("boundary-ahead")),
            ("account_id", a(0)),
            ("user_id", q("u-ahead")),
            ("event", q("report.viewed")),
            ("timestamp", q(&ahead)),
        ]),
        obj(&[
            ("type", q("usage")),
            ("event_id", q("boundary-ahead-only")),
            ("account_id", q("boundary-ahead-only")),
            ("user_id", q("u-ahead")),
            ("event", q("report.viewed")),
            ("timestamp", q(&ahead)),
        ]),
    ]
}

/// An account id of [`boundary_valid`] with control characters, a quote, a backslash and
/// a line separator.
const CONTROL_ACCOUNT: &str = "ctl-\u{0}\u{1}\u{1f}\"\\-\u{2028}";

/// What a [`RepeatProbe`] compares between the raw table and the scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// Distinct users of the account on the day: `uniqExact(user_id)` over
    /// `usage_events FINAL` against the health result's `metrics.dau`.
    Dau,
    /// The account's seats: `licensed_seats` of its one account event in
    /// `crm_events FINAL` against the health result's `metrics.seats`.
    Seats,
}

/// An account whose only repeated event has copies that differ in a way a raw-table rank
/// other than SPEC §1's (microseconds; ties: the user key, or the canonical JSON of a CRM
/// copy) would decide differently: 006's `copy_rank` (milliseconds, then raw length) did;
/// since 007 `copy_rank` is the core's own key (`pulse_core::event::CopyKey`).
#[derive(Debug, Clone)]
pub struct RepeatProbe {
    pub account: &'static str,
    pub what: &'static str,
    pub measure: Measure,
    /// The value SPEC §1's winning copy gives.
    pub spec: u64,
}

/// The user key of SPEC §1's usage tie-break: FNV-1a 64 over the UTF-8 bytes, finished
/// with murmur3's fmix64.
pub fn user_key(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Repeats that differ within one millisecond (SPEC §1: "the copy with the earliest
/// `timestamp` (to the microsecond) wins"; ties by user key, or by canonical JSON for CRM
/// copies; "the raw tables keep the copy that was scored, so SQL over `usage_events FINAL`
/// counts exactly what the scores count"). In each, the copy SPEC §1 picks is the longer
/// one (an unknown `padding` field). Lines dated `day` (usage) and the day before (CRM).
pub fn differing_repeats(day: NaiveDate) -> (Vec<String>, Vec<RepeatProbe>) {
    let before = day - chrono::Days::new(1);
    let pad = q("padding-padding-padding-padding");
    let usage = |acct: &str, id: &str, user: &str, ts: &str, padded: bool| {
        let mut f = vec![
            ("type", q("usage")),
            ("event_id", q(id)),
            ("account_id", q(acct)),
            ("user_id", q(user)),
            ("event", q("report.viewed")),
            ("timestamp", q(&format!("{day}T{ts}Z"))),
        ];
        if padded {
            f.push(("padding", pad.clone()));
        }
        obj(&f)
    };
    let account = |acct: &str, id: &str, seats: u32, ts: &str, padded: bool| {
        let mut f = vec![
            ("type", q("account")),
            ("event_id", q(id)),
            ("account_id", q(acct)),
            ("timestamp", q(&format!("{before}T{ts}Z"))),
            ("licensed_seats", seats.to_string()),
        ];
        if padded {
            f.push(("padding", pad.clone()));
        }
        obj(&f)
    };
    let (winner, loser) = if user_key("u-p") < user_key("u-q") { ("u-p", "u-q") } else { ("u-q", "u-p") };
    let lines = vec![
        // The earlier copy (100 us) is u-a's, who is active anyway: 1 user. The later one
        // (900 us, same millisecond, shorter) would add u-b.
        account("probe-usage-us", "seats", 10, "08:00:00", false),
        usage("probe-usage-us", "x", "u-a", "10:00:00", false),
        usage("probe-usage-us", "r", "u-b", "12:00:00.000900", false),
        usage("probe-usage-us", "r", "u-a", "12:00:00.000100", true),
        // Same microsecond: the smaller user key wins; its user is active anyway.
        account("probe-usage-tie", "seats", 10, "08:00:00", false),
        usage("probe-usage-tie", "x", winner, "10:00:00", false),
        usage("probe-usage-tie", "r", loser, "12:00:00.000500", false),
        usage("probe-usage-tie", "r", winner, "12:00:00.000500", true),
        // The earlier copy (100 us) says 10 seats, the later one (900 us) 20.
        account("probe-crm-us", "s", 20, "08:00:00.000900", false),
        account("probe-crm-us", "s", 10, "08:00:00.000100", true),
        usage("probe-crm-us", "x", "u-a", "10:00:00", false),
        // Same microsecond: the smaller canonical JSON (`"licensed_seats":10`) wins.
        account("probe-crm-tie", "s", 20, "08:00:00.000500", false),
        account("probe-crm-tie", "s", 10, "08:00:00.000500", true),
        usage("probe-crm-tie", "x", "u-a", "10:00:00", false),
    ];
    let probes = vec![
        RepeatProbe { account: "probe-usage-us", what: "usage copies 800 us apart", measure: Measure::Dau, spec: 1 },
        RepeatProbe { account: "probe-usage-tie", what: "usage copies at the same us", measure: Measure::Dau, spec: 1 },
        RepeatProbe { account: "probe-crm-us", what: "account copies 800 us apart", measure: Measure::Seats, spec: 10 },
        RepeatProbe {
            account: "probe-crm-tie",
            what: "account copies at the same us",
            measure: Measure::Seats,
            spec: 10,
        },
    ];
    (lines, probes)
}
