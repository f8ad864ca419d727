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

/// Issue 19: the result tables are partitioned by month, and one insert may span at most
/// 100 partitions; a long history of one account (20,000 rows = 55 years) hit
/// TOO_MANY_PARTS, which no retry fixes. The backfill now splits its inserts by month:
/// 30 years of one account are written, one row per day.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_history_of_one_account_is_written_in_inserts_within_the_partition_limit() {
    let env = TestEnv::new(1).await;
    let from = chrono::NaiveDate::from_ymd_opt(1990, 1, 1).expect("date");
    let to = chrono::NaiveDate::from_ymd_opt(2019, 12, 31).expect("date");
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(
        file,
        r#"{{"type":"account","event_id":"a1","account_id":"old","timestamp":"1989-12-01T00:00:00Z","licensed_seats":5}}"#
    )
    .expect("write");
    for (i, y) in (1990..2020).enumerate() {
        writeln!(
            file,
            r#"{{"type":"usage","event_id":"u{i}","account_id":"old","user_id":"ann","event":"x","timestamp":"{y}-03-01T10:00:00Z"}}"#
        )
        .expect("write");
    }
    let config = pulse_core::ScoringConfig::default();
    let stats = pulse_scorer::backfill::backfill(&env.ch(), file.path(), &config, from, to, 1_000)
        .await
        .expect("a 30-year backfill is written");
    let days = (to - from).num_days() as u64 + 1;
    assert_eq!((stats.days, stats.health_rows), (days, days));
    assert_eq!(env.scalar("SELECT count() FROM account_health FINAL").await, days);
    assert_eq!(env.scalar("SELECT count() FROM graduation_readiness FINAL").await, days);
    env.drop_database().await;
}
