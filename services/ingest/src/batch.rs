//! One batch of processed messages: what must become durable (ClickHouse rows, forwarded
//! events, dead letters) before the offsets it covers may be committed.
//!
//! [`process`] is the per-message decision, pure apart from its inputs, so it is unit
//! tested without a broker.

use std::time::Instant;

use chrono::{DateTime, Utc};
use pulse_core::{check_skew, parse_event};
use pulse_runtime::batch_producer::Outgoing;

use crate::{
    dlq::{self, DeadLetter, Reason},
    rows::{into_raw_row, storage_time, CrmRow, RawRow, Source, UsageRow},
};

/// What one message became.
// A valid event is the common case and moves straight into the batch: boxing it to
// shrink the rare dead letter's variant would cost an allocation per message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Processed {
    /// `type_name`: the event's type (`Event::type_name`), for the counters; the event
    /// itself moved into `row`. `forward`: the normalized JSON for the events topic, when
    /// ingest forwards.
    Valid {
        type_name: &'static str,
        row: RawRow,
        forward: Option<Vec<u8>>,
    },
    Invalid(DeadLetter),
}

/// The limits [`process`] applies (from `[ingest]`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Larger messages are dead-lettered unparsed (`oversize_message`).
    pub max_message_bytes: usize,
    /// Events further ahead of the clock are `future_timestamp`.
    pub max_skew: chrono::Duration,
    /// Prefix of the original a dead letter keeps.
    pub max_original: usize,
    /// Forwarding on: the largest normalized event the producer can send.
    pub max_forward: Option<usize>,
}

impl Limits {
    /// The limits of `[ingest]` under the producer's `message.max.bytes`.
    pub fn of(cfg: &crate::config::IngestConfig, message_max_bytes: usize) -> Self {
        Self {
            max_message_bytes: cfg.max_message_bytes,
            max_skew: chrono::Duration::seconds(cfg.max_future_skew_secs),
            max_original: cfg.dead_letter_max_original_bytes,
            max_forward: cfg.forward.then(|| crate::config::IngestConfig::max_forward_bytes(message_max_bytes)),
        }
    }
}

/// Validates and normalizes one message.
pub fn process(
    payload: &[u8],
    key: Option<&[u8]>,
    source: &Source<'_>,
    now: DateTime<Utc>,
    limits: &Limits,
) -> Processed {
    let Limits { max_message_bytes, max_skew, max_original, max_forward } = *limits;
    let dead = |reason: Reason, detail: String| {
        Processed::Invalid(DeadLetter::new(reason, detail, dlq::origin(source), key, payload, now, max_original))
    };
    if payload.len() > max_message_bytes {
        return dead(
            Reason::OversizeMessage,
            format!("message of {} bytes exceeds ingest.max_message_bytes = {max_message_bytes}", payload.len()),
        );
    }
    let event = match parse_event(payload).and_then(|ev| check_skew(ev.timestamp(), now, max_skew).map(|()| ev)) {
        Ok(ev) => ev,
        Err(invalid) => return dead(invalid.reason.into(), invalid.detail),
    };
    let Some(ts) = storage_time(&event) else {
        // The parser already refuses timestamps outside 1970..=2149-06-06 (SPEC v3 §1).
        return dead(Reason::OutOfRange, format!("timestamp {} cannot be stored", event.timestamp()));
    };
    let forward = match max_forward {
        None => None,
        // Serializing a value just built cannot fail; a failure is a bug, dead-lettered.
        Some(max) => match serde_json::to_vec(&event) {
            // JSON numbers can come out longer than they went in (`1e15` is written out
            // in full): a normalized event the broker would refuse forever is refused here.
            Ok(json) if json.len() > max => {
                return dead(
                    Reason::OversizeMessage,
                    format!("the normalized event takes {} bytes, over the {max} the producer can send", json.len()),
                )
            }
            Ok(json) => Some(json),
            Err(e) => return dead(Reason::InvalidValue, format!("cannot normalize the event: {e}")),
        },
    };
    let ingested_at = u32::try_from(now.timestamp()).unwrap_or(u32::MAX);
    let type_name = event.type_name();
    let row = into_raw_row(event, payload, source, ingested_at, ts);
    Processed::Valid { type_name, row, forward }
}

