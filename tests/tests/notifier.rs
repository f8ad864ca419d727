//! The notifier over the real broker: aborted mid-delivery and restarted, it loses nothing
//! and re-sends at most what was in flight, under the same idempotency key; failures are
//! retried, then dead-lettered; its dead letters match
//! `schemas/events/dead-letter.schema.json` (those of ingest and the scorer are checked in
//! `dead_letters.rs` and `ingest.rs`).
//!
//! Needs the local stack: `scripts/stack up --infra`.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{extract::State, http::StatusCode, routing::post, Json, Router};
use chrono::{Days, Utc};
use pulse_core::{AlertState, AlertTransition};
use pulse_e2e::{
    dead_letter_schema, scorer_config,
    webhook::{alert_message, transition, SlowWebhook},
    TestEnv,
};
use pulse_runtime::{
    dlq::{DeadLetter, Reason},
    http::Readiness,
    Secret,
};
use pulse_scorer::{webhook::idempotency_key, FixedClock, Notifier, ScorerConfig, ScorerMetrics};
use tokio::{sync::oneshot, task::JoinHandle};

/// The test scorer config, delivering to `url`.
fn config(env: &TestEnv, url: String) -> ScorerConfig {
    let mut cfg = scorer_config(env);
    cfg.webhook.url = Some(Secret::new(url));
    cfg.webhook.timeout_ms = 5_000;
    cfg
}

/// Starts the notifier alone (as `pulse notify` runs it) on the test's topics: the sender
/// stops it gracefully, aborting the handle is a kill.
fn spawn_notifier(env: &TestEnv, cfg: ScorerConfig) -> (oneshot::Sender<()>, JoinHandle<()>) {
    let registry = prometheus::Registry::new();
    let n = Notifier {
        cfg,
        kafka: env.kafka.clone(),
        topics: env.topics.clone(),
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
    let env = TestEnv::new(2).await;
    // 300 ms per call. A call whose header and body keys differ makes the shared webhook
    // panic (the connection drops, unanswered) rather than answer 400: the notifier then
    // retries it and finally dead-letters it as failed, and the key never reaches `seen`,
    // so the checks below (nothing lost, nothing dead-lettered) still catch it.
    let (hook, url) = SlowWebhook::serve(Duration::from_millis(300)).await;

    let today = Utc::now().date_naive();
    let mut messages = Vec::new();
    let mut expected = BTreeMap::new();
    for a in 0..30 {
        let t = transition(a, AlertState::Opened, today);
        let version = 1_000 + a as u64;
        expected.insert(idempotency_key(&t), t.account_id.clone());
        messages.push(alert_message(&t, version, true));
    }
    // Recorded, never sent: derived while the scorer caught up, and history.
    messages.push(alert_message(&transition(100, AlertState::Opened, today), 5, false));
    messages.push(alert_message(&transition(101, AlertState::Opened, today - Days::new(3)), 6, true));
    env.produce(&env.topics.alerts, &messages).await;

    let cfg = config(&env, url);
    let mut kills = 0;
    for after in [6, 14] {
        let (_stop, join) = spawn_notifier(&env, cfg.clone());
        // (Not reaching `after` means nothing was left to deliver: the final checks say what
        // was lost.)
        hook.wait_calls(after, Duration::from_secs(30)).await;
        // Mid-delivery (each call takes 300 ms): the task is gone at once, no shutdown
        // code runs (no final commit), like a SIGKILL of the process.
        tokio::time::sleep(Duration::from_millis(150)).await;
        join.abort();
        let _ = join.await;
        kills += 1;
    }
    let (stop, join) = spawn_notifier(&env, cfg.clone());
    let all = wait_until(Duration::from_secs(90), || hook.seen().len() >= expected.len()).await;
    tokio::time::sleep(Duration::from_secs(2)).await; // nothing else may arrive
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(30), join).await;

    let seen = hook.seen();
    let calls = hook.calls();
    let want: BTreeSet<String> = expected.keys().cloned().collect();
    let missing: Vec<&String> = want.difference(&seen).map(|k| &expected[k]).collect();
    assert!(all && missing.is_empty(), "lost notifications: {missing:?}");
    assert_eq!(seen, want, "exactly the transitions marked for notification, once per key after dedup");
    let per_key = hook.per_key();
    let resent: usize = per_key.values().map(|n| n - 1).sum();
    // Per kill: the call in flight, and one delivered whose commit had not landed yet.
    assert!(resent <= 2 * kills, "re-sent {resent} times over {kills} kills: {per_key:?}");
    eprintln!("{} calls for {} keys over {kills} kills ({resent} re-sent under their key)", calls.len(), seen.len());
    assert!(env.consume(&env.topics.dlq, 1, Duration::from_secs(2)).await.is_empty(), "nothing dead-lettered");
    env.drop_database().await;
}

/// Answers by account: `acct-000` fails twice with 503 then accepts; `acct-001` is refused
/// (400); `acct-002` always fails with 503; everyone else is accepted. (Local: it fails on
/// purpose, which the shared `SlowWebhook` never does.)
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

/// Serves `app` on a free local port; returns the URL of its `/hook`.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_permanent_ones_dead_lettered_and_dead_letters_match_the_schema() {
    let env = TestEnv::new(1).await;
    let p = Picky::default();
    let url = serve(Router::new().route("/hook", post(picky)).with_state(p.clone())).await;
    let today = Utc::now().date_naive();
    let ts: Vec<AlertTransition> = (0..4).map(|a| transition(a, AlertState::Opened, today)).collect();
    let mut messages: Vec<_> = ts.iter().enumerate().map(|(i, t)| alert_message(t, 10 + i as u64, true)).collect();
    messages.push((Some("acct-x".into()), b"{not an alert".to_vec()));
    env.produce(&env.topics.alerts, &messages).await;
    let mut cfg = config(&env, url.clone());
    cfg.webhook.max_attempts = 3;
    let (stop, join) = spawn_notifier(&env, cfg);

    let dead = env.consume(&env.topics.dlq, 3, Duration::from_secs(60)).await;
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(30), join).await;
    assert_eq!(dead.len(), 3, "refused, failed, invalid");
    let schema = dead_letter_schema::validator();
    let mut by_reason = HashMap::new();
    for d in &dead {
        dead_letter_schema::assert_valid(&schema, &d.payload);
        assert!(
            !String::from_utf8_lossy(&d.payload).contains(&url),
            "the webhook URL (a secret) is not in the dead letter"
        );
        let letter: DeadLetter = serde_json::from_slice(&d.payload).expect("envelope");
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
    env.drop_database().await;
}
