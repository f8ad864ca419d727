//! The dead-letter envelope every Pulse producer writes to `topics.dlq` (ingest for
//! invalid input, the scorer for a foreign message on the events topic, the notifier for
//! a webhook delivery that failed). One type and one reason enum, so every record
//! matches `schemas/events/dead-letter.schema.json` (`additionalProperties: false`; the
//! reason is one of the schema's enum, kept equal to [`Reason::ALL`] by a test).
//!
//! The envelope keeps the original bytes (as a string when they are UTF-8, else base64),
//! where they came from (topic, partition, offset, key) and a machine-readable reason;
//! the message key is the original key.
//!
//! A dead letter always fits the producer's `message.max.bytes`: it keeps at most a
//! prefix of the original (`max_original` bytes, default [`DEFAULT_MAX_ORIGINAL_BYTES`],
//! cut at a character boundary) plus the original's whole length and SHA-256, so the
//! record can be matched with the source message. Why: JSON escapes a control character
//! as six bytes, so a 200 KB line of them became a 1.2 MB envelope that the broker
//! refused forever, and that stopped ingest. [`max_envelope_bytes`] is the bound the
//! services check against the producer's limit at start-up.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

/// Default prefix of the original kept in a dead letter (64 KiB).
pub const DEFAULT_MAX_ORIGINAL_BYTES: usize = 64 * 1024;
/// Longest `detail` kept (chars); a server's message may quote the row.
pub const MAX_DETAIL_CHARS: usize = 2048;

/// The largest envelope a dead letter keeping at most `max_original` bytes of its
/// original can serialize to: every kept byte escaped as `\u00XX` (six bytes), the
/// detail's and the key's characters at most six bytes each, and the fixed fields
/// (topic names are at most 249 bytes).
pub fn max_envelope_bytes(max_original: usize) -> usize {
    max_original * 6 + (MAX_DETAIL_CHARS + 3) * 6 + MAX_KEY_BYTES * 6 + 2048
}

/// Longest source key kept (bytes).
pub const MAX_KEY_BYTES: usize = 1024;

/// Why a message was dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    // The parser's reasons (`pulse_core::InvalidReason`).
    NotJson,
    NotObject,
    MissingField,
    WrongType,
    UnknownType,
    BadTimestamp,
    OversizeField,
    InvalidValue,
    /// More than `ingest.max_future_skew_secs` ahead of the clock.
    FutureTimestamp,
    /// Over `ingest.max_message_bytes`, not parsed at all.
    OversizeMessage,
    /// A value Pulse cannot store (SPEC v3 §1): a date or timestamp outside
    /// 1970-01-01..=2149-06-06, seats, money or a KPI out of its column's range.
    OutOfRange,
    /// Valid, but ClickHouse refused the row for its content (the detail has why).
    StorageRejected,
    /// An alert transition the webhook did not accept after `scorer.webhook.max_attempts`
    /// attempts (timeouts, connection errors, HTTP 408/429/5xx).
    WebhookFailed,
    /// An alert transition the webhook refused for good (HTTP 4xx other than 408/429):
    /// not retried.
    WebhookRejected,
    /// `pulse collect`: a call over `collect.max_event_bytes` (the rest of its batch goes on).
    EventTooLarge,
    /// `pulse collect`: a usage call with no account (no `context.groupId`,
    /// `properties.account_id` nor the source's `account_property`).
    NoAccount,
}

