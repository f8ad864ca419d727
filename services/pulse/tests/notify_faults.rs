//! Fault tests of alert notifications with real processes over the real stack:
//! - the notifier alone (`pulse notify`) SIGKILLed twice while it delivers to a slow
//!   webhook, then restarted: every transition marked for notification reaches the
//!   webhook, each idempotency key at least once and (as the endpoint deduplicates by key)
//!   exactly once; nothing is lost; what the scorer marked `notify: false` or what is
//!   outside the notify window is never sent;
//! - the whole scorer, its notifier inside, SIGKILLed the same way: results identical to
//!   replay, and every transition that holds at the end reaches the webhook.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    time::{Duration, Instant},
};

use pulse_core::{AlertState, AlertTransition};
use pulse_e2e::{
    webhook::{alert_message, transition, SlowWebhook},
    ServiceProcess, TestEnv,
};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifier_killed_mid_delivery_loses_nothing_and_resends_at_most_once_per_key() {
    let env = TestEnv::new(2).await;
    // 300 ms per call: a kill lands mid-delivery.
    let (endpoint, url) = SlowWebhook::serve(Duration::from_millis(300)).await;

    let today = chrono::Utc::now().date_naive();
    let mut messages = Vec::new();
    let mut expected = BTreeMap::new();
    for a in 0..30 {
        let t = transition(a, AlertState::Opened, today);
        let version = 1_000 + a as u64;
        expected.insert(pulse_scorer::webhook::idempotency_key(&t), t.account_id.clone());
        messages.push(alert_message(&t, version, true));
    }
    // Recorded, never sent: derived while the scorer caught up, and history.
    messages.push(alert_message(&transition(100, AlertState::Opened, today), 5, false));
    messages.push(alert_message(&transition(101, AlertState::Opened, today - chrono::Days::new(3)), 6, true));
    env.produce(&env.topics.alerts.clone(), &messages).await;

    let group = format!("notify-{}", env.tag);
    let mut kills = 0;
    for after in [6, 14] {
        let child = spawn_notifier(&env, &url, &group);
        // (Not reaching `after` means nothing was left to deliver: the final checks say
        // what was lost.)
        endpoint.wait_calls(after, Duration::from_secs(60)).await;
        // Mid-delivery: a call is in flight (300 ms each). SIGKILL: no shutdown code runs.
        tokio::time::sleep(Duration::from_millis(150)).await;
        drop(child);
        kills += 1;
    }
    let child = spawn_notifier(&env, &url, &group);
    let deadline = Instant::now() + Duration::from_secs(90);
    while endpoint.seen().len() < expected.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A little longer: nothing else may arrive.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = std::process::Command::new("kill").arg("-TERM").arg(child.0.id().to_string()).status();
    drop(child);

    let seen = endpoint.seen();
    let calls = endpoint.calls();
    let want: BTreeSet<String> = expected.keys().cloned().collect();
    let missing: Vec<&String> = want.difference(&seen).map(|k| &expected[k]).collect();
    assert!(missing.is_empty(), "lost notifications: {missing:?}");
    assert_eq!(seen, want, "exactly the transitions marked for notification, once per key after dedup");
    let per_key = endpoint.per_key();
    let resent: usize = per_key.values().map(|n| n - 1).sum();
    // Per kill: the call in flight, and the one delivered whose commit had not landed.
    assert!(resent <= 2 * kills, "re-sent {resent} times over {kills} kills: {per_key:?}");
    assert!(per_key.values().all(|n| *n <= 1 + kills), "{per_key:?}");
    assert!(env.consume(&env.topics.dlq, 1, Duration::from_secs(2)).await.is_empty(), "nothing dead-lettered");
    eprintln!("{} calls for {} keys over {kills} kills ({resent} re-sent under their key)", calls.len(), seen.len());
    env.drop_database().await;
}

