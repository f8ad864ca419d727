//! Ingest stopped (gracefully) while ClickHouse is down and its batch is being retried,
//! then ClickHouse back and a new ingest: every event arrives exactly once. The stop ends
//! the retry; the half-written batch stays uncommitted and is read again. (Before the
//! shared consumer loop, the final flush after such a stop found the batch's rows already
//! taken, wrote nothing and committed its offsets: the events were lost.)
//!
//! Its own test binary: it stops the shared ClickHouse, so nothing else may run meanwhile
//! (cargo runs test binaries one after another).

use std::time::Duration;

use pulse_e2e::{stack, usage, TestEnv};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_stopped_while_clickhouse_is_down_loses_nothing() {
    let env = TestEnv::new(1).await;
    let batch = |from: u64, to: u64| -> Vec<(Option<String>, Vec<u8>)> {
        (from..to)
            .map(|i| (Some(format!("a-{}", i % 5)), usage(&format!("e-{i}"), &format!("a-{}", i % 5), "u", 1)))
            .collect()
    };
    let ingest = env.spawn_ingest(env.ingest_config());
    env.produce(&env.topics.usage, &batch(0, 300)).await;
    assert_eq!(env.wait_scalar("SELECT count() FROM usage_events FINAL", 300, Duration::from_secs(60)).await, 300);

    stack(&["stop-clickhouse"]);
    env.produce(&env.topics.usage, &batch(300, 1000)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while ingest.metrics.paused.get() == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ingest.metrics.paused.get(), 1, "ingest is retrying its batch, consumption paused");
    ingest.stop().await;
    stack(&["start-clickhouse"]);

    let ingest = env.spawn_ingest(env.ingest_config());
    assert_eq!(
        env.wait_scalar("SELECT count() FROM usage_events FINAL", 1000, Duration::from_secs(120)).await,
        1000,
        "every event arrives once, those of the batch being retried at the stop included"
    );
    ingest.stop().await;
    env.drop_database().await;
}
