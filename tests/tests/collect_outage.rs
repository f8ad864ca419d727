//! Retry idempotence around a broker outage (issue 23): SDKs re-send a batch they got no
//! 200 for, and a collector that answered 503 while the broker was down may still have
//! that batch's records queued in its producer, delivered once the broker is back. The
//! same batch sent three times around the outage must leave each event once on the
//! topic and 0 extra rows in `usage_events`, read *without* `FINAL`.
//!
//! The collector and ingest use a broker of this test's own (`PrivateBroker`), stopped
//! and started here; the shared stack's broker is never touched.

use std::time::{Duration, Instant};

use pulse_e2e::{broker::PrivateBroker, TestEnv};
use serde_json::{json, Value};

const KEY: &str = "wk-outage";

fn batch(prefix: &str, n: usize) -> String {
    let now = chrono::Utc::now();
    let calls: Vec<Value> = (0..n)
        .map(|i| {
            json!({"type": "track", "messageId": format!("{prefix}-{i}"), "userId": format!("u{}", i % 7),
                   "event": "Report Viewed", "context": {"groupId": format!("acct-{}", i % 4)},
                   "properties": {"feature": "reports"},
                   "timestamp": (now - chrono::Duration::minutes(i as i64)).to_rfc3339()})
        })
        .collect();
    json!({"batch": calls, "sentAt": now.to_rfc3339()}).to_string()
}

/// One attempt: (status, Retry-After).
async fn post(http: &reqwest::Client, url: &str, body: &str) -> (u16, Option<String>) {
    let r = http
        .post(format!("{url}/v1/batch"))
        .basic_auth(KEY, Some(""))
        .body(body.to_owned())
        .send()
        .await
        .expect("the collector answers");
    let retry = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (r.status().as_u16(), retry)
}

/// Like an SDK: re-sends after `Retry-After` until a 200 (at most 90 s).
async fn post_until_ok(http: &reqwest::Client, url: &str, body: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (status, retry) = post(http, url, body).await;
        if status == 200 {
            return;
        }
        assert_eq!(status, 503, "only the outage's 503 is retried");
        assert!(Instant::now() < deadline, "no 200 within 90 s after the broker came back");
        let secs: u64 = retry.as_deref().and_then(|s| s.parse().ok()).expect("503 carries Retry-After");
        tokio::time::sleep(Duration::from_secs(secs)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_retried_around_a_broker_outage_is_stored_once_without_final() {
    let mut broker = PrivateBroker::start();
    let env = TestEnv::on_brokers(&broker.brokers(), 2).await;
    let ingest = env.spawn_ingest(env.ingest_config());
    let kafka = env.kafka.clone();
    let collector = env
        .spawn_collector_on(&kafka, &[("web", KEY)], |c| {
            c.ack_timeout_ms = 2_000;
            c.retry_after_secs = 1;
        })
        .await;
    let url = collector.url();
    let metrics = collector.metrics.clone();
    let http = reqwest::Client::new();
    let (before, during) = (batch("before", 30), batch("during", 30));

    // `before`: acknowledged, then its 200 "lost" (the SDK retries it during and after).
    assert_eq!(post(&http, &url, &before).await.0, 200);
    broker.stop();
    // `during`: twice while the broker is down, each 503 with Retry-After.
    for attempt in 0..2 {
        let (status, retry) = post(&http, &url, &during).await;
        assert_eq!((status, retry.as_deref()), (503, Some("1")), "attempt {attempt} while the broker is down");
    }
    let (status, _) = post(&http, &url, &before).await;
    assert!(status == 200 || status == 503, "a retry of acknowledged events during the outage: {status}");
    broker.resume();
    post_until_ok(&http, &url, &during).await;
    post_until_ok(&http, &url, &before).await;
    // Whatever the producer still held goes out before the count (the stop flushes it).
    collector.stop().await;

    assert!(metrics.duplicates.get() >= 30, "retries of acknowledged events answered without producing");
    let wait = Duration::from_secs(60);
    let on_topic = env.consume(&env.topics.usage, 1_000, Duration::from_secs(10)).await;
    assert_eq!(on_topic.len(), 60, "each event once on the topic, whatever the retries");
    assert_eq!(env.wait_scalar("SELECT count() FROM usage_events FINAL", 60, wait).await, 60);
    let rows = ingest.metrics.inserted_rows.with_label_values(&["usage_events"]);
    assert_eq!(rows.get(), 60, "rows ingest wrote");
    assert_eq!(env.scalar("SELECT count() FROM usage_events").await, 60, "0 extra rows without FINAL");
    assert_eq!(env.scalar("SELECT uniqExact(event_id) FROM usage_events").await, 60);
    ingest.stop().await;
    env.drop_database().await;
}
