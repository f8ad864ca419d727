//! ClickHouse stopped for 30 s while events flow, then restarted: ingest pauses, reports
//! not-ready, retries, and every event still arrives exactly once (as read back).
//!
//! Its own test binary: it stops the shared ClickHouse, so nothing else may run meanwhile
//! (cargo runs test binaries one after another).

use std::time::Duration;

use pulse_e2e::{stack, usage, TestEnv};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_down_for_30s_then_back_every_event_arrives_once() {
    let env = TestEnv::new(3).await;
    let ingest = env.spawn_ingest(env.ingest_config());
    let batch = |from: u64, to: u64| -> Vec<(Option<String>, Vec<u8>)> {
        (from..to)
            .map(|i| (Some(format!("a-{}", i % 7)), usage(&format!("e-{i}"), &format!("a-{}", i % 7), "u", 1)))
            .collect()
    };
    env.produce(&env.topics.usage, &batch(0, 500)).await;
    assert_eq!(env.wait_scalar("SELECT count() FROM usage_events FINAL", 500, Duration::from_secs(60)).await, 500);
    assert!(ingest.ready.get());

    stack(&["stop-clickhouse"]);
    env.produce(&env.topics.usage, &batch(500, 2000)).await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(ingest.metrics.paused.get(), 1, "consumption paused while ClickHouse is down");
    assert!(!ingest.ready.get(), "not ready while ClickHouse is down");
    assert!(ingest.metrics.errors.with_label_values(&["clickhouse_insert", "write_failed"]).get() >= 1);
    env.produce(&env.topics.usage, &batch(2000, 2500)).await;
    stack(&["start-clickhouse"]);

    assert_eq!(
        env.wait_scalar("SELECT count() FROM usage_events FINAL", 2500, Duration::from_secs(120)).await,
        2500,
        "every event arrives once"
    );
    assert_eq!(env.scalar("SELECT uniqExact(event_id) FROM usage_events").await, 2500);
    assert_eq!(ingest.metrics.paused.get(), 0, "resumed");
    assert!(ingest.ready.get(), "ready again");
    ingest.stop().await;
    env.drop_database().await;
}
