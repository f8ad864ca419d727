//! The optional alert webhook, delivered by the notifier the scorer runs: transitions are
//! POSTed (Slack-compatible `text` plus the structured alert and its idempotency key),
//! retried while the receiver fails, and dead-lettered to the DLQ topic when delivery
//! keeps failing, never lost silently.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use axum::{extract::State, http::StatusCode, routing::post, Json, Router};
use chrono::{NaiveTime, Utc};
use pulse_e2e::{scenario, scorer_config, TestEnv};
use pulse_runtime::Secret;
use pulse_scorer::FixedClock;

#[derive(Clone, Default)]
struct Receiver {
    calls: Arc<AtomicUsize>,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

/// Fails the first two calls with 503, then accepts.
async fn hook(State(r): State<Receiver>, Json(body): Json<serde_json::Value>) -> StatusCode {
    if r.calls.fetch_add(1, Ordering::SeqCst) < 2 {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    if let Ok(mut b) = r.bodies.lock() {
        b.push(body);
    }
    StatusCode::OK
}

async fn feed_and_score(env: &TestEnv, url: String) -> pulse_e2e::ScorerHandle {
    let (_, events, day) = scenario(12, 21);
    let mut cfg = scorer_config(env);
    cfg.webhook.url = Some(Secret::new(url));
    cfg.webhook.max_attempts = 4;
    cfg.webhook.timeout_ms = 1_000;
    // These tests are about delivery (retries, dead letters): notify the scenario's whole
    // history, not only the current day (the default, SPEC §5).
    cfg.notify_window_days = 366;
    let clock = FixedClock::new(day.and_time(NaiveTime::from_hms_opt(23, 0, 0).expect("time")).and_utc());
    let scorer = env.spawn_scorer(cfg, Arc::new(clock));
    env.produce(&env.topics.events.clone(), &events).await;
    scorer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_the_webhook_after_retries() {
    let env = TestEnv::new(2).await;
    let receiver = Receiver::default();
    let app = Router::new().route("/hook", post(hook)).with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let scorer = feed_and_score(&env, format!("http://{addr}/hook")).await;

    let opened =
        env.wait_scalar("SELECT toUInt64(count() > 0) FROM health_alerts FINAL", 1, Duration::from_secs(120)).await;
    assert_eq!(opened, 1, "the demo cohorts open alerts");
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    // The transitions that hold once the scenario is in: those derived from partial data
    // while the scorer caught up and withdrawn (`retracted`) were held, never sent. Until
    // every partition has caught up, the table still has some of those (a slow host is
    // still scoring when the first alert lands), so the count is read again each round.
    let mut stored;
    loop {
        let caught_up = scorer.metrics.partitions_catching_up.get() == 0 && scorer.metrics.webhook_holding.get() == 0;
        stored = env.scalar("SELECT count() FROM health_alerts FINAL WHERE state != 'retracted'").await as usize;
        let n = receiver.bodies.lock().expect("bodies").len();
        if (caught_up && n >= stored) || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let bodies = receiver.bodies.lock().expect("bodies").clone();
    assert!(bodies.len() >= stored, "every transition delivered ({} of {stored})", bodies.len());
    assert!(receiver.calls.load(Ordering::SeqCst) >= bodies.len() + 2, "the first failures were retried");
    for b in &bodies {
        assert!(
            b["text"].as_str().is_some_and(|t| t.contains(b["alert"]["account_id"].as_str().unwrap_or("?"))),
            "{b}"
        );
        assert!(b["alert_id"].is_string());
        assert!(b["idempotency_key"].as_str().is_some_and(|k| k.len() == 64), "{b}");
    }
    assert!(env.consume(&env.topics.dlq, 1, Duration::from_secs(2)).await.is_empty(), "nothing dead-lettered");
    scorer.stop().await;
    env.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_that_cannot_be_delivered_go_to_the_dlq() {
    let env = TestEnv::new(2).await;
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let scorer = feed_and_score(&env, format!("http://{closed}/hook")).await;
    let opened =
        env.wait_scalar("SELECT toUInt64(count() > 0) FROM health_alerts FINAL", 1, Duration::from_secs(120)).await;
    assert_eq!(opened, 1);
    let dead = env.consume(&env.topics.dlq, 1, Duration::from_secs(60)).await;
    assert!(!dead.is_empty(), "undeliverable alerts are dead-lettered");
    let d: serde_json::Value = serde_json::from_slice(&dead[0].payload).expect("json");
    assert_eq!(d["reason"], "webhook_failed");
    assert_eq!(d["source_topic"], env.topics.alerts.as_str(), "{d}");
    // The alert message as the notifier read it from the alerts topic.
    let alert: serde_json::Value = serde_json::from_str(d["original"].as_str().unwrap_or_default()).expect("original");
    assert!(alert["rule"].is_string() && alert["alert_id"].is_string(), "{d}");
    assert!(d["idempotency_key"].as_str().is_some_and(|k| k.len() == 64), "{d}");
    assert!(!d.to_string().contains(&closed.to_string()), "the webhook URL (a secret) is not in the dead letter");
    scorer.stop().await;
    env.drop_database().await;
    let _ = Utc::now();
}