/// A normalized event for the events topic: (account id key, JSON, original Kafka
/// timestamp in ms, kept so end-to-end latency is measurable).
pub type Forward = (String, Vec<u8>, Option<i64>);
/// A dead letter for the DLQ topic: (original key, envelope JSON, reason code).
pub type DeadRecord = (Option<Vec<u8>>, Vec<u8>, String);

/// The accumulated outputs of a batch and the offsets they cover.
#[derive(Default)]
pub struct Batch {
    pub usage_rows: Vec<UsageRow>,
    pub crm_rows: Vec<CrmRow>,
    pub forward: Vec<Forward>,
    pub dead: Vec<DeadRecord>,
    /// Highest offset seen per (topic, partition): a few entries, searched in order
    /// (a map keyed by an owned topic name cost an allocation per message).
    pub offsets: Vec<((String, i32), i64)>,
    pub messages: usize,
    pub bytes: usize,
    pub started: Option<Instant>,
    /// The forwarded events already handed to the producer (a prefix of `forward`, with
    /// `ingest.forward_as_parsed`): the batch's write completes them.
    pub outgoing: Outgoing,
}

impl Batch {
    /// An empty batch with room for `rows` usage rows and forwarded events (the previous
    /// batch's size: growing the vectors message by message was about 1.5% of ingest's
    /// CPU per event).
    pub fn with_capacity(rows: usize) -> Self {
        Self { usage_rows: Vec::with_capacity(rows), forward: Vec::with_capacity(rows), ..Self::default() }
    }

    pub fn is_empty(&self) -> bool {
        self.messages == 0
    }

    /// The highest offset seen of `topic`'s `partition`.
    pub fn offset(&self, topic: &str, partition: i32) -> Option<i64> {
        self.offsets.iter().find(|((t, p), _)| t == topic && *p == partition).map(|(_, o)| *o)
    }