impl Reason {
    pub const ALL: &'static [Reason] = &[
        Reason::NotJson,
        Reason::NotObject,
        Reason::MissingField,
        Reason::WrongType,
        Reason::UnknownType,
        Reason::BadTimestamp,
        Reason::OversizeField,
        Reason::InvalidValue,
        Reason::FutureTimestamp,
        Reason::OversizeMessage,
        Reason::OutOfRange,
        Reason::StorageRejected,
        Reason::WebhookFailed,
        Reason::WebhookRejected,
        Reason::EventTooLarge,
        Reason::NoAccount,
    ];

    /// The code on the wire and in metric labels.
    pub fn as_str(&self) -> &'static str {
        match self {
            Reason::NotJson => "not_json",
            Reason::NotObject => "not_object",
            Reason::MissingField => "missing_field",
            Reason::WrongType => "wrong_type",
            Reason::UnknownType => "unknown_type",
            Reason::BadTimestamp => "bad_timestamp",
            Reason::OversizeField => "oversize_field",
            Reason::InvalidValue => "invalid_value",
            Reason::FutureTimestamp => "future_timestamp",
            Reason::OversizeMessage => "oversize_message",
            Reason::OutOfRange => "out_of_range",
            Reason::StorageRejected => "storage_rejected",
            Reason::WebhookFailed => "webhook_failed",
            Reason::WebhookRejected => "webhook_rejected",
            Reason::EventTooLarge => "event_too_large",
            Reason::NoAccount => "no_account",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<pulse_core::InvalidReason> for Reason {
    fn from(r: pulse_core::InvalidReason) -> Self {
        use pulse_core::InvalidReason as I;
        match r {
            I::NotJson => Reason::NotJson,
            I::NotObject => Reason::NotObject,
            I::MissingField => Reason::MissingField,
            I::WrongType => Reason::WrongType,
            I::UnknownType => Reason::UnknownType,
            I::BadTimestamp => Reason::BadTimestamp,
            I::OversizeField => Reason::OversizeField,
            I::InvalidValue => Reason::InvalidValue,
            I::FutureTimestamp => Reason::FutureTimestamp,
            I::OutOfRange => Reason::OutOfRange,
            // `InvalidReason` is non-exhaustive; a test maps every one of its codes.
            _ => Reason::InvalidValue,
        }
    }
}

/// Where a dead-lettered message was read.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetter {
    pub reason: Reason,
    /// Human-readable detail naming the field (or the webhook's answer).
    pub detail: String,
    pub source_topic: String,
    pub source_partition: i32,
    pub source_offset: i64,
    /// The original message key, when it had one and it was UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_key: Option<String>,
    /// The original message, when it is valid UTF-8 (byte-for-byte; its first
    /// `max_original` bytes when `original_truncated`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
    /// The original message in standard base64, when it is not UTF-8 (its prefix when
    /// `original_truncated`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_base64: Option<String>,
    /// The whole original's length in bytes.
    pub original_length: u64,
    /// Hex SHA-256 of the whole original.
    pub original_sha256: String,
    /// Whether only a prefix of the original is kept.
    pub original_truncated: bool,
    /// Webhook dead letters: the delivery's idempotency key (to re-send it by hand with
    /// the same key, so a receiver that got it after all drops the copy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// When it was dead-lettered (RFC 3339, UTC).
    pub rejected_at: String,
}

impl DeadLetter {
    /// A dead letter keeping at most `max_original` bytes of `payload` (see the module
    /// doc), a detail of at most [`MAX_DETAIL_CHARS`] and a key of at most
    /// [`MAX_KEY_BYTES`].
    pub fn new(
        reason: Reason,
        detail: String,
        origin: Origin<'_>,
        key: Option<&[u8]>,
        payload: &[u8],
        rejected_at: chrono::DateTime<chrono::Utc>,
        max_original: usize,
    ) -> Self {
        let (prefix, truncated) = original_prefix(payload, max_original);
        let (original, original_base64) = match std::str::from_utf8(prefix) {
            Ok(s) => (Some(s.to_owned()), None),
            Err(_) => (None, Some(base64::engine::general_purpose::STANDARD.encode(prefix))),
        };
        let detail = match detail.char_indices().nth(MAX_DETAIL_CHARS) {
            None => detail,
            Some((i, _)) => format!("{}...", &detail[..i]),
        };
        Self {
            reason,
            detail,
            source_topic: origin.topic.to_owned(),
            source_partition: origin.partition,
            source_offset: origin.offset,
            source_key: key
                .filter(|k| k.len() <= MAX_KEY_BYTES)
                .and_then(|k| std::str::from_utf8(k).ok())
                .map(str::to_owned),
            original,
            original_base64,
            original_length: payload.len() as u64,
            original_sha256: hex::encode(sha2::Sha256::digest(payload)),
            original_truncated: truncated,
            idempotency_key: None,
            rejected_at: rejected_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        }
    }

    pub fn with_idempotency_key(mut self, key: String) -> Self {
        self.idempotency_key = Some(key);
        self
    }

    /// The JSON value of the record (infallible: every field is a plain string or number).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The original bytes kept (all of them unless `original_truncated`), whichever way
    /// they were stored.
    pub fn original_bytes(&self) -> Option<Vec<u8>> {
        match (&self.original, &self.original_base64) {
            (Some(s), _) => Some(s.as_bytes().to_vec()),
            (None, Some(b)) => base64::engine::general_purpose::STANDARD.decode(b).ok(),
            (None, None) => None,
        }
    }
}

