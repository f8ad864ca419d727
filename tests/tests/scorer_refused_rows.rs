//! Issue 19: a result row ClickHouse refuses for its content no longer stops the scorer.
//! The scorer isolates the refused rows the way ingest does (halves of the refused range
//! until single rows remain), dead-letters each with reason `storage_rejected` and the
//! server's message, stores every other row and stays ready.

use std::{sync::Arc, time::Duration};

use chrono::{Days, NaiveTime, Utc};
use pulse_e2e::{dead_letter_schema, scorer_config, TestEnv};
use pulse_runtime::dlq::DeadLetter;
use pulse_scorer::FixedClock;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_result_row_is_dead_lettered_and_the_other_accounts_are_scored() {
    let env = TestEnv::new(1).await;
    // The server refuses every health row of one account (a stand-in for any row the
    // table cannot hold).
    env.ch()
        .query("ALTER TABLE account_health ADD CONSTRAINT no_poison CHECK account_id != 'poison'")
        .execute()
        .await
        .expect("add constraint");
    let day = Utc::now().date_naive().checked_sub_days(Days::new(1)).expect("yesterday");
    let clock = FixedClock::new(day.and_time(NaiveTime::from_hms_opt(23, 0, 0).expect("time")).and_utc());
    let ingest = env.spawn_ingest(env.ingest_config());
    let scorer = env.spawn_scorer(scorer_config(&env), Arc::new(clock));
    let ts = format!("{day}T10:00:00Z");
    let mut ndjson = String::new();
    for (i, account) in ["a-1", "a-2", "poison", "a-3", "a-4"].iter().enumerate() {
        ndjson.push_str(&format!(
            "{{\"type\":\"account\",\"event_id\":\"acc-{i}\",\"account_id\":\"{account}\",\"timestamp\":\"{ts}\",\"licensed_seats\":4}}\n"
        ));
        for u in 0..3 {
            ndjson.push_str(&format!(
                "{{\"type\":\"usage\",\"event_id\":\"u-{i}-{u}\",\"account_id\":\"{account}\",\"user_id\":\"u{u}\",\"event\":\"x\",\"timestamp\":\"{ts}\"}}\n"
            ));
        }
    }
    env.produce_routed(ndjson.as_bytes()).await;

    // Every other account's result of the day is stored.
    let sql = format!("SELECT count() FROM account_health FINAL WHERE as_of = toDate('{day}')");
    assert_eq!(env.wait_scalar(&sql, 4, Duration::from_secs(120)).await, 4);
    let refused = env.consume(&env.topics.dlq, 1, Duration::from_secs(60)).await;
    assert!(!refused.is_empty(), "the refused row is dead-lettered");
    let validator = dead_letter_schema::validator();
    for m in &refused {
        dead_letter_schema::assert_valid(&validator, &m.payload);
        let d: DeadLetter = serde_json::from_slice(&m.payload).expect("envelope");
        assert_eq!(d.reason.as_str(), "storage_rejected");
        assert!(d.detail.contains("VIOLATED_CONSTRAINT"), "the server's reason: {}", d.detail);
        assert!(d.detail.contains("poison"), "names the account: {}", d.detail);
        assert_eq!(d.source_topic, "account_health");
        let original: serde_json::Value = serde_json::from_slice(&d.original_bytes().expect("original")).expect("json");
        assert_eq!(original["account_id"], "poison", "the result is kept");
    }
    assert_eq!(env.scalar("SELECT count() FROM account_health FINAL WHERE account_id = 'poison'").await, 0);
    // Readiness rows are not refused: the poison account's is stored.
    assert!(env.scalar("SELECT count() FROM graduation_readiness FINAL WHERE account_id = 'poison'").await >= 1);
    // Ready, nothing paused, the refusals counted.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !(scorer.ready.get() && scorer.metrics.paused.get() == 0) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(scorer.ready.get(), "the scorer stays ready");
    assert_eq!(scorer.metrics.paused.get(), 0);
    assert!(scorer.metrics.errors.with_label_values(&["clickhouse_insert", "row_refused"]).get() >= 1);
    scorer.stop().await;
    ingest.stop().await;
    env.drop_database().await;
}
