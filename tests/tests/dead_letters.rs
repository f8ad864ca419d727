//! One dead-letter envelope for every producer (issue 12, item 4): records taken from the
//! DLQ topic, written by ingest (invalid input), the scorer (a foreign message on the
//! events topic) and the notifier (an alert the webhook did not take), all validate
//! against `schemas/events/dead-letter.schema.json` and parse as
//! `pulse_runtime::dlq::DeadLetter`.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use pulse_e2e::{dead_letter_schema, scorer_config, TestEnv};
use pulse_runtime::{
    dlq::{DeadLetter, Reason},
    Secret,
};
use pulse_scorer::FixedClock;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_producer_writes_dead_letters_the_schema_accepts() {
    let env = TestEnv::new(1).await;
    let ingest = env.spawn_ingest(env.ingest_config());
    // The webhook: a port nothing listens on; two attempts, then the dead letter.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let mut cfg = scorer_config(&env);
    cfg.webhook.url = Some(Secret::new(format!("http://{closed}/hook")));
    cfg.webhook.max_attempts = 2;
    cfg.webhook.timeout_ms = 1_000;
    let scorer = env.spawn_scorer(cfg, Arc::new(FixedClock::new(Utc::now())));

    let today = Utc::now().date_naive();
    let alert = serde_json::json!({
        "account_id": "acme", "rule": "low_engagement", "state": "opened", "as_of": today, "opened_on": today,
        "severity": "warning", "message": "engagement below 50", "details": {}, "alert_id": "acme/low_engagement/x",
        "version": 7, "notify": true,
    });
    env.produce(
        &env.topics.usage.clone(),
        &[(None, b"{not json".to_vec()), (Some("acme".into()), br#"{"type":"usage"}"#.to_vec())],
    )
    .await;
    env.produce(
        &env.topics.events.clone(),
        &[(Some("acme".into()), br#"{"type":"nope","account_id":"acme"}"#.to_vec())],
    )
    .await;
    env.produce(&env.topics.alerts.clone(), &[(Some("acme".into()), alert.to_string().into_bytes())]).await;

    let dead = env.consume(&env.topics.dlq, 4, Duration::from_secs(90)).await;
    scorer.stop().await;
    ingest.stop().await;
    assert_eq!(dead.len(), 4, "two from ingest, one from the scorer, one from the notifier");
    let schema = dead_letter_schema::validator();
    let mut seen = Vec::new();
    for m in &dead {
        dead_letter_schema::assert_valid(&schema, &m.payload);
        let d: DeadLetter = serde_json::from_slice(&m.payload).expect("one envelope type");
        seen.push((d.source_topic.clone(), d.reason));
        if d.reason == Reason::WebhookFailed {
            assert_eq!(d.original_bytes(), Some(alert.to_string().into_bytes()), "the alert message as read");
            assert!(d.idempotency_key.is_some());
            assert!(!d.detail.contains(&closed.to_string()), "the webhook URL (a secret) is not in the dead letter");
        }
    }
    seen.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.as_str().cmp(b.1.as_str())));
    let t = &env.topics;
    let mut want = vec![
        (t.usage.clone(), Reason::NotJson),
        (t.usage.clone(), Reason::MissingField),
        (t.events.clone(), Reason::UnknownType),
        (t.alerts.clone(), Reason::WebhookFailed),
    ];
    want.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.as_str().cmp(b.1.as_str())));
    assert_eq!(seen, want);
    env.drop_database().await;
}
