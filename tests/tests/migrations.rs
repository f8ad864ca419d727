//! Migrations while Pulse runs (issue 20 item 1): rows written during a copy step reach
//! the new table, two migrators racing end with one schema and every row, and a migrator
//! killed right after an exchange is resumed by the next one.
//!
//! Each test starts from a database at version 4 (the layouts before 005 and 006, which
//! rebuild `health_alerts`, `usage_events` and `crm_events`; 007 rebuilds the last two
//! again), with rows in them, and writes old-layout rows the way the previous release's
//! services do. One more test: 007 ranks the rows stored before it as ingest ranks new ones.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use pulse_runtime::{
    clickhouse::ClickHouseConfig,
    migrate::{migrate_with, Hook, HookAction, MigrateError, MigrateOptions, MIGRATIONS},
};

type BoxedStep = std::pin::Pin<Box<dyn std::future::Future<Output = HookAction> + Send>>;

fn fresh_db() -> ClickHouseConfig {
    let tag = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    ClickHouseConfig {
        url: std::env::var("PULSE_TEST_CLICKHOUSE").unwrap_or_else(|_| "http://127.0.0.1:8123".into()),
        database: format!("pulse_test_mig_{tag}"),
        ..ClickHouseConfig::default()
    }
}

fn now() -> u32 {
    u32::try_from(chrono::Utc::now().timestamp()).unwrap_or(0)
}

fn opts() -> MigrateOptions {
    MigrateOptions { lease: Duration::from_secs(2), lock_wait: Duration::from_secs(120), ..MigrateOptions::default() }
}

/// Old-layout writers: one usage event, one CRM event, one alert transition, each with
/// the columns both layouts have (what the release before 005/006 inserts).
async fn write_old_rows(db: &clickhouse::Client, tag: &str, n: u64) -> Result<(), clickhouse::error::Error> {
    db.query(
        "INSERT INTO usage_events (event_id, account_id, user_id, event, feature, timestamp, properties, raw, \
         source_topic, source_partition, source_offset, ingested_at) \
         SELECT concat(?, toString(number)), concat('acct-', toString(number % 7)), 'u1', 'feature_used', 'reports', \
                toDateTime('2026-01-01 00:00:00', 'UTC') + number, '{}', '{}', 'pulse.usage', 0, number, now() \
         FROM numbers(?)",
    )
    .bind(tag)
    .bind(n)
    .execute()
    .await?;
    db.query(
        "INSERT INTO crm_events (event_id, account_id, type, timestamp, payload, raw, source_topic, source_partition, \
         source_offset, ingested_at) \
         SELECT concat(?, toString(number)), concat('acct-', toString(number % 7)), 'account', \
                toDateTime('2026-01-01 00:00:00', 'UTC') + number, '{}', '{}', 'pulse.crm', 0, number, now() \
         FROM numbers(?)",
    )
    .bind(tag)
    .bind(n)
    .execute()
    .await?;
    db.query(
        "INSERT INTO health_alerts (alert_id, account_id, rule, state, opened_on, as_of, severity, message, details, emitted_at) \
         SELECT concat(?, toString(number)), concat(?, 'acct-', toString(number)), 'low_engagement', 'opened', \
                toDate('2026-01-01') + (number % 300), toDate('2026-01-01') + (number % 300), 'warning', 'm', '{}', now() \
         FROM numbers(?)",
    )
    .bind(tag)
    .bind(tag)
    .bind(n)
    .execute()
    .await?;
    Ok(())
}

