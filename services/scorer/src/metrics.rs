//! Scorer instrumentation, `pulse_scorer_*`, labels bounded (rule, table, stage, outcome).

use prometheus::{
    exponential_buckets, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

#[derive(Clone)]
pub struct ScorerMetrics {
    pub events: IntCounterVec,
    pub invalid: IntCounter,
    pub accounts: IntGauge,
    pub tracked_users: IntGauge,
    pub state_bytes: IntGauge,
    pub partitions: IntGauge,
    pub evaluations: IntCounter,
    pub evaluation_seconds: Histogram,
    /// Time the poll loop spent on one wake-up (a message, a batch flush, the 1 s tick)
    /// before it could poll the consumer again: librdkafka leaves the group when this
    /// exceeds `max.poll.interval.ms`.
    pub poll_gap_seconds: Histogram,
    /// The same, of the notifier's poll loop (its own consumer).
    pub notify_poll_gap_seconds: Histogram,
    pub event_to_publish_seconds: Histogram,
    pub event_to_stored_seconds: Histogram,
    pub insert_seconds: Histogram,
    pub produce_seconds: Histogram,
    pub published: IntCounterVec,
    pub alerts: IntCounterVec,
    pub snapshots: IntCounter,
    /// Time to encode one partition's snapshot (off the async workers).
    pub snapshot_encode_seconds: Histogram,
    pub restores: IntCounterVec,
    pub errors: IntCounterVec,
    pub paused: IntGauge,
    pub consumer_lag: IntGaugeVec,
    pub webhook: IntCounterVec,
    /// Alert transitions recorded but not notified: outside the notify window.
    pub webhook_skipped: IntCounterVec,
    /// Alert transitions held back while their partition catches up (see `notify`)...
    pub webhook_held: IntCounterVec,
    /// ...sent once it caught up...
    pub webhook_released: IntCounterVec,
    /// ...withdrawn by a retraction while held (neither is sent)...
    pub webhook_withdrawn: IntCounterVec,
    /// ...or dropped: over the per-partition bound, or the partition was revoked.
    pub webhook_dropped: IntCounterVec,
    /// Alert transitions held right now, all partitions.
    pub webhook_holding: IntGauge,
    /// Partitions held whose notifications wait until they catch up.
    pub partitions_catching_up: IntGauge,
    pub rejoins: IntCounter,
    /// Per input source: wall clock minus its newest event time (SPEC v3 §10).
    pub source_lag_seconds: prometheus::GaugeVec,
    /// Per input source: 1 while it is stalled (past `scorer.stall.*_limit_secs`).
    pub source_stalled: IntGaugeVec,
}

#[allow(clippy::expect_used)] // static metric definitions: a failure is a programming error
fn reg<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, m: T) -> T {
    r.register(Box::new(m.clone())).expect("metric registered once");
    m
}

