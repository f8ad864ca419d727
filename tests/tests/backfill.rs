//! `pulse backfill` (pulse_scorer::backfill) against the real ClickHouse: the daily
//! results it writes for a past period equal `pulse replay --as-of` each day, are
//! readable as the scorer's rows, and writing them twice changes nothing.

use std::io::Write as _;

use chrono::Days;
use pulse_e2e::{assert_same_results, replay_expected, stored_results, TestEnv};
use pulse_gen::{write_demo, DemoSpec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_writes_the_replayed_results_of_every_day_idempotently() {
    let env = TestEnv::new(1).await;
    let end = chrono::Utc::now().date_naive() - Days::new(1);
    // 150 days: more than the scorer's horizon, with renewal outcomes in it.
    let spec = DemoSpec { accounts: 16, days: 150, end, seed: 7, malformed: true };
    let mut ndjson = Vec::new();
    write_demo(&spec, &mut ndjson).expect("demo data");
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(&ndjson).expect("write");
    let from = end - Days::new(120);
    let to = end - Days::new(90);

    let config = pulse_core::ScoringConfig::default();
    let stats =
        pulse_scorer::backfill::backfill(&env.ch(), file.path(), &config, from, to, 1_000).await.expect("backfill");
    assert_eq!(stats.days, 31);
    assert!(stats.invalid > 0, "the demo's malformed lines are counted, not fatal");
    let per_day = env.scalar(&format!("SELECT count() FROM account_health FINAL WHERE as_of = toDate('{from}')")).await;
    assert!(per_day >= 10, "{per_day} accounts on {from}");
    assert_eq!(stats.health_rows, env.scalar("SELECT count() FROM account_health FINAL").await);

    for day in [from, from + Days::new(15), to] {
        let stored = stored_results(&env, day).await.expect("stored results");
        assert_same_results(&stored, &replay_expected(&ndjson, day));
    }
    assert_eq!(env.scalar(&format!("SELECT count() FROM account_health FINAL WHERE as_of > toDate('{to}')")).await, 0);

    // Again, later: the same values under a newer version, one row per account and day.
    pulse_scorer::backfill::backfill(&env.ch(), file.path(), &config, from, to, 2_000).await.expect("again");
    assert_eq!(stats.health_rows, env.scalar("SELECT count() FROM account_health FINAL").await);
    assert_same_results(&stored_results(&env, to).await.expect("stored results"), &replay_expected(&ndjson, to));
    env.drop_database().await;
}
