//! `[scorer]` configuration. The doc comments are the user documentation.

use std::path::PathBuf;

use pulse_runtime::settings::{ensure, SettingsError};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScorerConfig {
    /// Kafka consumer group. Run N scorers with the same group to share the partitions
    /// of `topics.events` (more scorers than partitions leaves some idle).
    pub group_id: String,
    /// Listen address of `/metrics`, `/healthz` and `/readyz`.
    pub http_listen: String,
    /// The scorecard file (see `config/scoring.toml`); absent = built-in defaults.
    pub scoring_config: Option<PathBuf>,
    /// A batch is evaluated and published when it holds this many events...
    pub batch_max_events: usize,
    /// ...or when its oldest event has waited this long (keeps results fresh).
    pub batch_max_wait_ms: u64,
    /// `fetch.wait.max.ms` of the scorer's consumer: how long the broker may hold a fetch that has
    /// no data for it. Apache Kafka answers as soon as data is there, so this only sets how
    /// often an idle consumer asks; a broker that holds every fetch for the whole wait (the
    /// development broker, tansu) adds up to this much to each event's latency, and a
    /// shorter wait there costs throughput (docs/benchmarks.md, "Freshness, second pass":
    /// 20 ms in both services took the median from about 340 to 150 ms and halved ingest's
    /// throughput on tansu). 1 ..= 10000, default 50; `"fetch.wait.max.ms"` in
    /// `[kafka.properties]` overrides it for every client.
    pub fetch_wait_max_ms: u32,
    /// Write a batch's results (ClickHouse inserts, produce to the result and alert
    /// topics) while the next batch is consumed and evaluated, instead of consuming
    /// nothing until the write is done: an event that arrives during a write no longer
    /// waits for the whole write before its own batch starts. At most one write is in
    /// flight (a flush first finishes the previous one), so writes keep their order; a
    /// snapshot, and so an offset commit, is taken only after the write in flight is
    /// done, and a failed write is retried with consumption paused, as without it.
    /// false = the previous behaviour: each write finishes before the next message is
    /// read.
    pub overlap_writes: bool,
    /// How often partition state is snapshotted to ClickHouse; offsets are committed
    /// right after. A crash replays at most this much of the log.
    pub snapshot_interval_secs: u64,
    /// Hour (UTC, 0..=23) of the daily re-evaluation of every account. 0 = at midnight.
    pub evaluation_hour: u32,
    /// Late events re-emit the results of their day up to today, at most this many days.
    pub reemit_max_days: u32,
    /// Rejoin the consumer group after holding no partition for this long (doubling up to
    /// 10 minutes while it stays idle). Guards against a group coordinator that drops a
    /// crashed member without starting a rebalance (seen with the development broker),
    /// which would leave a healthy scorer idle forever. 0 disables it.
    pub rejoin_when_idle_secs: u64,
    /// Backoff while ClickHouse or the broker refuse writes (never gives up).
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    /// Optional alert webhook (Slack-compatible JSON `{"text": ...}`), delivered by the
    /// notifier from the alerts topic (at least once per idempotency key, see README).
    pub webhook: WebhookConfig,
    /// Consumer group of the notifier, which reads `topics.alerts` and POSTs to the
    /// webhook. Empty = `<group_id>-notify`.
    pub notify_group_id: String,
    /// Run the notifier inside `pulse scorer` (when `webhook.url` is set). Set it to
    /// false on the scorers when you run `pulse notify` separately.
    pub notify_in_scorer: bool,
    /// Listen address of `/metrics`, `/healthz` and `/readyz` of `pulse notify`.
    pub notify_http_listen: String,
    /// Notifications are for the present: the webhook gets only alert transitions whose
    /// day is within this many days before the scorer's current UTC day (0 = today
    /// only; 1 = today and yesterday). Transitions of older days (derived while catching
    /// up a backlog, after a restart, or from a backfill) are recorded (topic and
    /// ClickHouse), never sent, and counted in `pulse_scorer_webhook_skipped_total`.
    pub notify_window_days: u32,
    /// Notifications wait until the scorer has caught up: while a partition of
    /// `topics.events` has more than this many messages not yet applied (a backlog, the
    /// log replayed after a restart or a rebalance), transitions within the notify window
    /// are held, not sent, because the next batch may withdraw them. A held transition that
    /// is withdrawn is never sent (nor its retraction); the rest go out, in order, once
    /// the partition is caught up. Counted in `pulse_scorer_webhook_{held,released,
    /// withdrawn,dropped}_total`; at most 10000 held per partition; held transitions of
    /// a partition revoked in a rebalance (or of a crashed scorer) are dropped, the new
    /// owner re-derives them (at most once, like webhook delivery itself).
    pub notify_max_lag: u64,
    /// A batch whose newest event is older than this (event time against the scorer's
    /// clock) also counts as catching up: a backlog that arrives as fast as the scorer
    /// reads it shows no lag, only old events. 0 = judge by `notify_max_lag` alone.
    pub notify_max_event_age_secs: u64,
    /// After catching up, a partition must stay caught up this long before held
    /// transitions go out (a backlog reaches the events topic in ingest's batches, with
    /// pauses between them). Live notifications are not delayed while it stays caught up.
    pub notify_settle_secs: u64,
    /// When an input source counts as stalled (SPEC v3 §10): while it is, results are
    /// published `stale` with the color of the day before the stall, per-account alerts
    /// are held, and one `source_stalled` system alert is open.
    pub stall: crate::sources::StallConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// POST every alert transition here; empty = disabled. Never logged (it is often a
    /// secret URL).
    pub url: Option<pulse_runtime::Secret>,
    /// Attempts per alert before it is dead-lettered to `topics.dlq`.
    pub max_attempts: u32,
    pub timeout_ms: u64,
    /// PEM bundle of extra CA certificates trusted for an `https://` webhook (a private
    /// CA or a TLS-inspecting proxy), on top of Mozilla's roots. Checked at start-up.
    pub ca_file: Option<std::path::PathBuf>,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self { url: None, max_attempts: 5, timeout_ms: 5_000, ca_file: None }
    }
}

