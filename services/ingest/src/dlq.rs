//! Dead-letter records: the one envelope of every Pulse producer,
//! [`pulse_runtime::dlq::DeadLetter`] (a bounded prefix of the original bytes, where they came from, a
//! [`Reason`]); re-exported here for ingest's callers.

pub use pulse_runtime::dlq::{DeadLetter, Origin, Reason, DEFAULT_MAX_ORIGINAL_BYTES};

/// The origin of a message ingest read.
pub fn origin<'a>(source: &crate::rows::Source<'a>) -> Origin<'a> {
    Origin { topic: source.topic, partition: source.partition, offset: source.offset }
}
