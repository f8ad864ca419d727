//! Dead-letter records. The value is a JSON envelope that keeps the original bytes
//! exactly (as a string when they are UTF-8, else base64), where they came from, and a
//! machine-readable reason; the message key is the original key.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::rows::Source;

/// Reason code for messages over `ingest.max_message_bytes` (not parsed at all).
pub const OVERSIZE_MESSAGE: &str = "oversize_message";
/// Reason code for valid events whose row ClickHouse refused for its content (isolated
/// from its batch; the detail carries the server's message).
pub const STORAGE_REJECTED: &str = "storage_rejected";
/// Reason code for events whose time cannot be stored (before 1900 or after 2299).
pub const TIMESTAMP_OUT_OF_RANGE: &str = "timestamp_out_of_range";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Machine-readable reason: a `pulse_core::InvalidReason` code or one of this module's.
    pub reason: String,
    /// Human-readable detail naming the field.
    pub detail: String,
    pub source_topic: String,
    pub source_partition: i32,
    pub source_offset: i64,
    /// The original message key, when it had one and it was UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_key: Option<String>,
    /// The original message, when it is valid UTF-8 (byte-for-byte).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
    /// The original message in standard base64, when it is not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_base64: Option<String>,
    /// When ingest rejected it (RFC 3339, UTC).
    pub rejected_at: String,
}

impl DeadLetter {
    pub fn new(
        reason: &str,
        detail: String,
        source: &Source<'_>,
        key: Option<&[u8]>,
        payload: &[u8],
        rejected_at: String,
    ) -> Self {
        let (original, original_base64) = match std::str::from_utf8(payload) {
            Ok(s) => (Some(s.to_owned()), None),
            Err(_) => (None, Some(base64::engine::general_purpose::STANDARD.encode(payload))),
        };
        Self {
            reason: reason.to_owned(),
            detail,
            source_topic: source.topic.to_owned(),
            source_partition: source.partition,
            source_offset: source.offset,
            source_key: key.and_then(|k| std::str::from_utf8(k).ok()).map(str::to_owned),
            original,
            original_base64,
            rejected_at,
        }
    }

    /// The original bytes, whichever way they were stored.
    pub fn original_bytes(&self) -> Option<Vec<u8>> {
        match (&self.original, &self.original_base64) {
            (Some(s), _) => Some(s.as_bytes().to_vec()),
            (None, Some(b)) => base64::engine::general_purpose::STANDARD.decode(b).ok(),
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_original_bytes_exactly() {
        let src = Source { topic: "pulse.usage", partition: 3, offset: 42 };
        for payload in [&b"{not json"[..], &[0xff, 0xfe, 0x00, 0x41][..], b""] {
            let d = DeadLetter::new("not_json", "x".into(), &src, Some(b"acme"), payload, "t".into());
            let json = serde_json::to_vec(&d).expect("serializes");
            let back: DeadLetter = serde_json::from_slice(&json).expect("parses");
            assert_eq!(back.original_bytes().as_deref(), Some(payload));
            assert_eq!((back.source_partition, back.source_offset), (3, 42));
            assert_eq!(back.source_key.as_deref(), Some("acme"));
        }
    }
}