impl ScorerMetrics {
    #[allow(clippy::expect_used)]
    pub fn new(r: &Registry) -> Self {
        let cv = |name: &str, help: &str, labels: &[&str]| {
            reg(r, IntCounterVec::new(Opts::new(name, help), labels).expect("metric"))
        };
        let c = |name: &str, help: &str| reg(r, IntCounter::new(name, help).expect("metric"));
        let g = |name: &str, help: &str| reg(r, IntGauge::new(name, help).expect("metric"));
        let h = |name: &str, help: &str, start: f64, factor: f64, n: usize| {
            reg(
                r,
                Histogram::with_opts(
                    HistogramOpts::new(name, help).buckets(exponential_buckets(start, factor, n).expect("buckets")),
                )
                .expect("metric"),
            )
        };
        Self {
            events: cv("pulse_scorer_events_total", "Events consumed, by what applying them did", &["outcome"]),
            invalid: c("pulse_scorer_invalid_events_total", "Messages on the events topic that are not valid events (dead-lettered)"),
            accounts: g("pulse_scorer_accounts", "Accounts tracked by this scorer"),
            tracked_users: g("pulse_scorer_tracked_users", "(account, user) pairs active within the horizon"),
            state_bytes: g("pulse_scorer_state_bytes", "Size of the last snapshots of all partitions held"),
            partitions: g("pulse_scorer_partitions", "Partitions currently held"),
            evaluations: c("pulse_scorer_evaluations_total", "Account-day evaluations"),
            evaluation_seconds: h("pulse_scorer_evaluation_duration_seconds", "Time to evaluate one batch's touched accounts", 0.0001, 2.0, 18),
            poll_gap_seconds: h(
                "pulse_scorer_poll_gap_seconds",
                "Time between one wake-up of the poll loop and its next poll of the consumer",
                0.0001,
                2.0,
                20,
            ),
            notify_poll_gap_seconds: h(
                "pulse_notifier_poll_gap_seconds",
                "Time between one wake-up of the notifier's poll loop and its next poll of its consumer",
                0.0001,
                2.0,
                20,
            ),
            event_to_publish_seconds: h(
                "pulse_scorer_event_to_publish_seconds",
                "From an event's original produce time to its results acknowledged on the health and readiness topics",
                0.005,
                1.5,
                20,
            ),
            event_to_stored_seconds: h(
                "pulse_scorer_event_to_stored_seconds",
                "From an event's original produce time to its results acknowledged by ClickHouse",
                0.005,
                1.5,
                20,
            ),
            insert_seconds: h(
                "pulse_scorer_insert_duration_seconds",
                "From the start of a batch's write to its last ClickHouse insert acknowledged (retries included)",
                0.001,
                1.5,
                20,
            ),
            produce_seconds: h(
                "pulse_scorer_produce_duration_seconds",
                "From the start of a batch's write to its last health or readiness message acknowledged (retries included)",
                0.001,
                1.5,
                20,
            ),
            published: cv("pulse_scorer_published_total", "Results published (Kafka and ClickHouse)", &["kind"]),
            alerts: cv("pulse_scorer_alert_transitions_total", "Alert transitions", &["rule", "state"]),
            snapshots: c("pulse_scorer_snapshots_total", "Partition snapshots stored"),
            snapshot_encode_seconds: h(
                "pulse_scorer_snapshot_encode_seconds",
                "Time to encode one partition's state into a snapshot",
                0.0005,
                2.0,
                16,
            ),
            restores: cv("pulse_scorer_restores_total", "Partition state restores", &["from"]),
            errors: cv("pulse_scorer_errors_total", "Errors by stage (retried; nothing is dropped)", &["stage", "error_type"]),
            paused: g("pulse_scorer_paused", "1 while consumption is paused because outputs refuse writes"),
            consumer_lag: reg(
                r,
                IntGaugeVec::new(Opts::new("pulse_scorer_consumer_lag_messages", "Events not yet consumed, summed over held partitions"), &["topic"])
                    .expect("metric"),
            ),
            webhook: cv("pulse_scorer_webhook_deliveries_total", "Alert webhook deliveries", &["result"]),
            webhook_skipped: cv(
                "pulse_scorer_webhook_skipped_total",
                "Alert transitions recorded but not sent to the webhook: their day is outside scorer.notify_window_days (history derived while catching up a backlog, a restart or a backfill)",
                &["rule", "state"],
            ),
            webhook_held: cv(
                "pulse_scorer_webhook_held_total",
                "Alert transitions within the notify window held back because their partition was catching up (scorer.notify_max_lag)",
                &["rule", "state"],
            ),
            webhook_released: cv(
                "pulse_scorer_webhook_released_total",
                "Held alert transitions sent to the webhook once their partition caught up",
                &["rule", "state"],
            ),
            webhook_withdrawn: cv(
                "pulse_scorer_webhook_withdrawn_total",
                "Held alert transitions withdrawn (retracted) before they were sent; neither they nor their retraction are sent",
                &["rule", "state"],
            ),
            webhook_dropped: cv(
                "pulse_scorer_webhook_dropped_total",
                "Held alert transitions never sent: over 10000 held in a partition, or the partition was revoked",
                &["rule", "state"],
            ),
            webhook_holding: g("pulse_scorer_webhook_held", "Alert transitions held right now, waiting for their partition to catch up"),
            partitions_catching_up: g(
                "pulse_scorer_partitions_catching_up",
                "Partitions held whose alert notifications wait until they catch up",
            ),
            rejoins: c("pulse_scorer_group_rejoins_total", "Consumer-group rejoins after holding no partition too long"),
            source_lag_seconds: reg(
                r,
                prometheus::GaugeVec::new(
                    Opts::new(
                        "pulse_source_lag_seconds",
                        "Wall clock minus the newest event time applied from each input source (event times ahead of receipt count as received)",
                    ),
                    &["source"],
                )
                .expect("metric"),
            ),
            source_stalled: reg(
                r,
                IntGaugeVec::new(
                    Opts::new("pulse_scorer_source_stalled", "1 while an input source lags past its scorer.stall limit"),
                    &["source"],
                )
                .expect("metric"),
            ),
        }
    }
}