/// The whole scorer (`pulse scorer`, its notifier running inside it) SIGKILLed twice
/// while it delivers to a slow webhook, then restarted. Its results end identical to
/// replay, and every alert transition that holds at the end (within the notify window)
/// reaches the webhook: each idempotency key recorded by the endpoint, none lost; and
/// nothing reaches it that the scorer never marked for notification.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scorer_killed_while_it_notifies_a_slow_webhook_delivers_every_transition_once_per_key() {
    let env = TestEnv::new(2).await;
    let (ndjson, events, day) = pulse_e2e::scenario(12, 21);
    let expected = pulse_e2e::replay_expected(&ndjson, day);
    let (endpoint, url) = SlowWebhook::serve(Duration::from_millis(200)).await;
    env.produce(&env.topics.events.clone(), &events).await;
    let group = format!("scorer-notify-{}", env.tag);
    let notify_group = format!("notify-{}", env.tag);
    let extra = [
        ("PULSE__SCORER__WEBHOOK__URL", url.as_str()),
        ("PULSE__SCORER__WEBHOOK__TIMEOUT_MS", "5000"),
        // The scenario's 35 days, all notified (not only the present: this test is about
        // delivery through crashes).
        ("PULSE__SCORER__NOTIFY_WINDOW_DAYS", "60"),
        ("PULSE__SCORER__NOTIFY_GROUP_ID", notify_group.as_str()),
        ("PULSE__SCORER__NOTIFY_SETTLE_SECS", "2"),
    ];
    let bin = Path::new(env!("CARGO_BIN_EXE_pulse"));
    let mut kills = 0;
    for after in [3, 12] {
        let scorer = ServiceProcess::spawn_with(bin, &env, "scorer", &group, &extra);
        let got = endpoint.wait_calls(after, Duration::from_secs(150)).await;
        assert!(got >= after, "kill {kills}: deliveries under way before the kill ({got} calls)");
        // Mid-delivery: a call is in flight (200 ms each). SIGKILL: no shutdown code runs.
        tokio::time::sleep(Duration::from_millis(100)).await;
        scorer.kill9();
        kills += 1;
    }
    let scorer = ServiceProcess::spawn_with(bin, &env, "scorer", &group, &extra);
    let stored = pulse_e2e::wait_for_results(&env, day, &expected, Duration::from_secs(180)).await;
    pulse_e2e::assert_same_results(&stored, &expected);

    // The transitions that hold at the end, keyed as the notifier keys them (the SHA-256
    // of alert id, transition, state and day: `pulse_scorer::webhook::idempotency_key`).
    let holding =
        "SELECT lower(hex(SHA256(concat(alert_id, '\\n', toString(transition), '\\n', toString(state), '\\n', \
                   toString(as_of))))) FROM health_alerts FINAL WHERE state != 'retracted'";
    let must: BTreeSet<String> =
        env.ch().query(holding).fetch_all::<String>().await.expect(holding).into_iter().collect();
    assert!(!must.is_empty(), "the scenario opens alerts");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !must.is_subset(&endpoint.seen()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A little longer: anything still queued arrives.
    tokio::time::sleep(Duration::from_secs(2)).await;
    scorer.terminate();

    let seen = endpoint.seen();
    let lost: Vec<&String> = must.difference(&seen).collect();
    assert!(
        lost.is_empty(),
        "{} of {} holding transitions never reached the webhook: {lost:?}",
        lost.len(),
        must.len()
    );
    // Whatever was sent was marked for notification by the scorer, under its key.
    let marked: BTreeSet<String> = env
        .consume(&env.topics.alerts, usize::MAX, Duration::from_secs(10))
        .await
        .iter()
        .filter_map(|m| serde_json::from_slice::<serde_json::Value>(&m.payload).ok())
        .filter(|v| v["notify"] == true)
        .filter_map(|v| serde_json::from_value::<AlertTransition>(v).ok())
        .map(|t| pulse_scorer::webhook::idempotency_key(&t))
        .collect();
    let unmarked: Vec<&String> = seen.difference(&marked).collect();
    assert!(unmarked.is_empty(), "sent without a notify mark: {unmarked:?}");
    let per_key = endpoint.per_key();
    let resent: usize = per_key.values().map(|n| n - 1).sum();
    assert!(env.consume(&env.topics.dlq, 1, Duration::from_secs(2)).await.is_empty(), "nothing dead-lettered");
    eprintln!(
        "{} calls for {} keys ({} holding at the end) over {kills} scorer kills; {resent} re-sent under their key",
        endpoint.calls().len(),
        seen.len(),
        must.len()
    );
    env.drop_database().await;
}