/// The first at most `max` bytes of `payload`, cut at a UTF-8 character boundary when
/// the whole payload is UTF-8 (so the prefix stays a string); and whether it was cut.
fn original_prefix(payload: &[u8], max: usize) -> (&[u8], bool) {
    if payload.len() <= max {
        return (payload, false);
    }
    let mut end = max;
    if std::str::from_utf8(payload).is_ok() {
        // A UTF-8 character is at most 4 bytes: at most 3 steps back.
        while end > 0 && (payload[end] & 0xC0) == 0x80 {
            end -= 1;
        }
    }
    (&payload[..end], true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_original_bytes_exactly() {
        let origin = Origin { topic: "pulse.usage", partition: 3, offset: 42 };
        for payload in [&b"{not json"[..], &[0xff, 0xfe, 0x00, 0x41][..], b""] {
            let d = DeadLetter::new(
                Reason::NotJson,
                "x".into(),
                origin,
                Some(b"acme"),
                payload,
                chrono::Utc::now(),
                DEFAULT_MAX_ORIGINAL_BYTES,
            );
            let json = d.to_json();
            let back: DeadLetter = serde_json::from_slice(&json).expect("parses");
            assert_eq!(back.original_bytes().as_deref(), Some(payload));
            assert_eq!((back.source_partition, back.source_offset), (3, 42));
            assert_eq!(back.source_key.as_deref(), Some("acme"));
            assert_eq!(back.original_length, payload.len() as u64);
            assert!(!back.original_truncated);
            assert_eq!(back, d);
        }
    }

    /// The hostile line of issue 19: 200 KB of control characters (six bytes each once
    /// escaped), non-UTF-8 and multi-byte text: every envelope stays within
    /// `max_envelope_bytes`, keeps a prefix, and names the whole original's length and hash.
    #[test]
    fn envelopes_stay_within_their_bound_whatever_the_original() {
        let origin = Origin { topic: "pulse.usage", partition: 0, offset: 1 };
        let control = vec![0x01u8; 200_000];
        let binary: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8 | 0x80).collect();
        let multibyte = "é€😀".repeat(40_000).into_bytes();
        let long_key = vec![b'k'; 5000];
        for max in [256, 4096, DEFAULT_MAX_ORIGINAL_BYTES] {
            for payload in [&control[..], &binary[..], &multibyte[..]] {
                let detail = "\u{1}".repeat(10_000);
                let d =
                    DeadLetter::new(Reason::NotJson, detail, origin, Some(&long_key), payload, chrono::Utc::now(), max);
                let json = d.to_json();
                assert!(json.len() <= max_envelope_bytes(max), "{} > {}", json.len(), max_envelope_bytes(max));
                assert!(d.original_truncated);
                assert_eq!(d.original_length, payload.len() as u64);
                assert_eq!(d.original_sha256, hex::encode(sha2::Sha256::digest(payload)));
                let kept = d.original_bytes().expect("kept");
                assert!(kept.len() <= max && kept.len() + 3 >= max, "{} of {max}", kept.len());
                assert_eq!(&payload[..kept.len()], &kept[..]);
                if std::str::from_utf8(payload).is_ok() {
                    assert!(d.original.is_some(), "a UTF-8 original stays a string when cut");
                }
            }
        }
    }

    #[test]
    fn codes_are_the_serialized_names_and_every_parser_reason_has_one() {
        for r in Reason::ALL {
            assert_eq!(serde_json::to_value(r).expect("json"), serde_json::Value::from(r.as_str()));
        }
        for r in pulse_core::InvalidReason::ALL {
            assert_eq!(Reason::from(*r).as_str(), r.as_str());
        }
    }

    #[test]
    fn the_schema_lists_exactly_these_reasons() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/events/dead-letter.schema.json");
        let schema: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("schema file")).expect("schema json");
        let mut listed: Vec<&str> = schema["properties"]["reason"]["enum"]
            .as_array()
            .expect("reason enum")
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        let mut ours: Vec<&str> = Reason::ALL.iter().map(Reason::as_str).collect();
        listed.sort_unstable();
        ours.sort_unstable();
        assert_eq!(listed, ours);
    }
}
