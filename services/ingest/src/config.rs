//! `[ingest]` configuration. The doc comments are the user documentation.

use pulse_runtime::settings::{ensure, SettingsError};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Kafka consumer group. Run several ingest processes with the same group to share
    /// the partitions.
    pub group_id: String,
    /// Listen address of `/metrics`, `/healthz` and `/readyz`.
    pub http_listen: String,
    /// A batch is flushed when it holds this many events (valid + invalid)...
    pub batch_max_rows: usize,
    /// ...or this many bytes of input...
    pub batch_max_bytes: usize,
    /// ...or when its oldest message has waited this long (sparse streams).
    pub batch_max_wait_ms: u64,
    /// `fetch.wait.max.ms` of ingest's consumer: how long the broker may hold a fetch that has
    /// no data for it. Apache Kafka answers as soon as data is there, so this only sets how
    /// often an idle consumer asks; a broker that holds every fetch for the whole wait (the
    /// development broker, tansu) adds up to this much to each event's latency, and a
    /// shorter wait there costs throughput (docs/benchmarks.md, "Freshness, second pass":
    /// 20 ms in both services took the median from about 340 to 150 ms and halved ingest's
    /// throughput on tansu). 1 ..= 10000, default 100; `"fetch.wait.max.ms"` in
    /// `[kafka.properties]` overrides it for every client.
    pub fetch_wait_max_ms: u32,
    /// Messages larger than this go to the DLQ (`oversize_message`) unparsed. 256 bytes
    /// ..= 16 MiB, default 960 KiB; at most the producer's `message.max.bytes` (1,000,000
    /// unless `[kafka.properties]` says otherwise) less 16 KiB, checked at start-up, so a
    /// forwarded event fits. A normalized event that still comes out larger (JSON numbers
    /// re-serialized longer) is dead-lettered as `oversize_message` too.
    pub max_message_bytes: usize,
    /// A dead letter keeps at most this many bytes of the original message (plus its
    /// whole length and SHA-256), so the envelope always fits the producer's
    /// `message.max.bytes` even when JSON escapes every byte as six (checked at
    /// start-up). 256 ..= 1 MiB.
    pub dead_letter_max_original_bytes: usize,
    /// Events whose timestamp is more than this many seconds ahead of the wall clock are
    /// invalid (`future_timestamp`). 0 ..= 31,536,000 (a year).
    pub max_future_skew_secs: i64,
    /// First retry delay when ClickHouse or the broker refuses a batch; doubles up to
    /// `retry_max_ms`. Retries never give up: nothing is dropped.
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    /// Forward normalized events to `topics.events` for the scorer.
    pub forward: bool,
    /// Where a new consumer group starts: `earliest` (default: nothing is skipped) or
    /// `latest`.
    pub auto_offset_reset: String,
    /// Write a batch (ClickHouse insert, broker produce) while the next one is consumed,
    /// instead of consuming nothing until the write is done. At most one write is in
    /// flight, so up to two batches are held in memory; offsets are still committed in
    /// order, each only after its batch is durable.
    pub overlap_writes: bool,
    /// Forward each event to the events topic as soon as it is parsed, instead of with
    /// its batch's write: the scorer sees it up to `batch_max_wait_ms` sooner. The
    /// batch's offsets are still committed only after every forwarded event is
    /// acknowledged and its rows are stored. Only with `forward`.
    pub forward_as_parsed: bool,
    /// Rejoin the consumer group after holding no partition for this long (doubling up to
    /// 10 minutes while it stays idle). Guards against a group coordinator that drops a
    /// crashed member without starting a rebalance (seen with the development broker),
    /// which would leave the process replacing it idle forever. 0 disables it.
    pub rejoin_when_idle_secs: u64,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            group_id: "pulse-ingest".into(),
            http_listen: "127.0.0.1:9464".into(),
            batch_max_rows: 20_000,
            batch_max_bytes: 16 * 1024 * 1024,
            batch_max_wait_ms: 100,
            fetch_wait_max_ms: 100,
            max_message_bytes: 960 * 1024,
            dead_letter_max_original_bytes: pulse_runtime::dlq::DEFAULT_MAX_ORIGINAL_BYTES,
            max_future_skew_secs: 86_400,
            retry_initial_ms: 200,
            retry_max_ms: 10_000,
            forward: true,
            auto_offset_reset: "earliest".into(),
            overlap_writes: true,
            forward_as_parsed: true,
            rejoin_when_idle_secs: 30,
        }
    }
}

