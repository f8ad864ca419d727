//! The HTTP service: routes, the request pipeline (read, decode, authenticate, limit,
//! split into calls, map, produce, answer) and its answers (SPEC §9).
//!
//! A request is answered 200 only after the broker acknowledged every record it made
//! (`acks=all`): the accepted events and the dead letters of the rejected calls alike,
//! so every rejected entry in an answer has its dead letter, and every 200 means stored.
//! When the broker does not acknowledge within `collect.ack_timeout_ms`, 503 with
//! `Retry-After`: the SDKs retry, and the repeated `messageId`s give the same
//! `event_id`s, which count once downstream.

use std::{
    num::NonZeroU32,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    body::Body,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Router,
};
use chrono::{DateTime, Utc};
use governor::{
    clock::{Clock as _, MonotonicClock},
    state::{InMemoryState, NotKeyed},
    Quota, RateLimiter,
};
use pulse_runtime::{
    batch_producer::{BatchError, BatchProducer, Record},
    dlq::{DeadLetter, Origin, Reason, DEFAULT_MAX_ORIGINAL_BYTES},
    http::Readiness,
    kafka::{KafkaConfig, TopicsConfig},
};
use serde_json::{json, value::RawValue, Map, Value};
use tokio::{net::TcpListener, sync::watch};

use crate::{
    auth::{self, AuthError, Sources},
    body,
    config::CollectConfig,
    map::{self, CallType, Output, Rejection},
    metrics::CollectMetrics,
    recent::{Claim, Key, Recent},
};

/// What a route takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// One call; the route decides its type.
    Single(CallType),
    /// `{"batch":[..]}`, each item with its `type`.
    Batch,
    /// One call of any type, or a JSON array of calls.
    Webhook,
}

/// Every route, its path (also its metric label).
pub const ROUTES: &[(&str, Route)] = &[
    ("/v1/track", Route::Single(CallType::Track)),
    ("/v1/identify", Route::Single(CallType::Identify)),
    ("/v1/group", Route::Single(CallType::Group)),
    ("/v1/page", Route::Single(CallType::Page)),
    ("/v1/screen", Route::Single(CallType::Screen)),
    ("/v1/alias", Route::Single(CallType::Alias)),
    ("/v1/batch", Route::Batch),
    ("/v1/import", Route::Batch),
    ("/v1/t", Route::Single(CallType::Track)),
    ("/v1/i", Route::Single(CallType::Identify)),
    ("/v1/g", Route::Single(CallType::Group)),
    ("/v1/p", Route::Single(CallType::Page)),
    ("/v1/s", Route::Single(CallType::Screen)),
    ("/v1/a", Route::Single(CallType::Alias)),
    ("/v1/b", Route::Batch),
    ("/v1/webhook", Route::Webhook),
];

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("cannot create the Kafka producer: {0}")]
    Producer(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    Config(#[from] pulse_runtime::settings::SettingsError),
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, MonotonicClock>;

/// Room a record needs beside a call's bytes (the mapped event's extra fields, the key).
const RECORD_OVERHEAD_BYTES: usize = 16 * 1024;

/// The collector: configuration, the sources, the producer and the metrics.
pub struct Collector {
    cfg: CollectConfig,
    topics: TopicsConfig,
    producer: BatchProducer,
    /// Ids of events produced lately: retries produce nothing twice.
    recent: Arc<Recent>,
    sources: Sources,
    /// One per source, when a rate is configured.
    limiters: Vec<Option<Limiter>>,
    clock: MonotonicClock,
    metrics: CollectMetrics,
    ready: Readiness,
    registry: prometheus::Registry,
}

/// One event to produce: topic (0 usage, 1 crm), key (its account), bytes, recent-id key.
struct Event {
    topic: usize,
    key: String,
    payload: Vec<u8>,
    id: Key,
}

/// One request's records on their way to the broker (owned: it outlives the request
/// when the request stops waiting).
struct Flight {
    producer: BatchProducer,
    recent: Arc<Recent>,
    /// usage, crm, dead letters.
    topics: [String; 3],
    source: String,
    events: Vec<Event>,
    letters: Vec<Vec<u8>>,
    queue_timeout: Duration,
}

impl Flight {
    /// Sends the events and the dead letters, waits for the broker to settle every one
    /// (at most the producer's `message.timeout.ms`), then settles the events' ids and
    /// tells the requests waiting on them.
    async fn fly(self, settled: watch::Sender<bool>) -> Result<(), BatchError> {
        let mut records: Vec<Record<'_>> = self
            .events
            .iter()
            .map(|e| Record {
                topic: &self.topics[e.topic],
                key: Some(e.key.as_bytes()),
                payload: &e.payload,
                timestamp: None,
            })
            .collect();
        records.extend(self.letters.iter().map(|payload| Record {
            topic: &self.topics[2],
            key: Some(self.source.as_bytes()),
            payload,
            timestamp: None,
        }));
        let result = self.producer.send_all(&records, self.queue_timeout).await;
        let mut acked = vec![true; self.events.len()];
        if let Err(e) = &result {
            for i in e.indexes() {
                if let Some(a) = acked.get_mut(i) {
                    *a = false;
                }
            }
        }
        let ids: Vec<Key> = self.events.iter().map(|e| e.id).collect();
        self.recent.settle(&ids, &acked, Instant::now());
        let _ = settled.send(true);
        result
    }
}

/// A call's outcome, before the broker acknowledged anything.
enum Outcome {
    Accepted { kind: CallType, minted: bool },
    Rejected { message_id: Value, reason: Reason },
}

/// An answer of the whole request.
struct Answer {
    status: StatusCode,
    body: Value,
    headers: Vec<(&'static str, String)>,
}

impl Answer {
    fn error(status: StatusCode, message: impl std::fmt::Display) -> Self {
        Self { status, body: json!({"ok": false, "error": message.to_string()}), headers: Vec::new() }
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(self.body)).into_response();
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                r.headers_mut().insert(name, v);
            }
        }
        r
    }
}

