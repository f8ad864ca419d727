//! The notifier over the real broker (and, for the scorer's own dead letters, ClickHouse):
//! aborted mid-delivery and restarted, it loses nothing and re-sends at most what was in
//! flight, under the same idempotency key; failures are retried, then dead-lettered; every
//! dead letter (notifier and scorer) matches `schemas/events/dead-letter.schema.json`.
//!
//! Needs the local stack: `scripts/stack up --infra`.

#[path = "../../../tests/support/dead_letter_schema.rs"]
mod dead_letter_schema;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{extract::State, http::HeaderMap, http::StatusCode, routing::post, Json, Router};
use chrono::{Days, NaiveDate, Utc};
use pulse_core::{config::Severity, AlertRule, AlertState, AlertTransition};
use pulse_runtime::{
    dlq::{DeadLetter, Reason},
    http::Readiness,
    kafka::{KafkaConfig, TopicsConfig},
    Secret,
};
use pulse_scorer::{webhook::idempotency_key, FixedClock, Notifier, ScorerConfig, ScorerMetrics};
use rdkafka::{
    consumer::{Consumer, StreamConsumer},
    producer::FutureRecord,
    Message,
};
use tokio::{sync::oneshot, task::JoinHandle};

struct Env {
    tag: String,
    kafka: KafkaConfig,
    topics: TopicsConfig,
}

impl Env {
    async fn new(partitions: i32) -> Self {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let tag = format!("{:x}{:x}", std::process::id(), nanos % 0xffff_ffff);
        let kafka = KafkaConfig {
            brokers: std::env::var("PULSE_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".into()),
            ..KafkaConfig::default()
        };
        let topics = TopicsConfig::with_prefix(&format!("test.{tag}"));
        pulse_runtime::kafka::create_topics(&kafka, &topics.all(), partitions, 1)
            .await
            .expect("create test topics (is the stack up? scripts/stack up --infra)");
        Self { tag, kafka, topics }
    }

    async fn produce(&self, topic: &str, messages: &[(Option<String>, Vec<u8>)]) {
        let producer = self.kafka.producer().expect("producer");
        for (k, v) in messages {
            let mut rec = FutureRecord::to(topic).payload(v.as_slice());
            if let Some(k) = k {
                rec = rec.key(k.as_bytes());
            }
            producer.send(rec, Duration::from_secs(30)).await.map_err(|(e, _)| e).expect("delivered");
        }
    }

    /// Up to `n` messages of `topic` (from the beginning), waiting at most `timeout`.
    async fn consume(&self, topic: &str, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let c: StreamConsumer = self
            .kafka
            .consumer_config(&format!("test-read-{}-{}", self.tag, Utc::now().timestamp_micros()), "earliest", 100)
            .create()
            .expect("consumer");
        c.subscribe(&[topic]).expect("subscribe");
        let mut out = Vec::new();
        let deadline = Instant::now() + timeout;
        while out.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, c.recv()).await {
                Ok(Ok(m)) => out.push(m.payload().unwrap_or(&[]).to_vec()),
                Ok(Err(_)) => {}
                Err(_) => break,
            }
        }
        out
    }

    fn config(&self, url: String) -> ScorerConfig {
        let mut cfg = ScorerConfig {
            group_id: format!("test-scorer-{}", self.tag),
            retry_initial_ms: 100,
            retry_max_ms: 1000,
            ..ScorerConfig::default()
        };
        cfg.webhook.url = Some(Secret::new(url));
        cfg.webhook.timeout_ms = 5_000;
        cfg
    }

    fn spawn(&self, cfg: ScorerConfig) -> (oneshot::Sender<()>, JoinHandle<()>) {
        let registry = prometheus::Registry::new();
        let n = Notifier {
            cfg,
            kafka: self.kafka.clone(),
            topics: self.topics.clone(),
            metrics: ScorerMetrics::new(&registry),
            ready: Readiness::default(),
            clock: Arc::new(FixedClock::new(Utc::now())),
        };
        let (tx, rx) = oneshot::channel::<()>();
        let join = tokio::spawn(async move {
            n.run(async move {
                let _ = rx.await;
            })
            .await
            .expect("notifier");
        });
        (tx, join)
    }
}