impl Default for ScorerConfig {
    fn default() -> Self {
        Self {
            group_id: "pulse-scorer".into(),
            http_listen: "127.0.0.1:9465".into(),
            scoring_config: None,
            batch_max_events: 50_000,
            batch_max_wait_ms: 100,
            fetch_wait_max_ms: 50,
            overlap_writes: true,
            snapshot_interval_secs: 30,
            evaluation_hour: 0,
            reemit_max_days: 60,
            rejoin_when_idle_secs: 30,
            retry_initial_ms: 200,
            retry_max_ms: 10_000,
            webhook: WebhookConfig::default(),
            notify_group_id: String::new(),
            notify_in_scorer: true,
            notify_http_listen: "127.0.0.1:9466".into(),
            notify_window_days: 0,
            notify_max_lag: 1_000,
            notify_max_event_age_secs: 900,
            notify_settle_secs: 10,
            stall: crate::sources::StallConfig::default(),
        }
    }
}

impl ScorerConfig {
    pub fn validate(&self) -> Result<(), SettingsError> {
        ensure(!self.group_id.is_empty(), "scorer.group_id", || "must not be empty".into())?;
        ensure(self.http_listen.parse::<std::net::SocketAddr>().is_ok(), "scorer.http_listen", || {
            format!("`{}` is not an ip:port address", self.http_listen)
        })?;
        ensure((1..=1_000_000).contains(&self.batch_max_events), "scorer.batch_max_events", || {
            format!("{} is out of range 1..=1000000", self.batch_max_events)
        })?;
        ensure((1..=60_000).contains(&self.batch_max_wait_ms), "scorer.batch_max_wait_ms", || {
            format!("{} is out of range 1..=60000", self.batch_max_wait_ms)
        })?;
        ensure((1..=10_000).contains(&self.fetch_wait_max_ms), "scorer.fetch_wait_max_ms", || {
            format!("{} is out of range 1..=10000", self.fetch_wait_max_ms)
        })?;
        ensure((1..=86_400).contains(&self.snapshot_interval_secs), "scorer.snapshot_interval_secs", || {
            format!("{} is out of range 1..=86400", self.snapshot_interval_secs)
        })?;
        ensure(self.evaluation_hour <= 23, "scorer.evaluation_hour", || {
            format!("{} is not an hour 0..=23", self.evaluation_hour)
        })?;
        ensure((1..=63).contains(&self.reemit_max_days), "scorer.reemit_max_days", || {
            format!("{} is out of range 1..=63", self.reemit_max_days)
        })?;
        ensure((1..=600_000).contains(&self.retry_initial_ms), "scorer.retry_initial_ms", || {
            format!("{} is out of range 1..=600000", self.retry_initial_ms)
        })?;
        ensure((self.retry_initial_ms..=3_600_000).contains(&self.retry_max_ms), "scorer.retry_max_ms", || {
            format!("{} is out of range retry_initial_ms..=3600000", self.retry_max_ms)
        })?;
        ensure(self.rejoin_when_idle_secs <= 86_400, "scorer.rejoin_when_idle_secs", || {
            format!("{} is out of range 0..=86400", self.rejoin_when_idle_secs)
        })?;
        ensure(self.notify_window_days <= 366, "scorer.notify_window_days", || {
            format!("{} is out of range 0..=366", self.notify_window_days)
        })?;
        ensure(self.notify_max_lag <= 1_000_000_000, "scorer.notify_max_lag", || {
            format!("{} is out of range 0..=1000000000", self.notify_max_lag)
        })?;
        ensure(self.notify_max_event_age_secs <= 31 * 86_400, "scorer.notify_max_event_age_secs", || {
            format!("{} is out of range 0..=2678400 (31 days)", self.notify_max_event_age_secs)
        })?;
        ensure(self.notify_settle_secs <= 3_600, "scorer.notify_settle_secs", || {
            format!("{} is out of range 0..=3600", self.notify_settle_secs)
        })?;
        ensure(self.notify_http_listen.parse::<std::net::SocketAddr>().is_ok(), "scorer.notify_http_listen", || {
            format!("`{}` is not an ip:port address", self.notify_http_listen)
        })?;
        for (key, v) in [
            ("scorer.stall.usage_limit_secs", self.stall.usage_limit_secs),
            ("scorer.stall.crm_limit_secs", self.stall.crm_limit_secs),
        ] {
            ensure(v <= crate::sources::MAX_LIMIT_SECS, key, || {
                format!("{v} is out of range 0..={} (0 disables the check)", crate::sources::MAX_LIMIT_SECS)
            })?;
        }
        ensure((1..=100).contains(&self.webhook.max_attempts), "scorer.webhook.max_attempts", || {
            format!("{} is out of range 1..=100", self.webhook.max_attempts)
        })?;
        ensure((1..=600_000).contains(&self.webhook.timeout_ms), "scorer.webhook.timeout_ms", || {
            format!("{} is out of range 1..=600000", self.webhook.timeout_ms)
        })?;
        if let Some(url) = &self.webhook.url {
            let u = url.expose();
            ensure(u.starts_with("http://") || u.starts_with("https://"), "scorer.webhook.url", || {
                "must start with http:// or https://".into()
            })?;
        }
        pulse_runtime::tls::client_config_for(self.webhook.ca_file.as_deref(), "scorer.webhook.ca_file")?;
        Ok(())
    }

