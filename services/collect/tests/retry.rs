//! Retry idempotence through the real pipeline: the same batch sent three times (an SDK
//! retrying) is produced once (the collector remembers the ids the broker acknowledged,
//! `recent`), so ingest stores each call once, with or without `FINAL`. Around a broker
//! outage: `tests/tests/collect_outage.rs`.

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use pulse_collect::{
    config::{CollectConfig, SourceConfig},
    Collector,
};
use pulse_e2e::TestEnv;
use pulse_runtime::http::Readiness;
use serde_json::{json, Value};
use sha2::Digest as _;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_batch_sent_three_times_is_stored_once() {
    let env = TestEnv::new(2).await;
    let ingest = env.spawn_ingest(env.ingest_config());
    let cfg = CollectConfig {
        sources: vec![SourceConfig {
            name: "web".into(),
            key_sha256: hex::encode(sha2::Sha256::digest(b"wk-web")),
            shared_secret: None,
            account_property: None,
        }],
        ..CollectConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let collector =
        Collector::new(cfg, &env.kafka, env.topics.clone(), prometheus::Registry::new(), Readiness::default())
            .expect("collector");
    tokio::spawn(Arc::new(collector).serve(listener, std::future::pending()));

    let now = chrono::Utc::now();
    let mut batch: Vec<Value> = (0..20)
        .map(|i| {
            json!({"type": "track", "messageId": format!("retry-{i}"), "userId": format!("u{}", i % 5),
                   "event": "Report Viewed", "context": {"groupId": format!("acct-{}", i % 3)},
                   "timestamp": (now - chrono::Duration::minutes(i)).to_rfc3339()})
        })
        .collect();
    batch.push(json!({"type": "group", "messageId": "retry-group", "groupId": "acct-0", "traits": {"seats": "10"}}));
    batch.push(json!({"type": "identify", "messageId": "retry-identify", "userId": "u1"}));
    let body = json!({"batch": batch, "sentAt": now.to_rfc3339()}).to_string();
    let http = reqwest::Client::new();
    for attempt in 0..3 {
        let resp = http
            .post(format!("http://{addr}/v1/batch"))
            .basic_auth("wk-web", Some(""))
            .body(body.clone())
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 200, "attempt {attempt}");
        let answer: Value = resp.json().await.expect("json");
        assert_eq!(answer["accepted"], 22, "attempt {attempt}: {answer}");
    }

    // One copy of each of the 21 forwarded calls (the retries were answered from the
    // recent ids), under the 21 ids.
    let wait = Duration::from_secs(10);
    let (usage, crm) = tokio::join!(env.consume(&env.topics.usage, 60, wait), env.consume(&env.topics.crm, 3, wait));
    assert_eq!((usage.len(), crm.len()), (20, 1));
    let ids: BTreeSet<String> = usage
        .iter()
        .chain(&crm)
        .map(|m| {
            serde_json::from_slice::<Value>(&m.payload).expect("json")["event_id"].as_str().expect("id").to_owned()
        })
        .collect();
    let want: BTreeSet<String> =
        (0..20).map(|i| format!("web:retry-{i}")).chain(["web:retry-group".to_owned()]).collect();
    assert_eq!(ids, want);

    let timeout = Duration::from_secs(60);
    assert_eq!(env.wait_scalar("SELECT count() FROM usage_events FINAL", 20, timeout).await, 20);
    assert_eq!(env.wait_scalar("SELECT count() FROM crm_events FINAL", 1, timeout).await, 1);
    assert_eq!(env.scalar("SELECT count() FROM usage_events").await, 20, "no copy, even without FINAL");
    assert_eq!(env.scalar("SELECT count() FROM crm_events").await, 1);
    ingest.stop().await;
    env.drop_database().await;
}
