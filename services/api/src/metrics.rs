//! API instrumentation, named `pulse_api_*`. Labels are bounded: the matched route
//! template (never the raw path, which holds account ids), the method (one of the
//! standard ones, else `other`) and the status.

use axum::http::Method;
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

/// The `method` label of a request. Requests are counted before authentication decides
/// anything, so the label takes only the standard methods by name and `other` for any
/// method a client makes up: an unauthenticated client cannot create time series.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_label_is_bounded() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::POST), "POST");
        for made_up in ["PWNED", "GETX", "get", "X-1234567890"] {
            let m = Method::from_bytes(made_up.as_bytes()).expect("a valid method token");
            assert_eq!(method_label(&m), "other", "{made_up}");
        }
    }
}