impl Collector {
    /// Checks the limits against the producer's `message.max.bytes` and creates the
    /// producer (no I/O: librdkafka connects in the background).
    pub fn new(
        cfg: CollectConfig,
        kafka: &KafkaConfig,
        topics: TopicsConfig,
        registry: prometheus::Registry,
        ready: Readiness,
    ) -> Result<Self, CollectError> {
        cfg.validate()?;
        let max = kafka.message_max_bytes()?;
        pulse_runtime::settings::ensure(
            cfg.max_event_bytes + RECORD_OVERHEAD_BYTES <= max
                && pulse_runtime::dlq::max_envelope_bytes(DEFAULT_MAX_ORIGINAL_BYTES) <= max,
            "collect.max_event_bytes",
            || format!("{} leaves no room under the producer's message.max.bytes = {max}", cfg.max_event_bytes),
        )?;
        let producer = kafka.batch_producer()?;
        let limiters = cfg
            .sources
            .iter()
            .map(|_| {
                let rate = NonZeroU32::new(cfg.rate_limit_per_sec)?;
                let burst = NonZeroU32::new(cfg.rate_limit_burst).unwrap_or(rate);
                Some(RateLimiter::direct_with_clock(Quota::per_second(rate).allow_burst(burst), MonotonicClock))
            })
            .collect();
        let metrics = CollectMetrics::new(&registry);
        Ok(Self {
            sources: Sources::new(&cfg.sources),
            recent: Arc::new(Recent::new(Duration::from_secs(cfg.dedup_window_secs), cfg.dedup_max_ids)),
            cfg,
            topics,
            producer,
            limiters,
            clock: MonotonicClock,
            metrics,
            ready,
            registry,
        })
    }

    pub fn metrics(&self) -> &CollectMetrics {
        &self.metrics
    }

