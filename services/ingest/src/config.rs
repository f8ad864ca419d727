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
    /// Messages larger than this go to the DLQ (`oversize_message`) unparsed.
    pub max_message_bytes: usize,
    /// Events whose timestamp is more than this many seconds ahead of the wall clock are
    /// invalid (`future_timestamp`).
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
            max_message_bytes: 1024 * 1024,
            max_future_skew_secs: 86_400,
            retry_initial_ms: 200,
            retry_max_ms: 10_000,
            forward: true,
            auto_offset_reset: "earliest".into(),
            overlap_writes: true,
            rejoin_when_idle_secs: 30,
        }
    }
}

impl IngestConfig {
    pub fn validate(&self) -> Result<(), SettingsError> {
        ensure(!self.group_id.is_empty(), "ingest.group_id", || "must not be empty".into())?;
        ensure(self.http_listen.parse::<std::net::SocketAddr>().is_ok(), "ingest.http_listen", || {
            format!("`{}` is not an ip:port address", self.http_listen)
        })?;
        ensure((1..=1_000_000).contains(&self.batch_max_rows), "ingest.batch_max_rows", || {
            format!("{} is out of range 1..=1000000", self.batch_max_rows)
        })?;
        ensure(self.batch_max_bytes >= 1024, "ingest.batch_max_bytes", || {
            format!("{} is below the minimum of 1024", self.batch_max_bytes)
        })?;
        ensure((1..=60_000).contains(&self.batch_max_wait_ms), "ingest.batch_max_wait_ms", || {
            format!("{} is out of range 1..=60000", self.batch_max_wait_ms)
        })?;
        ensure(self.max_message_bytes >= 256, "ingest.max_message_bytes", || {
            format!("{} is below the minimum of 256", self.max_message_bytes)
        })?;
        ensure(self.max_future_skew_secs >= 0, "ingest.max_future_skew_secs", || "must be >= 0".into())?;
        ensure(
            self.retry_initial_ms >= 1 && self.retry_max_ms >= self.retry_initial_ms,
            "ingest.retry_max_ms",
            || "retry_initial_ms must be >= 1 and retry_max_ms >= retry_initial_ms".into(),
        )?;
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
    }

    #[test]
    fn errors_name_the_key() {
        type Case = (fn(&mut IngestConfig), &'static str);
        let cases: Vec<Case> = vec![
            (|c| c.batch_max_rows = 0, "ingest.batch_max_rows"),
            (|c| c.http_listen = "nope".into(), "ingest.http_listen"),
            (|c| c.batch_max_wait_ms = 0, "ingest.batch_max_wait_ms"),
            (|c| c.auto_offset_reset = "middle".into(), "ingest.auto_offset_reset"),
            (|c| c.group_id.clear(), "ingest.group_id"),
        ];
        for (mutate, key) in cases {
            let mut c = IngestConfig::default();
            mutate(&mut c);
            let err = c.validate().expect_err(key).to_string();
            assert!(err.contains(key), "{err} should name {key}");
        }
    }
}
