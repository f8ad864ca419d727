//! Fault test of the notifier (`pulse notify`) as a real process over the real broker:
//! SIGKILLed twice while it delivers to a slow webhook, then restarted. Every transition
//! marked for notification reaches the webhook, each idempotency key at least once and
//! (as the endpoint deduplicates by key) exactly once; nothing is lost; what the scorer
//! marked `notify: false` or what is outside the notify window is never sent.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{extract::State, http::HeaderMap, routing::post, Json, Router};
use pulse_core::{config::Severity, AlertRule, AlertState, AlertTransition};
use pulse_e2e::TestEnv;

/// The webhook: 300 ms per call; records every call's idempotency key (header) and the
/// set of keys it has acted on (its deduplication).
#[derive(Clone, Default)]
struct Endpoint {
    calls: Arc<Mutex<Vec<String>>>,
    seen: Arc<Mutex<BTreeSet<String>>>,
}

async fn hook(State(e): State<Endpoint>, headers: HeaderMap, Json(body): Json<serde_json::Value>) -> &'static str {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!(body["idempotency_key"].as_str(), Some(key.as_str()), "the key is in the header and the body");
    if let Ok(mut c) = e.calls.lock() {
        c.push(key.clone());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    if let Ok(mut s) = e.seen.lock() {
        s.insert(key);
    }
    "ok"
}

fn transition(account: usize, state: AlertState, day: chrono::NaiveDate) -> AlertTransition {
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

/// A `pulse notify` process, SIGKILLed when dropped (also when the test fails).
struct Proc(std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_notifier(env: &TestEnv, url: &str, group: &str) -> Proc {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(std::env::temp_dir().join(format!("pulse-test-{}-notify.log", env.tag)))
        .expect("log file");
    std::process::Command::new(Path::new(env!("CARGO_BIN_EXE_pulse")))
        .arg("notify")
        .current_dir(std::env::temp_dir())
        .env("PULSE__KAFKA__BROKERS", &env.kafka.brokers)
        .env("PULSE__TOPICS__ALERTS", &env.topics.alerts)
        .env("PULSE__TOPICS__DLQ", &env.topics.dlq)
        .env("PULSE__SCORER__WEBHOOK__URL", url)
        .env("PULSE__SCORER__WEBHOOK__TIMEOUT_MS", "5000")
        .env("PULSE__SCORER__NOTIFY_GROUP_ID", group)
        .env("PULSE__SCORER__NOTIFY_HTTP_LISTEN", "127.0.0.1:0")
        // As the scorer fault tests: the development broker may keep a killed member.
        .env("PULSE__SCORER__REJOIN_WHEN_IDLE_SECS", "5")
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .map(Proc)
        .expect("spawn pulse notify")
}

fn wait_calls(e: &Endpoint, n: usize, timeout: Duration) -> usize {
    let deadline = Instant::now() + timeout;
    loop {
        let got = e.calls.lock().map(|c| c.len()).unwrap_or(0);
        if got >= n || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifier_killed_mid_delivery_loses_nothing_and_resends_at_most_once_per_key() {
    let env = TestEnv::new(2).await;
    let endpoint = Endpoint::default();
    let app = Router::new().route("/hook", post(hook)).with_state(endpoint.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let today = chrono::Utc::now().date_naive();
    let mut messages = Vec::new();
    let mut expected = BTreeMap::new();
    for a in 0..30 {
        let t = transition(a, AlertState::Opened, today);
        let version = 1_000 + a as u64;
        expected.insert(pulse_scorer::webhook::idempotency_key(&t), t.account_id.clone());
        messages.push(message(&t, version, true));
    }
    // Recorded, never sent: derived while the scorer caught up, and history.
    messages.push(message(&transition(100, AlertState::Opened, today), 5, false));
    messages.push(message(&transition(101, AlertState::Opened, today - chrono::Days::new(3)), 6, true));
    env.produce(&env.topics.alerts.clone(), &messages).await;

    let group = format!("notify-{}", env.tag);
    let mut kills = 0;
    for after in [6, 14] {
        let child = spawn_notifier(&env, &url, &group);
        // (Not reaching `after` means nothing was left to deliver: the final checks say
        // what was lost.)
        tokio::task::block_in_place(|| wait_calls(&endpoint, after, Duration::from_secs(60)));
        // Mid-delivery: a call is in flight (300 ms each). SIGKILL: no shutdown code runs.
        tokio::time::sleep(Duration::from_millis(150)).await;
        drop(child);
        kills += 1;
    }
    let child = spawn_notifier(&env, &url, &group);
    let deadline = Instant::now() + Duration::from_secs(90);
    while endpoint.seen.lock().map(|s| s.len()).unwrap_or(0) < expected.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A little longer: nothing else may arrive.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = std::process::Command::new("kill").arg("-TERM").arg(child.0.id().to_string()).status();
    drop(child);

    let seen = endpoint.seen.lock().expect("seen").clone();
    let calls = endpoint.calls.lock().expect("calls").clone();
    let want: BTreeSet<String> = expected.keys().cloned().collect();
    let missing: Vec<&String> = want.difference(&seen).map(|k| &expected[k]).collect();
    assert!(missing.is_empty(), "lost notifications: {missing:?}");
    assert_eq!(seen, want, "exactly the transitions marked for notification, once per key after dedup");
    let mut per_key: BTreeMap<&str, usize> = BTreeMap::new();
    for k in &calls {
        *per_key.entry(k.as_str()).or_default() += 1;
    }
    let resent: usize = per_key.values().map(|n| n - 1).sum();
    // Per kill: the call in flight, and the one delivered whose commit had not landed.
    assert!(resent <= 2 * kills, "re-sent {resent} times over {kills} kills: {per_key:?}");
    assert!(per_key.values().all(|n| *n <= 1 + kills), "{per_key:?}");
    assert!(env.consume(&env.topics.dlq, 1, Duration::from_secs(2)).await.is_empty(), "nothing dead-lettered");
    eprintln!("{} calls for {} keys over {kills} kills ({resent} re-sent under their key)", calls.len(), seen.len());
    env.drop_database().await;
}