async fn count(db: &clickhouse::Client, sql: &str) -> u64 {
    db.query(sql).fetch_one::<u64>().await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn at_version_4(cfg: &ClickHouseConfig) -> clickhouse::Client {
    let to4 = MigrateOptions { up_to: Some(4), ..opts() };
    migrate_with(cfg, now(), &to4).await.expect("migrate to version 4");
    let db = cfg.client();
    write_old_rows(&db, "before-", 500).await.expect("old rows");
    db
}

/// Every row written, of each kind, is in the migrated tables, and the layouts are new.
async fn assert_complete(db: &clickhouse::Client, want_per_kind: u64) {
    let latest = MIGRATIONS.last().map(|m| m.version).unwrap_or(0);
    assert_eq!(count(db, "SELECT count(DISTINCT version) FROM schema_migrations").await, u64::from(latest));
    for (table, col) in [("usage_events", "copy_rank"), ("crm_events", "copy_rank"), ("health_alerts", "transition")] {
        let has = count(
            db,
            &format!(
                "SELECT count() FROM system.columns WHERE database = currentDatabase() AND table = '{table}' AND name = '{col}'"
            ),
        )
        .await;
        assert_eq!(has, 1, "{table} has the new layout ({col})");
    }
    assert_eq!(count(db, "SELECT count() FROM usage_events FINAL").await, want_per_kind, "usage rows");
    assert_eq!(count(db, "SELECT count() FROM crm_events FINAL").await, want_per_kind, "crm rows");
    assert_eq!(count(db, "SELECT count() FROM health_alerts FINAL").await, want_per_kind, "alert transitions");
    assert_eq!(count(db, "SELECT count() FROM alerts_current FINAL").await, want_per_kind, "current alerts");
    let leftovers = count(
        db,
        "SELECT count() FROM system.tables WHERE database = currentDatabase() \
         AND (name LIKE '%\\_v2' OR name LIKE '%\\_v3' OR name = 'schema_migration_lock')",
    )
    .await;
    assert_eq!(leftovers, 0, "no built-beside table or lock left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rows_written_during_a_copy_step_reach_the_new_tables() {
    let cfg = fresh_db();
    let db = at_version_4(&cfg).await;

    // A writer that keeps inserting old-layout rows for as long as the migration runs,
    // and a hook that writes a batch right after each copy statement (between the copy
    // and the exchange: the window in which the old migrations dropped rows).
    let written = Arc::new(AtomicU64::new(500));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (db, written, stop) = (db.clone(), written.clone(), stop.clone());
        tokio::spawn(async move {
            let mut round = 0u64;
            while !stop.load(Ordering::SeqCst) {
                round += 1;
                if write_old_rows(&db, &format!("live{round}-"), 20).await.is_ok() {
                    written.fetch_add(20, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let hook_writes = Arc::new(AtomicU64::new(0));
    let hook = {
        let (db, written, hook_writes) = (db.clone(), written.clone(), hook_writes.clone());
        let hook: Hook = Arc::new(move |version: u32, index: usize, sql: &str| {
            // The first copy into the table built beside (not the catch-up copy back).
            let copy = sql.lines().next().is_some_and(|l| {
                l.starts_with("INSERT INTO") && (l.trim_end().ends_with("_v2") || l.trim_end().ends_with("_v3"))
            });
            let (db, written, hook_writes) = (db.clone(), written.clone(), hook_writes.clone());
            Box::pin(async move {
                if copy && matches!(version, 5..=7) {
                    write_old_rows(&db, &format!("hook{version}.{index}-"), 30)
                        .await
                        .expect("write between copy and exchange");
                    written.fetch_add(30, Ordering::SeqCst);
                    hook_writes.fetch_add(1, Ordering::SeqCst);
                }
                HookAction::Continue
            }) as BoxedStep
        });
        hook
    };
    let run = MigrateOptions { hook: Some(hook), ..opts() };
    migrate_with(&cfg, now(), &run).await.expect("migrate while writers run");
    stop.store(true, Ordering::SeqCst);
    writer.await.expect("writer");
    // 005 copies health_alerts; 006 and 007 copy usage_events and crm_events.
    assert_eq!(hook_writes.load(Ordering::SeqCst), 5, "the hook saw the five copy steps");
    assert_complete(&db, written.load(Ordering::SeqCst)).await;
    cfg.server_client().query(&format!("DROP DATABASE IF EXISTS {}", cfg.database)).execute().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_migrators_racing_end_with_every_row_and_the_new_schema() {
    let cfg = fresh_db();
    let db = at_version_4(&cfg).await;
    // The first migrator dawdles after each statement, so the second starts in the
    // middle of 005/006.
    let slow: Hook = Arc::new(|_v: u32, _i: usize, _s: &str| {
        Box::pin(async {
            tokio::time::sleep(Duration::from_millis(150)).await;
            HookAction::Continue
        }) as BoxedStep
    });
    let a = {
        let cfg = cfg.clone();
        let o = MigrateOptions { hook: Some(slow), ..opts() };
        tokio::spawn(async move { migrate_with(&cfg, now(), &o).await })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    let b = {
        let cfg = cfg.clone();
        tokio::spawn(async move { migrate_with(&cfg, now(), &opts()).await })
    };
    let (a, b) = (a.await.expect("a"), b.await.expect("b"));
    let (a, b) = (a.expect("first migrator"), b.expect("second migrator"));
    let after_4 = MIGRATIONS.iter().filter(|m| m.version > 4).count();
    assert_eq!(a.len() + b.len(), after_4, "5 and later applied once between them: {a:?} {b:?}");
    assert_complete(&db, 500).await;
    cfg.server_client().query(&format!("DROP DATABASE IF EXISTS {}", cfg.database)).execute().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_migrator_killed_after_an_exchange_is_resumed_by_the_next() {
    for forget_done in [false, true] {
        let cfg = fresh_db();
        let db = at_version_4(&cfg).await;
        // Killed right after 006 exchanged usage_events (before its catch-up copy and
        // the drop); with `forget_done`, also before it recorded the exchange as done.
        let kill: Hook = Arc::new(|version: u32, _i: usize, sql: &str| {
            let at = version == 6 && sql.starts_with("EXCHANGE TABLES usage_events");
            Box::pin(async move {
                if at {
                    HookAction::Abandon
                } else {
                    HookAction::Continue
                }
            }) as BoxedStep
        });
        let killed = migrate_with(&cfg, now(), &MigrateOptions { hook: Some(kill), ..opts() }).await;
        assert!(matches!(killed, Err(MigrateError::Abandoned { version: 6, .. })), "{killed:?}");
        if forget_done {
            db.query(
                "ALTER TABLE schema_migration_steps DELETE WHERE version = 6 AND state = 'done' \
                 AND step = (SELECT max(step) FROM schema_migration_steps WHERE version = 6) \
                 SETTINGS mutations_sync = 2",
            )
            .execute()
            .await
            .expect("forget the last done record");
        }
        // Rows written while nobody migrates: the old table is gone from the live name.
        write_old_rows(&db, "between-", 40).await.expect("write after the kill");
        // The lock is still held by the dead migrator: the next one takes it over after
        // the lease and finishes the migration without exchanging back.
        let resumed = migrate_with(&cfg, now(), &opts()).await.expect("resume");
        let from_6: Vec<u32> = MIGRATIONS.iter().map(|m| m.version).filter(|v| *v >= 6).collect();
        assert_eq!(resumed, from_6, "forget_done={forget_done}");
        assert_complete(&db, 540).await;
        cfg.server_client().query(&format!("DROP DATABASE IF EXISTS {}", cfg.database)).execute().await.ok();
    }
}

/// Events whose copies 007 must rank in SQL as ingest ranks them: microsecond and
/// offset timestamps (and nanoseconds, which the core truncates), non-ASCII ids,
/// usage without a feature, a Segment `track`, and every CRM type with floats, escapes
/// and optional fields.
const OLD_LINES: &[&str] = &[
    r#"{"type":"usage","event_id":"u1","account_id":"acme","user_id":"u-42","event":"report.viewed","feature":"reports","timestamp":"2026-11-02T10:15:00.123456Z"}"#,
    r#"{"type":"usage","event_id":"u2","account_id":"acme","user_id":"u-43","event":"x","timestamp":"2026-11-02T12:15:00.000900+02:00","extra":1}"#,
    r#"{"type":"usage","event_id":"u3","account_id":"acmé","user_id":"ü-é😀","event":"x","feature":"béta","timestamp":"2026-11-02T10:15:00.123456789Z"}"#,
    r#"{"type":"usage","event_id":"u4","account_id":"acme","user_id":"x","event":"x","feature":"","timestamp":"2026-11-02T10:15:00Z"}"#,
    r#"{"type":"track","messageId":"u5","userId":"u-9","event":"x","timestamp":"2026-11-02T10:15:00.5Z","context":{"groupId":"acme"},"properties":{"feature":"alerts"}}"#,
    r#"{"type":"account","event_id":"c1","account_id":"acme","timestamp":"2026-11-01T08:00:00.000500Z","licensed_seats":10,"arr":5000,"name":"A \"q\" co","csm":"b"}"#,
    r#"{"type":"account","event_id":"c2","account_id":"acme","timestamp":"2026-11-01T08:00:00.000100+01:00","arr":12.5,"usage_profile":"daily","lifecycle_stage":"adoption","segment":null}"#,
    r#"{"type":"assessment","event_id":"c3","account_id":"acme","timestamp":"2026-11-01T08:00:00Z","dimension":"value","score":7,"author":"c","note":"line\nbreak"}"#,
    r#"{"type":"ticket","event_id":"c4","account_id":"acme","timestamp":"2026-11-01T08:00:00.9Z","ticket_id":"t-1","severity":"critical","status":"open"}"#,
    r#"{"type":"kpi","event_id":"c5","account_id":"acme","timestamp":"2026-11-01T08:00:00Z","kpi":"hours","baseline":0.1,"target":1000000,"value":3.25,"confirmed":true,"unit":"h"}"#,
    r#"{"type":"renewal","event_id":"c6","account_id":"acme","timestamp":"2026-11-01T08:00:00Z","outcome":"renewed","renewal_on":"2026-12-01","arr_before":100,"arr_after":120.5}"#,
    r#"{"type":"stakeholder","event_id":"c7","account_id":"acme","timestamp":"2026-11-01T08:00:00Z","role":"champion","person":"Zoë","status":"left"}"#,
    r#"{"type":"milestone","event_id":"c8","account_id":"acme","timestamp":"2026-11-01T08:00:00Z","item":"sso_configured","status":"done"}"#,
    r#"{"type":"training","event_id":"c9","account_id":"acme","timestamp":"2026-11-01T08:00:00Z","user_id":"u-1","module":"basics","score_pct":80}"#,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_stored_before_007_are_ranked_as_ingest_ranks_them() {
    use pulse_ingest::rows::{raw_row, storage_time, RawRow, Source};
    let cfg = fresh_db();
    migrate_with(&cfg, now(), &MigrateOptions { up_to: Some(6), ..opts() }).await.expect("migrate to version 6");
    let db = cfg.client();
    let source = Source { topic: "pulse.usage", partition: 0, offset: 0 };
    let mut expected = std::collections::BTreeMap::new();
    for line in OLD_LINES {
        let ev = pulse_core::parse_event(line.as_bytes()).unwrap_or_else(|e| panic!("{line}: {e:?}"));
        let ms = storage_time(&ev).expect("storable");
        // The columns 006's writers fill; copy_rank as 006 ranked it (any value: 007 recomputes it).
        let sql = match raw_row(&ev, line.as_bytes(), &source, now(), ms) {
            RawRow::Usage(r) => {
                expected.insert(r.event_id.clone(), r.copy_rank.to_string());
                db.query(
                    "INSERT INTO usage_events (event_id, account_id, user_id, event, feature, timestamp, properties, raw, \
                     source_topic, source_partition, source_offset, ingested_at, copy_rank) \
                     VALUES (?, ?, ?, ?, ?, fromUnixTimestamp64Milli(toInt64(?), 'UTC'), ?, ?, 'pulse.usage', 0, 0, now(), 1)",
                )
                .bind(r.event_id)
                .bind(r.account_id)
                .bind(r.user_id)
                .bind(r.event)
                .bind(r.feature)
                .bind(ms)
                .bind(r.properties)
                .bind(r.raw)
            }
            RawRow::Crm(r) => {
                expected.insert(r.event_id.clone(), r.copy_rank.to_string());
                db.query(
                    "INSERT INTO crm_events (event_id, account_id, type, timestamp, payload, raw, source_topic, \
                     source_partition, source_offset, ingested_at, copy_rank) \
                     VALUES (?, ?, ?, fromUnixTimestamp64Milli(toInt64(?), 'UTC'), ?, ?, 'pulse.crm', 0, 0, now(), 1)",
                )
                .bind(r.event_id)
                .bind(r.account_id)
                .bind(ev.type_name())
                .bind(ms)
                .bind(r.payload)
                .bind(r.raw)
            }
        };
        sql.execute().await.unwrap_or_else(|e| panic!("insert {line}: {e}"));
    }
    let done = migrate_with(&cfg, now(), &opts()).await.expect("migrate to the latest");
    assert_eq!(done.first(), Some(&7), "{done:?}");
    let got: Vec<(String, String)> = db
        .query(
            "SELECT event_id, toString(copy_rank) FROM usage_events FINAL \
             UNION ALL SELECT event_id, toString(copy_rank) FROM crm_events FINAL ORDER BY 1",
        )
        .fetch_all()
        .await
        .expect("ranks");
    let got: std::collections::BTreeMap<String, String> = got.into_iter().collect();
    cfg.server_client().query(&format!("DROP DATABASE IF EXISTS {}", cfg.database)).execute().await.ok();
    let wrong: Vec<String> = expected
        .iter()
        .filter(|(id, rank)| got.get(*id) != Some(*rank))
        .map(|(id, rank)| format!("{id}: ingest ranks {rank}, 007 ranked {:?}", got.get(id)))
        .collect();
    assert!(wrong.is_empty(), "old rows ranked otherwise than ingest ranks them:\n{}", wrong.join("\n"));
}