    /// The notifier's consumer group.
    pub fn notify_group(&self) -> String {
        if self.notify_group_id.is_empty() {
            format!("{}-notify", self.group_id)
        } else {
            self.notify_group_id.clone()
        }
    }

    /// When a partition counts as caught up for notifications (see `notify`).
    pub fn notify_gate(&self) -> crate::notify::GateConfig {
        crate::notify::GateConfig {
            max_lag: i64::try_from(self.notify_max_lag).unwrap_or(i64::MAX),
            max_event_age_secs: i64::try_from(self.notify_max_event_age_secs).unwrap_or(i64::MAX),
            settle: std::time::Duration::from_secs(self.notify_settle_secs),
        }
    }

    /// Loads the scorecard: the file when configured, else the defaults.
    pub fn load_scoring(&self) -> Result<pulse_core::ScoringConfig, SettingsError> {
        match &self.scoring_config {
            None => Ok(pulse_core::ScoringConfig::default()),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| {
                    SettingsError::invalid("scorer.scoring_config", format!("cannot read {}: {e}", p.display()))
                })?;
                pulse_core::ScoringConfig::from_toml_str(&text)
                    .map_err(|e| SettingsError::invalid("scorer.scoring_config", format!("{}: {e}", p.display())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_errors_name_the_key() {
        ScorerConfig::default().validate().expect("defaults valid");
        type Case = (fn(&mut ScorerConfig), &'static str);
        let cases: Vec<Case> = vec![
            (|c| c.batch_max_events = 0, "scorer.batch_max_events"),
            (|c| c.fetch_wait_max_ms = 0, "scorer.fetch_wait_max_ms"),
            (|c| c.fetch_wait_max_ms = 10_001, "scorer.fetch_wait_max_ms"),
            (|c| c.evaluation_hour = 24, "scorer.evaluation_hour"),
            (|c| c.reemit_max_days = 0, "scorer.reemit_max_days"),
            (|c| c.http_listen = "x".into(), "scorer.http_listen"),
            (|c| c.notify_http_listen = "x".into(), "scorer.notify_http_listen"),
            (|c| c.notify_max_lag = u64::MAX, "scorer.notify_max_lag"),
            (|c| c.notify_max_event_age_secs = 40 * 86_400, "scorer.notify_max_event_age_secs"),
            (|c| c.notify_settle_secs = 3_601, "scorer.notify_settle_secs"),
            (|c| c.retry_initial_ms = 0, "scorer.retry_initial_ms"),
            (|c| c.stall.usage_limit_secs = u64::MAX, "scorer.stall.usage_limit_secs"),
            (|c| c.stall.crm_limit_secs = 400 * 86_400, "scorer.stall.crm_limit_secs"),
            (|c| c.retry_max_ms = u64::MAX, "scorer.retry_max_ms"),
            (|c| c.rejoin_when_idle_secs = u64::MAX, "scorer.rejoin_when_idle_secs"),
            (|c| c.webhook.max_attempts = u32::MAX, "scorer.webhook.max_attempts"),
            (|c| c.webhook.timeout_ms = 0, "scorer.webhook.timeout_ms"),
            (|c| c.webhook.timeout_ms = u64::MAX, "scorer.webhook.timeout_ms"),
            (|c| c.webhook.url = Some(pulse_runtime::Secret::new("ftp://x")), "scorer.webhook.url"),
            (|c| c.scoring_config = Some("/nonexistent/scoring.toml".into()), "scorer.scoring_config"),
        ];
        for (mutate, key) in cases {
            let mut c = ScorerConfig::default();
            mutate(&mut c);
            let err = c.validate().and_then(|()| c.load_scoring().map(|_| ())).expect_err(key).to_string();
            assert!(err.contains(key), "{err} should name {key}");
        }
    }
}
