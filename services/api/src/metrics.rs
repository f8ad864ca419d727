//! API instrumentation, named `pulse_api_*`. Labels are bounded: the matched route
//! template (never the raw path, which holds account ids), the method and the status.

use prometheus::{exponential_buckets, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry};

#[derive(Clone)]
pub struct ApiMetrics {
    pub requests: IntCounterVec,
    pub duration: HistogramVec,
    pub auth_failures: IntCounter,
    pub errors: IntCounterVec,
    pub acks: IntCounter,
}

impl ApiMetrics {
    /// Registers the API metrics in `registry`.
    #[allow(clippy::expect_used)] // static definitions: a failure is a programming error
    pub fn new(registry: &Registry) -> Self {
        let requests = IntCounterVec::new(
            Opts::new("pulse_api_requests_total", "Requests by route template, method and status"),
            &["route", "method", "status"],
        )
        .expect("static metric definition");
        let duration = HistogramVec::new(
            HistogramOpts::new("pulse_api_request_duration_seconds", "Time to answer a request, by route template")
                .buckets(exponential_buckets(0.001, 2.0, 15).expect("static buckets")),
            &["route"],
        )
        .expect("static metric definition");
        let auth_failures =
            IntCounter::new("pulse_api_auth_failures_total", "Requests refused for missing or wrong credentials (401)")
                .expect("static metric definition");
        let errors = IntCounterVec::new(
            Opts::new("pulse_api_errors_total", "Failed requests by stage and error type"),
            &["stage", "error_type"],
        )
        .expect("static metric definition");
        let acks = IntCounter::new("pulse_api_alert_acks_total", "Alert acknowledgements stored")
            .expect("static metric definition");
        for m in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(duration.clone()),
            Box::new(auth_failures.clone()),
            Box::new(errors.clone()),
            Box::new(acks.clone()),
        ] {
            registry.register(m).expect("metric registered once");
        }
        Self { requests, duration, auth_failures, errors, acks }
    }
}