/// Largest `max_future_skew_secs`: a year. Why bounded: near `i64::MAX` seconds the
/// duration overflowed chrono and ingest panicked on its first event.
const MAX_SKEW_SECS: i64 = 365 * 86_400;

/// Room a forwarded event needs beside its normalized JSON (key, record overhead).
pub const FORWARD_OVERHEAD_BYTES: usize = 16 * 1024;

impl IngestConfig {
    /// The largest normalized event ingest forwards under the producer's
    /// `message.max.bytes`.
    pub fn max_forward_bytes(message_max_bytes: usize) -> usize {
        message_max_bytes.saturating_sub(FORWARD_OVERHEAD_BYTES)
    }

    /// Start-up check against the producer's `message.max.bytes`: a dead letter of the
    /// largest original prefix, and a forwarded event of the largest accepted message,
    /// must fit, else one message could be refused by the broker forever.
    pub fn validate_against_producer(&self, message_max_bytes: usize) -> Result<(), SettingsError> {
        let envelope = pulse_runtime::dlq::max_envelope_bytes(self.dead_letter_max_original_bytes);
        ensure(envelope <= message_max_bytes, "ingest.dead_letter_max_original_bytes", || {
            format!(
                "a dead letter keeping {} bytes of its original can take {envelope} bytes, over the producer's \
                 message.max.bytes = {message_max_bytes}",
                self.dead_letter_max_original_bytes
            )
        })?;
        ensure(
            !self.forward || self.max_message_bytes <= Self::max_forward_bytes(message_max_bytes),
            "ingest.max_message_bytes",
            || {
                format!(
                    "{} leaves no room under the producer's message.max.bytes = {message_max_bytes} for the \
                     forwarded event (at most {})",
                    self.max_message_bytes,
                    Self::max_forward_bytes(message_max_bytes)
                )
            },
        )
    }

