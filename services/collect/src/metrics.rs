//! Collector instrumentation, named `pulse_collect_*`. Labels are bounded: the fixed
//! set of routes, HTTP status codes the collector answers, call types, reason codes and
//! the configured topics; never a source's key, a user or an account.

use prometheus::{
    exponential_buckets, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

#[derive(Clone)]
pub struct CollectMetrics {
    /// Requests by route and answered status.
    pub requests: IntCounterVec,
    /// Calls accepted, by call type (identify and alias included: acknowledged, not
    /// forwarded), counted once the broker acknowledged the request's records.
    pub accepted: IntCounterVec,
    /// Calls rejected, by reason: each has a dead letter acknowledged by the broker.
    pub rejected: IntCounterVec,
    /// Events acknowledged by the broker, by topic.
    pub produced: IntCounterVec,
    /// Dead letters acknowledged by the broker.
    pub dead_letters: IntCounter,
    /// Calls without a `messageId`: a minted one cannot be deduplicated on retry.
    pub minted_ids: IntCounter,
    /// Calls answered from the recent-ids table without producing: retries of events
    /// the broker had acknowledged (or was acknowledging) for an earlier request.
    pub duplicates: IntCounter,
    /// Event ids remembered for that (in flight or acknowledged).
    pub recent_ids: IntGauge,
    /// Request handling time by route (decode to the broker's acknowledgement).
    pub duration: HistogramVec,
    /// Produce failures and timeouts answered 503, by kind (`timeout`, `refused`).
    pub unavailable: IntCounterVec,
}

impl CollectMetrics {
    /// Registers the collector's metrics in `registry`.
    #[allow(clippy::expect_used)] // static definitions: a failure is a programming error
    pub fn new(registry: &Registry) -> Self {
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("static metric definition");
            registry.register(Box::new(c.clone())).expect("metric registered once");
            c
        };
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("static metric definition");
            registry.register(Box::new(c.clone())).expect("metric registered once");
            c
        };
        let duration = HistogramVec::new(
            HistogramOpts::new("pulse_collect_request_duration_seconds", "Request handling time, broker acks included")
                .buckets(exponential_buckets(0.0005, 2.0, 16).expect("static buckets")),
            &["route"],
        )
        .expect("static metric definition");
        registry.register(Box::new(duration.clone())).expect("metric registered once");
        Self {
            requests: counter_vec("pulse_collect_requests_total", "Requests by route and status", &["route", "status"]),
            accepted: counter_vec(
                "pulse_collect_accepted_calls_total",
                "Calls accepted (acknowledged by the broker), by call type",
                &["type"],
            ),
            rejected: counter_vec(
                "pulse_collect_rejected_calls_total",
                "Calls rejected, by reason (each one dead-lettered)",
                &["reason"],
            ),
            produced: counter_vec(
                "pulse_collect_produced_events_total",
                "Events acknowledged by the broker, by topic",
                &["topic"],
            ),
            dead_letters: counter(
                "pulse_collect_dlq_messages_total",
                "Dead letters acknowledged by the broker on the dead-letter topic",
            ),
            minted_ids: counter(
                "pulse_collect_minted_message_ids_total",
                "Calls without a messageId (given a minted one: not deduplicated on retry)",
            ),
            duplicates: counter(
                "pulse_collect_duplicate_calls_total",
                "Calls whose event the broker already had from an earlier request (a retry): not produced again",
            ),
            recent_ids: {
                let g =
                    IntGauge::new("pulse_collect_recent_ids", "Event ids remembered to answer retries without copies")
                        .expect("static metric definition");
                registry.register(Box::new(g.clone())).expect("metric registered once");
                g
            },
            duration,
            unavailable: counter_vec(
                "pulse_collect_unavailable_total",
                "Requests answered 503 because the broker did not acknowledge in time, by kind",
                &["kind"],
            ),
        }
    }
}