    /// The Tracking API, with CORS for any origin, and `/metrics` `/healthz` `/readyz`.
    pub fn router(self: Arc<Self>) -> Router {
        let mut api = Router::new();
        for &(path, route) in ROUTES {
            api = api.route(
                path,
                post(move |State(app): State<Arc<Collector>>, headers: HeaderMap, body: Body| async move {
                    app.handle(path, route, headers, body).await
                }),
            );
        }
        let cors = tower_http::cors::CorsLayer::permissive().max_age(Duration::from_secs(86_400));
        api.with_state(self.clone())
            .layer(cors)
            .merge(pulse_runtime::http::router(self.registry.clone(), self.ready.clone()))
    }

    /// Serves on `listener` until `shutdown` resolves, then waits for the broker to
    /// acknowledge what is in flight (at most the ack timeout).
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        self.ready.set(true);
        let producer = self.producer.clone();
        let wait = Duration::from_millis(self.cfg.ack_timeout_ms);
        let served = axum::serve(listener, self.router()).with_graceful_shutdown(shutdown).await;
        let _ = tokio::task::spawn_blocking(move || producer.flush(wait)).await;
        served
    }

    async fn handle(&self, path: &'static str, route: Route, headers: HeaderMap, body: Body) -> Response {
        let started = Instant::now();
        let answer = self.process(route, &headers, body, Utc::now()).await;
        self.metrics.requests.with_label_values(&[path, answer.status.as_str()]).inc();
        self.metrics.duration.with_label_values(&[path]).observe(started.elapsed().as_secs_f64());
        answer.into_response()
    }

    async fn process(&self, route: Route, headers: &HeaderMap, body: Body, received_at: DateTime<Utc>) -> Answer {
        let max = self.cfg.max_request_bytes;
        let raw = match axum::body::to_bytes(body, body::wire_limit(max)).await {
            Ok(b) => b,
            Err(_) => return Answer::error(StatusCode::BAD_REQUEST, body::BodyError::TooLarge(max)),
        };
        let encoding = headers.get(axum::http::header::CONTENT_ENCODING).and_then(|v| v.to_str().ok());
        let decoded = match body::decode(encoding, &raw, max) {
            Ok(d) => d,
            Err(e) => return Answer::error(StatusCode::BAD_REQUEST, e),
        };
        let source = match self.authenticate(route, headers, &decoded) {
            Ok(s) => s,
            Err(e) => return Answer::error(StatusCode::UNAUTHORIZED, e),
        };
        let parsed: Value = match serde_json::from_slice(&decoded) {
            Ok(v) => v,
            Err(e) => return Answer::error(StatusCode::BAD_REQUEST, format!("the body is not JSON: {e}")),
        };
        let source = match source {
            Some(s) => s,
            None => match self.body_key(route, &parsed) {
                Ok(s) => s,
                Err(e) => return Answer::error(StatusCode::UNAUTHORIZED, e),
            },
        };
        if let Some(limiter) = &self.limiters[source] {
            if let Err(not_until) = limiter.check() {
                let wait = not_until.wait_time_from(self.clock.now());
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                let reset = received_at + chrono::Duration::from_std(wait).unwrap_or_default();
                let mut a = Answer::error(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded for this source");
                a.headers.push(("retry-after", secs.max(1).to_string()));
                a.headers.push(("x-ratelimit-reset", reset.timestamp_millis().to_string()));
                return a;
            }
        }
        let calls = match split(route, &parsed, &decoded) {
            Ok(c) => c,
            Err(message) => return Answer::error(StatusCode::BAD_REQUEST, message),
        };
        self.accept(route, source, &parsed, calls, received_at).await
    }

    /// The source named by a signature or a header key; `Ok(None)`: look in the body.
    fn authenticate(&self, route: Route, headers: &HeaderMap, body: &[u8]) -> Result<Option<usize>, AuthError> {
        if route == Route::Webhook {
            if let Some(sig) = headers.get("x-signature") {
                let sig = sig.to_str().map_err(|_| AuthError::BadSignature)?;
                return self.sources.by_signature(sig, body).map(Some).ok_or(AuthError::BadSignature);
            }
        }
        match auth::header_key(headers) {
            Some(key) => {
                self.sources.by_key(&key).ok_or(AuthError::Unknown).and_then(|s| self.unsigned(route, s)).map(Some)
            }
            None => Ok(None),
        }
    }

    /// The source of the body's `writeKey`.
    fn body_key(&self, route: Route, parsed: &Value) -> Result<usize, AuthError> {
        let key = match parsed {
            Value::Object(o) => o.get("writeKey").and_then(Value::as_str),
            // A webhook array: its calls' key, when they all carry the same one.
            Value::Array(items) => items.first().and_then(|i| i.get("writeKey")).and_then(Value::as_str),
            _ => None,
        };
        let key = key.ok_or(AuthError::Missing)?;
        let s = self.sources.by_key(key).ok_or(AuthError::Unknown)?;
        self.unsigned(route, s)
    }

    /// A source with a shared secret must sign its webhook calls.
    fn unsigned(&self, route: Route, source: usize) -> Result<usize, AuthError> {
        if route == Route::Webhook && self.sources.get(source).shared_secret.is_some() {
            return Err(AuthError::SignatureRequired);
        }
        Ok(source)
    }
}