fn transition(account: usize, state: AlertState, day: NaiveDate) -> AlertTransition {
    AlertTransition {
        account_id: format!("acct-{account:03}"),
        rule: AlertRule::LowEngagement,
        state,
        as_of: day,
        opened_on: day,
        severity: Severity::Warning,
        message: "engagement below 50".into(),
        details: serde_json::json!({ "engagement": 41 }),
        retracts: None,
    }
}

/// An alert message as the scorer publishes it.
fn message(t: &AlertTransition, version: u64, notify: bool) -> (Option<String>, Vec<u8>) {
    let mut v = serde_json::to_value(t).expect("json");
    v["alert_id"] = format!("{}/{}/{}", t.account_id, t.rule.as_str(), t.opened_on).into();
    v["version"] = version.into();
    v["notify"] = notify.into();
    (Some(t.account_id.clone()), v.to_string().into_bytes())
}

/// A webhook that takes 300 ms per call and records the idempotency key of every call
/// (`calls`) and the keys it acted on (`seen`: its deduplication).
#[derive(Clone, Default)]
struct Slow {
    calls: Arc<Mutex<Vec<String>>>,
    seen: Arc<Mutex<BTreeSet<String>>>,
}

async fn slow(State(e): State<Slow>, headers: HeaderMap, Json(body): Json<serde_json::Value>) -> StatusCode {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    if body["idempotency_key"].as_str() != Some(key.as_str()) {
        return StatusCode::BAD_REQUEST; // dead-lettered: the test sees it
    }
    if let Ok(mut c) = e.calls.lock() {
        c.push(key.clone());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    if let Ok(mut s) = e.seen.lock() {
        s.insert(key);
    }
    StatusCode::OK
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notifier_killed_mid_delivery_loses_nothing_and_resends_at_most_once_per_key() {
    let env = Env::new(2).await;
    let hook = Slow::default();
    let url = serve(Router::new().route("/hook", post(slow)).with_state(hook.clone())).await;

    let today = Utc::now().date_naive();
    let mut messages = Vec::new();
    let mut expected = BTreeMap::new();
    for a in 0..30 {
        let t = transition(a, AlertState::Opened, today);
        let version = 1_000 + a as u64;
        expected.insert(idempotency_key(&t), t.account_id.clone());
        messages.push(message(&t, version, true));
    }
    // Recorded, never sent: derived while the scorer caught up, and history.
    messages.push(message(&transition(100, AlertState::Opened, today), 5, false));
    messages.push(message(&transition(101, AlertState::Opened, today - Days::new(3)), 6, true));
    env.produce(&env.topics.alerts, &messages).await;

    let cfg = env.config(url);
    let calls = |h: &Slow| h.calls.lock().map(|c| c.len()).unwrap_or(0);
    let mut kills = 0;
    for after in [6, 14] {
        let (_stop, join) = env.spawn(cfg.clone());
        // (Not reaching `after` means nothing was left to deliver: the final checks say what
        // was lost.)
        wait_until(Duration::from_secs(30), || calls(&hook) >= after).await;
        // Mid-delivery (each call takes 300 ms): the task is gone at once, no shutdown
        // code runs (no final commit), like a SIGKILL of the process.
        tokio::time::sleep(Duration::from_millis(150)).await;
        join.abort();
        let _ = join.await;
        kills += 1;
    }
    let (stop, join) = env.spawn(cfg.clone());
    let all =
        wait_until(Duration::from_secs(90), || hook.seen.lock().map(|s| s.len()).unwrap_or(0) >= expected.len()).await;
    tokio::time::sleep(Duration::from_secs(2)).await; // nothing else may arrive
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(30), join).await;

    let seen = hook.seen.lock().expect("seen").clone();
    let calls = hook.calls.lock().expect("calls").clone();
    let want: BTreeSet<String> = expected.keys().cloned().collect();
    let missing: Vec<&String> = want.difference(&seen).map(|k| &expected[k]).collect();
    assert!(all && missing.is_empty(), "lost notifications: {missing:?}");
    assert_eq!(seen, want, "exactly the transitions marked for notification, once per key after dedup");
    let mut per_key: BTreeMap<&str, usize> = BTreeMap::new();
    for k in &calls {
        *per_key.entry(k.as_str()).or_default() += 1;
    }
    let resent: usize = per_key.values().map(|n| n - 1).sum();
    // Per kill: the call in flight, and one delivered whose commit had not landed yet.
    assert!(resent <= 2 * kills, "re-sent {resent} times over {kills} kills: {per_key:?}");
    eprintln!("{} calls for {} keys over {kills} kills ({resent} re-sent under their key)", calls.len(), seen.len());
    assert!(env.consume(&env.topics.dlq, 1, Duration::from_secs(2)).await.is_empty(), "nothing dead-lettered");
}

/// Answers by account: `acct-000` fails twice with 503 then accepts; `acct-001` is refused
/// (400); `acct-002` always fails with 503; everyone else is accepted.
#[derive(Clone, Default)]
struct Picky {
    calls: Arc<Mutex<HashMap<String, usize>>>,
}

async fn picky(State(p): State<Picky>, Json(body): Json<serde_json::Value>) -> StatusCode {
    let account = body["alert"]["account_id"].as_str().unwrap_or_default().to_owned();
    let n = {
        let mut c = p.calls.lock().expect("calls");
        let n = c.entry(account.clone()).or_default();
        *n += 1;
        *n
    };
    match account.as_str() {
        "acct-000" if n <= 2 => StatusCode::SERVICE_UNAVAILABLE,
        "acct-001" => StatusCode::BAD_REQUEST,
        "acct-002" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::OK,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_permanent_ones_dead_lettered_and_dead_letters_match_the_schema() {
    let env = Env::new(1).await;
    let p = Picky::default();
    let url = serve(Router::new().route("/hook", post(picky)).with_state(p.clone())).await;
    let today = Utc::now().date_naive();
    let ts: Vec<AlertTransition> = (0..4).map(|a| transition(a, AlertState::Opened, today)).collect();
    let mut messages: Vec<_> = ts.iter().enumerate().map(|(i, t)| message(t, 10 + i as u64, true)).collect();
    messages.push((Some("acct-x".into()), b"{not an alert".to_vec()));
    env.produce(&env.topics.alerts, &messages).await;
    let mut cfg = env.config(url.clone());
    cfg.webhook.max_attempts = 3;
    let (stop, join) = env.spawn(cfg);

    let dead = env.consume(&env.topics.dlq, 3, Duration::from_secs(60)).await;
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(30), join).await;
    assert_eq!(dead.len(), 3, "refused, failed, invalid");
    let schema = dead_letter_schema::validator();
    let mut by_reason = HashMap::new();
    for d in &dead {
        dead_letter_schema::assert_valid(&schema, d);
        assert!(!String::from_utf8_lossy(d).contains(&url), "the webhook URL (a secret) is not in the dead letter");
        let letter: DeadLetter = serde_json::from_slice(d).expect("envelope");
        assert_eq!(letter.source_topic, env.topics.alerts);
        by_reason.insert(letter.reason, letter);
    }
    let rejected = &by_reason[&Reason::WebhookRejected];
    assert_eq!(rejected.idempotency_key.as_deref(), Some(idempotency_key(&ts[1]).as_str()));
    assert_eq!(rejected.original_bytes().as_deref(), Some(messages[1].1.as_slice()), "the alert message as read");
    let failed = &by_reason[&Reason::WebhookFailed];
    assert_eq!(failed.idempotency_key.as_deref(), Some(idempotency_key(&ts[2]).as_str()));
    assert!(failed.detail.contains("3 attempts") && failed.detail.contains("503"), "{}", failed.detail);
    assert_eq!(by_reason[&Reason::NotJson].source_key.as_deref(), Some("acct-x"));
    let calls = p.calls.lock().expect("calls").clone();
    assert_eq!(calls["acct-000"], 3, "retried until accepted");
    assert_eq!(calls["acct-001"], 1, "a refusal is not retried");
    assert_eq!(calls["acct-002"], 3, "max_attempts");
    assert_eq!(calls["acct-003"], 1);
}
