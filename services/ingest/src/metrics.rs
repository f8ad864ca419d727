//! Ingest instrumentation: every counter lives here, named `pulse_ingest_*`, with labels
//! bounded by configuration (topic names, event types, reason codes, table names) and
//! never by data (no account ids).

use prometheus::{exponential_buckets, Histogram, HistogramOpts, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

#[derive(Clone)]
pub struct IngestMetrics {
    pub consumed: IntCounterVec,
    pub valid: IntCounterVec,
    pub invalid: IntCounterVec,
    pub inserted_rows: IntCounterVec,
    pub forwarded: prometheus::IntCounter,
    pub dead_lettered: prometheus::IntCounter,
    pub batch_duration: Histogram,
    pub batch_rows: Histogram,
    pub errors: IntCounterVec,
    pub consumer_lag: IntGaugeVec,
    pub paused: IntGauge,
    pub committed_batches: prometheus::IntCounter,
    /// Time the consumer went without being polled (the shared consumer loop's).
    pub poll_gap_seconds: Histogram,
    /// Consumer-group rejoins by the idle watchdog.
    pub rejoins: prometheus::IntCounter,
    /// Time the consume loop waited on writes, per flush or settle.
    pub write_wait_seconds: Histogram,
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("static metric definition");
    registry.register(Box::new(c.clone())).expect("metric registered once");
    c
}

impl IngestMetrics {
    /// Registers the ingest metrics in `registry`.
    #[allow(clippy::expect_used)] // static definitions: a failure is a programming error
    pub fn new(registry: &Registry) -> Self {
        let forwarded = prometheus::IntCounter::new(
            "pulse_ingest_forwarded_events_total",
            "Normalized events acknowledged by the broker on the events topic",
        )
        .expect("static metric definition");
        let dead_lettered = prometheus::IntCounter::new(
            "pulse_ingest_dlq_messages_total",
            "Invalid messages acknowledged by the broker on the dead-letter topic",
        )
        .expect("static metric definition");
        let committed_batches = prometheus::IntCounter::new(
            "pulse_ingest_committed_batches_total",
            "Batches whose offsets were committed after their outputs were durable",
        )
        .expect("static metric definition");
        let batch_duration = Histogram::with_opts(
            HistogramOpts::new(
                "pulse_ingest_batch_flush_duration_seconds",
                "Time to make one batch durable (ClickHouse insert, broker acks, commit)",
            )
            .buckets(exponential_buckets(0.001, 2.0, 16).expect("static buckets")),
        )
        .expect("static metric definition");
        let batch_rows = Histogram::with_opts(
            HistogramOpts::new("pulse_ingest_batch_size_events", "Messages per flushed batch")
                .buckets(exponential_buckets(1.0, 4.0, 10).expect("static buckets")),
        )
        .expect("static metric definition");
        let consumer_lag = IntGaugeVec::new(
            Opts::new(
                "pulse_ingest_consumer_lag_messages",
                "Messages not yet consumed, summed over the assigned partitions of a topic",
            ),
            &["topic"],
        )
        .expect("static metric definition");
        let paused =
            IntGauge::new("pulse_ingest_paused", "1 while consumption is paused because outputs are refusing writes")
                .expect("static metric definition");
        let poll_gap_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "pulse_ingest_poll_gap_seconds",
                "Time from each wake-up of the consume loop to its next wait for a message (flushes included)",
            )
            .buckets(exponential_buckets(0.001, 2.0, 16).expect("static buckets")),
        )
        .expect("static metric definition");
        let write_wait_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "pulse_ingest_write_wait_seconds",
                "Time the consume loop waited on writes per flush or settle (with overlapped writes, only what consuming the next batch did not hide)",
            )
            .buckets(exponential_buckets(0.001, 2.0, 16).expect("static buckets")),
        )
        .expect("static metric definition");
        let rejoins = prometheus::IntCounter::new(
            "pulse_ingest_group_rejoins_total",
            "Consumer-group rejoins after holding no partition too long",
        )
        .expect("static metric definition");
        for m in [
            Box::new(forwarded.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(poll_gap_seconds.clone()),
            Box::new(rejoins.clone()),
            Box::new(write_wait_seconds.clone()),
            Box::new(dead_lettered.clone()),
            Box::new(committed_batches.clone()),
            Box::new(batch_duration.clone()),
            Box::new(batch_rows.clone()),
            Box::new(consumer_lag.clone()),
            Box::new(paused.clone()),
        ] {
            registry.register(m).expect("metric registered once");
        }
        Self {
            consumed: counter_vec(registry, "pulse_ingest_consumed_messages_total", "Messages consumed", &["topic"]),
            valid: counter_vec(
                registry,
                "pulse_ingest_valid_events_total",
                "Valid events by normalized type",
                &["type"],
            ),
            invalid: counter_vec(
                registry,
                "pulse_ingest_invalid_events_total",
                "Invalid messages by machine-readable reason (each goes to the DLQ)",
                &["reason"],
            ),
            inserted_rows: counter_vec(
                registry,
                "pulse_ingest_inserted_rows_total",
                "Rows inserted into ClickHouse",
                &["table"],
            ),
            forwarded,
            dead_lettered,
            batch_duration,
            batch_rows,
            errors: counter_vec(
                registry,
                "pulse_ingest_errors_total",
                "Errors by stage and type (all retried; nothing is dropped)",
                &["stage", "error_type"],
            ),
            consumer_lag,
            paused,
            committed_batches,
            poll_gap_seconds,
            rejoins,
            write_wait_seconds,
        }
    }
}