/// A request's calls: (the call's own bytes, its value).
type Calls<'a> = Vec<(&'a str, &'a Value)>;

/// Splits a request into its calls, or says why it has none (400).
fn split<'a>(route: Route, parsed: &'a Value, decoded: &'a [u8]) -> Result<Calls<'a>, String> {
    let whole = std::str::from_utf8(decoded).map_err(|_| "the body is not UTF-8".to_owned())?;
    let items = |list: &'a [Value], raws: Vec<&'a RawValue>| -> Result<Calls<'a>, String> {
        if list.is_empty() {
            return Err("no events: the batch is empty".into());
        }
        Ok(raws.into_iter().map(RawValue::get).zip(list.iter()).collect())
    };
    match (route, parsed) {
        (Route::Single(_), Value::Object(_)) => Ok(vec![(whole, parsed)]),
        (Route::Single(_), _) => Err("no events: the body must be a JSON object (one call)".into()),
        (Route::Batch, Value::Object(o)) => match o.get("batch") {
            Some(Value::Array(list)) => {
                #[derive(serde::Deserialize)]
                struct Raw<'b> {
                    #[serde(borrow)]
                    batch: Vec<&'b RawValue>,
                }
                let raw: Raw<'a> = serde_json::from_str(whole).map_err(|e| e.to_string())?;
                items(list, raw.batch)
            }
            Some(_) => Err("no events: `batch` must be an array of calls".into()),
            None => Err("no events: the body has no `batch`".into()),
        },
        (Route::Batch, _) => Err("no events: the body must be an object with a `batch` array".into()),
        (Route::Webhook, Value::Object(_)) => Ok(vec![(whole, parsed)]),
        (Route::Webhook, Value::Array(list)) => {
            let raw: Vec<&'a RawValue> = serde_json::from_str(whole).map_err(|e| e.to_string())?;
            items(list, raw)
        }
        (Route::Webhook, _) => Err("no events: the body must be a call or an array of calls".into()),
    }
}