    /// Adds one processed message (a valid one is forwarded when it carries its
    /// normalized JSON).
    pub fn add(
        &mut self,
        processed: Processed,
        source: &Source<'_>,
        key: Option<&[u8]>,
        bytes: usize,
        timestamp_ms: Option<i64>,
    ) {
        if self.started.is_none() {
            self.started = Some(Instant::now());
        }
        self.messages += 1;
        self.bytes += bytes;
        match self.offsets.iter_mut().find(|((t, p), _)| t == source.topic && *p == source.partition) {
            Some((_, slot)) => *slot = (*slot).max(source.offset),
            None => self.offsets.push(((source.topic.to_owned(), source.partition), source.offset)),
        }
        match processed {
            Processed::Valid { row, forward, .. } => {
                let account = match &row {
                    RawRow::Usage(r) => &r.account_id,
                    RawRow::Crm(r) => &r.account_id,
                };
                if let Some(json) = forward {
                    self.forward.push((account.clone(), json, timestamp_ms));
                }
                match row {
                    RawRow::Usage(r) => self.usage_rows.push(r),
                    RawRow::Crm(r) => self.crm_rows.push(r),
                }
            }
            Processed::Invalid(d) => {
                self.dead.push((key.map(<[u8]>::to_vec), d.to_json(), d.reason.as_str().to_owned()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-02T12:00:00Z").map(|d| d.with_timezone(&Utc)).expect("valid")
    }

    fn limits(max_message_bytes: usize) -> Limits {
        Limits { max_message_bytes, max_skew: chrono::Duration::days(1), max_original: 1024, max_forward: Some(4096) }
    }

    fn check(input: &str, expect: &str) {
        let src = Source { topic: "pulse.usage", partition: 0, offset: 7 };
        let got = process(input.as_bytes(), None, &src, now(), &limits(2048));
        let got = match got {
            Processed::Valid { row: RawRow::Usage(_), .. } => "usage".to_owned(),
            Processed::Valid { row: RawRow::Crm(r), .. } => format!("crm:{:?}", r.kind),
            Processed::Invalid(d) => d.reason.as_str().to_owned(),
        };
        assert_eq!(got, expect, "input: {input}");
    }

    #[test]
    fn decisions() {
        let big = format!(
            r#"{{"type":"usage","event_id":"e","account_id":"a","user_id":"u","event":"x","timestamp":"2026-11-02T10:00:00Z","properties":{{"p":"{}"}}}}"#,
            "x".repeat(3000)
        );
        let numbers = format!(
            r#"{{"type":"usage","event_id":"e","account_id":"a","user_id":"u","event":"x","timestamp":"2026-11-02T10:00:00Z","properties":{{"n":[{}]}}}}"#,
            vec!["1e15"; 300].join(",")
        );
        let long_id = format!(
            r#"{{"type":"usage","event_id":"{}","account_id":"a","user_id":"u","event":"x","timestamp":"2026-11-02T10:00:00Z"}}"#,
            "e".repeat(129)
        );
        let table: &[(&str, &str)] = &[
            (
                r#"{"type":"usage","event_id":"e","account_id":"a","user_id":"u","event":"x","timestamp":"2026-11-02T10:00:00Z"}"#,
                "usage",
            ),
            (
                r#"{"type":"track","messageId":"m","userId":"u","event":"x","timestamp":"2026-11-02T10:00:00Z","context":{"groupId":"a"}}"#,
                "usage",
            ),
            (
                r#"{"type":"account","event_id":"e","account_id":"a","timestamp":"2026-11-02T10:00:00Z","licensed_seats":5}"#,
                "crm:Account",
            ),
            ("not json", "not_json"),
            (
                r#"{"type":"usage","event_id":"e","account_id":"a","event":"x","timestamp":"2026-11-02T10:00:00Z"}"#,
                "missing_field",
            ),
            (
                r#"{"type":"usage","event_id":"e","account_id":"a","user_id":7,"event":"x","timestamp":"2026-11-02T10:00:00Z"}"#,
                "wrong_type",
            ),
            (r#"{"type":"page","event_id":"e","account_id":"a","timestamp":"2026-11-02T10:00:00Z"}"#, "unknown_type"),
            (
                r#"{"type":"usage","event_id":"e","account_id":"a","user_id":"u","event":"x","timestamp":"yesterday"}"#,
                "bad_timestamp",
            ),
            (
                r#"{"type":"usage","event_id":"e","account_id":"a","user_id":"u","event":"x","timestamp":"2026-11-05T10:00:00Z"}"#,
                "future_timestamp",
            ),
            (&long_id, "oversize_field"),
            (
                r#"{"type":"account","event_id":"e","account_id":"a","timestamp":"2026-11-02T10:00:00Z","renewal_on":"2150-01-01"}"#,
                "out_of_range",
            ),
            (
                r#"{"type":"usage","event_id":"e","account_id":"a","user_id":"u","event":"x","timestamp":"1969-12-31T23:59:59Z"}"#,
                "out_of_range",
            ),
            (&big, "oversize_message"),
            // 300 JSON numbers of 4 bytes come out as 18 each once normalized: over the
            // 4096 bytes the producer could forward.
            (&numbers, "oversize_message"),
        ];
        for (input, expect) in table {
            check(input, expect);
        }
    }

    #[test]
    fn batch_tracks_highest_offset_per_partition() {
        let mut b = Batch::default();
        for (p, o) in [(0, 5), (0, 3), (1, 9), (0, 6)] {
            let src = Source { topic: "t", partition: p, offset: o };
            let d = process(b"x", None, &src, now(), &limits(100));
            b.add(d, &src, None, 1, None);
        }
        assert_eq!(b.offset("t", 0), Some(6));
        assert_eq!(b.offset("t", 1), Some(9));
        assert_eq!(b.offsets.len(), 2);
        assert_eq!((b.messages, b.dead.len()), (4, 4));
    }
}
