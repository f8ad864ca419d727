//! End to end over the real stack: a scenario produced to Kafka goes through ingest and
//! the scorer into ClickHouse with exactly the health and readiness `pulse replay`
//! computes from the same file.

use std::{sync::Arc, time::Duration};

use chrono::{Days, NaiveTime, Utc};
use pulse_e2e::{replay_expected, scorer_config, stored_results, TestEnv};
use pulse_gen::{write_demo, DemoSpec};
use pulse_scorer::FixedClock;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_through_kafka_lands_in_clickhouse_with_the_replay_results() {
    let env = TestEnv::new(3).await;
    let day = Utc::now().date_naive().checked_sub_days(Days::new(1)).expect("yesterday");
    let spec = DemoSpec { accounts: 18, days: 35, end: day, seed: 7, malformed: true };
    let mut ndjson = Vec::new();
    write_demo(&spec, &mut ndjson).expect("demo data");
    let expected = replay_expected(&ndjson, day);
    assert_eq!(expected.len(), 36, "18 accounts x (health, readiness)");

    // The scorer's "today" is the scenario's last day, late in the evening.
    let clock = FixedClock::new(day.and_time(NaiveTime::from_hms_opt(23, 0, 0).expect("time")).and_utc());
    let ingest = env.spawn_ingest(env.ingest_config());
    let scorer = env.spawn_scorer(scorer_config(&env), Arc::new(clock));
    env.produce_routed(&ndjson).await;

    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    let stored = loop {
        let stored = stored_results(&env, day).await.expect("stored results");
        if stored == expected || std::time::Instant::now() > deadline {
            break stored;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    for (key, want) in &expected {
        assert_eq!(stored.get(key), Some(want), "result for {key:?}");
    }
    assert_eq!(stored.len(), expected.len());
    // Every color and verdict of the demo cohorts made it, with alerts for the decliners.
    let alerts = env.scalar("SELECT count() FROM health_alerts FINAL WHERE state = 'opened'").await;
    assert!(alerts > 0, "declining cohorts open alerts");
    let latest = env.scalar("SELECT count() FROM account_health_latest FINAL").await;
    assert_eq!(latest, 18, "latest row per account");
    let latest_day: u64 =
        env.scalar(&format!("SELECT count() FROM account_health_latest FINAL WHERE as_of = toDate('{day}')")).await;
    assert_eq!(latest_day, 18, "latest is the newest day");
    // Results also went to the topics.
    let health_msgs = env.consume(&env.topics.health, 18, Duration::from_secs(30)).await;
    assert_eq!(health_msgs.len(), 18);
    scorer.stop().await;
    ingest.stop().await;
    env.drop_database().await;
}