/// A batch's `context` and `integrations` merged into each of its calls, the call's own
/// keys winning (key by key inside those objects).
fn merged(call: &Map<String, Value>, batch: Option<&Map<String, Value>>) -> Map<String, Value> {
    let mut out = call.clone();
    let Some(batch) = batch else { return out };
    for field in ["context", "integrations"] {
        let Some(Value::Object(shared)) = batch.get(field) else { continue };
        match out.get_mut(field) {
            None | Some(Value::Null) => {
                out.insert(field.to_owned(), Value::Object(shared.clone()));
            }
            Some(Value::Object(own)) => {
                for (k, v) in shared {
                    own.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            Some(_) => {}
        }
    }
    out
}

impl Collector {
    async fn accept(
        &self,
        route: Route,
        source: usize,
        parsed: &Value,
        calls: Calls<'_>,
        received_at: DateTime<Utc>,
    ) -> Answer {
        let src = self.sources.get(source);
        let batch = match route {
            Route::Batch => parsed.as_object(),
            _ => None,
        };
        let ctx = map::Context {
            source: &src.name,
            account_property: src.account_property.as_deref(),
            traits: &self.cfg.traits,
            received_at,
            batch_sent_at: batch.and_then(|b| b.get("sentAt")),
            webhook: route == Route::Webhook,
            max_future_skew: chrono::Duration::seconds(self.cfg.max_future_skew_secs),
        };
        let topics = [self.topics.usage.as_str(), self.topics.crm.as_str()];
        let origin_topic = format!("collect:{}", src.name);
        // The events to produce (dead letters apart).
        let mut events: Vec<Event> = Vec::new();
        let mut letters: Vec<Vec<u8>> = Vec::new();
        let mut outcomes = Vec::with_capacity(calls.len());
        for (index, (raw, value)) in calls.into_iter().enumerate() {
            let message_id = value.get("messageId").filter(|m| m.is_string()).cloned().unwrap_or(Value::Null);
            match self.map_one(route, raw, value, batch, &ctx) {
                Ok((kind, m)) => {
                    let (topic, key, payload) = match m.output {
                        Output::Usage { account, payload } => (0, account, payload),
                        Output::Crm { account, payload } => (1, account, payload),
                        Output::Acknowledged => {
                            outcomes.push(Outcome::Accepted { kind, minted: m.minted_id });
                            continue;
                        }
                    };
                    events.push(Event { topic, key, payload, id: self.recent.key(topic, &m.event_id) });
                    outcomes.push(Outcome::Accepted { kind, minted: m.minted_id });
                }
                Err(r) => {
                    let letter = DeadLetter::new(
                        r.reason,
                        format!("{}: call {index}: {}", route_name(route), r.detail),
                        Origin { topic: &origin_topic, partition: 0, offset: index as i64 },
                        message_id.as_str().map(str::as_bytes),
                        raw.as_bytes(),
                        received_at,
                        DEFAULT_MAX_ORIGINAL_BYTES,
                    );
                    letters.push(letter.to_json());
                    outcomes.push(Outcome::Rejected { message_id, reason: r.reason });
                }
            }
        }
        // Retries: an event the broker has (or is being given) from an earlier request is
        // not produced again (see `recent`).
        let (settled, flight) = watch::channel(false);
        let keys: Vec<Key> = events.iter().map(|e| e.id).collect();
        let claims = self.recent.claim(&keys, &flight, Instant::now());
        let mut send = Vec::with_capacity(events.len());
        let mut waits = Vec::new();
        let mut duplicates = 0u64;
        for (e, claim) in events.into_iter().zip(claims) {
            match claim {
                Claim::Produce => send.push(e),
                Claim::Acked => duplicates += 1,
                Claim::Wait(f) => {
                    duplicates += 1;
                    waits.push((e.id, f));
                }
            }
        }
        let mut produced = [0u64; 2];
        for e in &send {
            produced[e.topic] += 1;
        }
        let dead_letters = letters.len() as u64;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(self.cfg.ack_timeout_ms);
        let mut failure = None;
        let flew = !send.is_empty() || !letters.is_empty();
        if flew {
            // A task of its own: when the request gives up waiting (503), the records stay
            // queued in the producer, and their ids stay in flight until the broker
            // settles them, so a retry waits for them instead of queueing copies.
            let flight = Flight {
                producer: self.producer.clone(),
                recent: self.recent.clone(),
                topics: [self.topics.usage.clone(), self.topics.crm.clone(), self.topics.dlq.clone()],
                source: src.name.clone(),
                events: send,
                letters,
                queue_timeout: Duration::from_millis(self.cfg.ack_timeout_ms),
            };
            let mut task = tokio::spawn(flight.fly(settled));
            failure = match tokio::time::timeout_at(deadline, &mut task).await {
                Ok(Ok(Ok(()))) => None,
                Ok(Ok(Err(e))) => {
                    tracing::warn!(error = %e, "broker did not acknowledge a request");
                    Some("refused")
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "producing a request failed");
                    Some("refused")
                }
                Err(_) => {
                    tracing::warn!("broker did not acknowledge a request in time");
                    Some("timeout")
                }
            };
        } else {
            drop(settled);
        }
        for (id, mut f) in waits {
            if failure.is_some() {
                break;
            }
            if tokio::time::timeout_at(deadline, f.wait_for(|done| *done)).await.is_err() {
                failure = Some("timeout");
            } else if !self.recent.acked(id) {
                failure = Some("refused");
            }
        }
        self.metrics.recent_ids.set(i64::try_from(self.recent.len()).unwrap_or(i64::MAX));
        if let Some(kind) = failure {
            self.ready.set(false);
            self.metrics.unavailable.with_label_values(&[kind]).inc();
            let mut a = Answer::error(StatusCode::SERVICE_UNAVAILABLE, "the broker did not acknowledge the events");
            a.headers.push(("retry-after", self.cfg.retry_after_secs.to_string()));
            return a;
        }
        if flew {
            self.ready.set(true);
        }
        for (t, n) in produced.into_iter().enumerate() {
            if n > 0 {
                self.metrics.produced.with_label_values(&[topics[t]]).inc_by(n);
            }
        }
        self.metrics.duplicates.inc_by(duplicates);
        self.metrics.dead_letters.inc_by(dead_letters);
        let mut accepted = 0u64;
        let mut rejected = Vec::new();
        for (index, o) in outcomes.into_iter().enumerate() {
            match o {
                Outcome::Accepted { kind, minted } => {
                    accepted += 1;
                    self.metrics.accepted.with_label_values(&[kind.as_str()]).inc();
                    if minted {
                        self.metrics.minted_ids.inc();
                    }
                }
                Outcome::Rejected { message_id, reason } => {
                    self.metrics.rejected.with_label_values(&[reason.as_str()]).inc();
                    rejected.push(json!({"index": index, "messageId": message_id, "reason": reason.as_str()}));
                }
            }
        }
        Answer {
            status: StatusCode::OK,
            body: json!({"ok": true, "accepted": accepted, "rejected": rejected}),
            headers: Vec::new(),
        }
    }

    /// One call: size, shape, type, then the mapping.
    fn map_one(
        &self,
        route: Route,
        raw: &str,
        value: &Value,
        batch: Option<&Map<String, Value>>,
        ctx: &map::Context<'_>,
    ) -> Result<(CallType, map::Mapped), Rejection> {
        if raw.len() > self.cfg.max_event_bytes {
            return Err(Rejection::new(
                Reason::EventTooLarge,
                format!("{} bytes, over collect.max_event_bytes = {}", raw.len(), self.cfg.max_event_bytes),
            ));
        }
        let Value::Object(call) = value else {
            return Err(Rejection::new(Reason::NotObject, "a call must be a JSON object"));
        };
        let kind = match route {
            Route::Single(kind) => kind,
            Route::Batch | Route::Webhook => match call.get("type") {
                Some(Value::String(t)) => CallType::parse(t).ok_or_else(|| {
                    Rejection::new(
                        Reason::UnknownType,
                        format!("unknown type `{}`", t.chars().take(64).collect::<String>()),
                    )
                })?,
                None | Some(Value::Null) => {
                    return Err(Rejection::new(Reason::MissingField, "field `type` is missing"))
                }
                Some(_) => return Err(Rejection::new(Reason::WrongType, "field `type`: expected string")),
            },
        };
        let call = merged(call, batch);
        let mapped = map::map_call(&call, kind, ctx)?;
        Ok((kind, mapped))
    }
}

fn route_name(route: Route) -> &'static str {
    match route {
        Route::Single(_) => "call",
        Route::Batch => "batch",
        Route::Webhook => "webhook",
    }
}