    pub fn validate(&self) -> Result<(), SettingsError> {
        ensure(!self.group_id.is_empty(), "ingest.group_id", || "must not be empty".into())?;
        ensure(self.http_listen.parse::<std::net::SocketAddr>().is_ok(), "ingest.http_listen", || {
            format!("`{}` is not an ip:port address", self.http_listen)
        })?;
        ensure((1..=1_000_000).contains(&self.batch_max_rows), "ingest.batch_max_rows", || {
            format!("{} is out of range 1..=1000000", self.batch_max_rows)
        })?;
        ensure((1024..=1 << 30).contains(&self.batch_max_bytes), "ingest.batch_max_bytes", || {
            format!("{} is out of range 1024..=1073741824", self.batch_max_bytes)
        })?;
        ensure((1..=60_000).contains(&self.batch_max_wait_ms), "ingest.batch_max_wait_ms", || {
            format!("{} is out of range 1..=60000", self.batch_max_wait_ms)
        })?;
        ensure((1..=10_000).contains(&self.fetch_wait_max_ms), "ingest.fetch_wait_max_ms", || {
            format!("{} is out of range 1..=10000", self.fetch_wait_max_ms)
        })?;
        ensure((256..=16 << 20).contains(&self.max_message_bytes), "ingest.max_message_bytes", || {
            format!("{} is out of range 256..=16777216", self.max_message_bytes)
        })?;
        ensure(
            (256..=1 << 20).contains(&self.dead_letter_max_original_bytes),
            "ingest.dead_letter_max_original_bytes",
            || format!("{} is out of range 256..=1048576", self.dead_letter_max_original_bytes),
        )?;
        ensure((0..=MAX_SKEW_SECS).contains(&self.max_future_skew_secs), "ingest.max_future_skew_secs", || {
            format!("{} is out of range 0..={MAX_SKEW_SECS}", self.max_future_skew_secs)
        })?;
        ensure((1..=600_000).contains(&self.retry_initial_ms), "ingest.retry_initial_ms", || {
            format!("{} is out of range 1..=600000", self.retry_initial_ms)
        })?;
        ensure((self.retry_initial_ms..=3_600_000).contains(&self.retry_max_ms), "ingest.retry_max_ms", || {
            format!("{} is out of range retry_initial_ms..=3600000", self.retry_max_ms)
        })?;
        ensure(self.rejoin_when_idle_secs <= 86_400, "ingest.rejoin_when_idle_secs", || {
            format!("{} is out of range 0..=86400", self.rejoin_when_idle_secs)
        })?;
        ensure(matches!(self.auto_offset_reset.as_str(), "earliest" | "latest"), "ingest.auto_offset_reset", || {
            format!("`{}` must be `earliest` or `latest`", self.auto_offset_reset)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        IngestConfig::default().validate().expect("defaults valid");
        IngestConfig::default()
            .validate_against_producer(pulse_runtime::kafka::DEFAULT_MESSAGE_MAX_BYTES)
            .expect("defaults fit librdkafka's default message.max.bytes");
    }

    #[test]
    fn limits_are_checked_against_the_producers_message_max_bytes() {
        let big_original = IngestConfig { dead_letter_max_original_bytes: 512 * 1024, ..IngestConfig::default() };
        big_original.validate().expect("in its own range");
        let err = big_original.validate_against_producer(1_000_000).expect_err("envelope too big").to_string();
        assert!(err.contains("ingest.dead_letter_max_original_bytes"), "{err}");
        big_original.validate_against_producer(4_000_000).expect("fits a larger limit");
        let big_message = IngestConfig { max_message_bytes: 1024 * 1024, ..IngestConfig::default() };
        let err = big_message.validate_against_producer(1_000_000).expect_err("no room").to_string();
        assert!(err.contains("ingest.max_message_bytes"), "{err}");
        IngestConfig { forward: false, ..big_message }.validate_against_producer(1_000_000).expect("nothing forwarded");
    }

    #[test]
    fn errors_name_the_key() {
        type Case = (fn(&mut IngestConfig), &'static str);
        let cases: Vec<Case> = vec![
            (|c| c.batch_max_rows = 0, "ingest.batch_max_rows"),
            (|c| c.http_listen = "nope".into(), "ingest.http_listen"),
            (|c| c.batch_max_wait_ms = 0, "ingest.batch_max_wait_ms"),
            (|c| c.fetch_wait_max_ms = 0, "ingest.fetch_wait_max_ms"),
            (|c| c.fetch_wait_max_ms = 10_001, "ingest.fetch_wait_max_ms"),
            (|c| c.auto_offset_reset = "middle".into(), "ingest.auto_offset_reset"),
            (|c| c.group_id.clear(), "ingest.group_id"),
            (|c| c.max_future_skew_secs = i64::MAX - 1, "ingest.max_future_skew_secs"),
            (|c| c.max_future_skew_secs = -1, "ingest.max_future_skew_secs"),
            (|c| c.max_message_bytes = usize::MAX, "ingest.max_message_bytes"),
            (|c| c.batch_max_bytes = usize::MAX, "ingest.batch_max_bytes"),
            (|c| c.dead_letter_max_original_bytes = 10, "ingest.dead_letter_max_original_bytes"),
            (|c| c.retry_initial_ms = 0, "ingest.retry_initial_ms"),
            (|c| c.retry_max_ms = u64::MAX, "ingest.retry_max_ms"),
            (|c| c.rejoin_when_idle_secs = u64::MAX, "ingest.rejoin_when_idle_secs"),
        ];
        for (mutate, key) in cases {
            let mut c = IngestConfig::default();
            mutate(&mut c);
            let err = c.validate().expect_err(key).to_string();
            assert!(err.contains(key), "{err} should name {key}");
        }
    }
}
