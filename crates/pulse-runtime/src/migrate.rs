//! Versioned ClickHouse migrations (`schemas/clickhouse/NNN_*.sql`), applied in order and
//! recorded in `schema_migrations`, safely while Pulse runs.
//!
//! What makes it safe to run beside live writers, twice at once, or again after a crash:
//! - **One migrator at a time**: [`lock::MigrationLock`], a lock with a lease held in
//!   ClickHouse itself; a second migrator waits, then finds the work done.
//! - **Resumable**: every statement is recorded in `schema_migration_steps` once done, so a
//!   migration interrupted half-way continues at the statement it stopped at. Statements
//!   are re-runnable anyway (`IF NOT EXISTS`; copies into ReplacingMergeTree tables, where
//!   a second copy collapses), except `EXCHANGE TABLES`, which would swap back: its intent
//!   is recorded with the UUID of the table it brings in, and on resume it is skipped when
//!   that table already has the live name.
//! - **No row left behind**: a table whose engine changes is built beside the live one,
//!   filled, exchanged, and then filled again from the old one (the *catch-up* copy) before
//!   the old one is dropped, so rows that running services wrote between the first copy
//!   and the exchange reach the new table. After an exchange the migrator waits for every
//!   insert that started before it (`system.processes`) to finish first: with an Atomic
//!   database such an insert still lands in the old table.
//!
//! Supported servers: current ClickHouse (CI runs 26.9; the compose file and k8s pin the
//! same line); older releases are refused at start-up.

mod lock;

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use pulse_storage::{migrations::MigrationRow, tables};
use sha2::{Digest, Sha256};

use crate::clickhouse::{server_version, ClickHouseConfig};
pub use lock::{MigrationLock, LOCK_TABLE};

/// The oldest ClickHouse release Pulse runs on (DateTime64, RowBinaryWithNamesAndTypes,
/// EXCHANGE TABLES, the analyzer's join rules). CI tests 26.9.
pub const MIN_SERVER_VERSION: (u32, u32) = (24, 8);

pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// All migrations, in order. Adding one: add the file and a line here.
pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "raw_events", sql: include_str!("../../../schemas/clickhouse/001_raw_events.sql") },
    Migration { version: 2, name: "scores", sql: include_str!("../../../schemas/clickhouse/002_scores.sql") },
    Migration {
        version: 3,
        name: "scorer_snapshots",
        sql: include_str!("../../../schemas/clickhouse/003_scorer_snapshots.sql"),
    },
    Migration { version: 4, name: "alert_acks", sql: include_str!("../../../schemas/clickhouse/004_alert_acks.sql") },
    Migration {
        version: 5,
        name: "alert_history",
        sql: include_str!("../../../schemas/clickhouse/005_alert_history.sql"),
    },
    Migration {
        version: 6,
        name: "raw_events_v2",
        sql: include_str!("../../../schemas/clickhouse/006_raw_events_v2.sql"),
    },
    Migration {
        version: 7,
        name: "copy_rank_u256",
        sql: include_str!("../../../schemas/clickhouse/007_copy_rank_u256.sql"),
    },
    Migration {
        version: 8,
        name: "result_quality",
        sql: include_str!("../../../schemas/clickhouse/008_result_quality.sql"),
    },
    Migration {
        version: 9,
        name: "system_alerts",
        sql: include_str!("../../../schemas/clickhouse/009_system_alerts.sql"),
    },
    Migration {
        version: 10,
        name: "usage_copies_per_day",
        sql: include_str!("../../../schemas/clickhouse/010_usage_copies_per_day.sql"),
    },
];

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("clickhouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    #[error("ClickHouse {0}.{1} is too old: Pulse needs {min}.{minor} or newer", min = MIN_SERVER_VERSION.0, minor = MIN_SERVER_VERSION.1)]
    ServerTooOld(u32, u32),
    #[error("migration {version} ({name}) failed at statement {index}: {source}")]
    Statement { version: u32, name: &'static str, index: usize, source: clickhouse::error::Error },
    #[error("another migrator ({holder}) holds the migration lock; waited {waited:?} (it expires one lease after its holder stops)")]
    LockBusy { holder: String, waited: Duration },
    #[error("the migration lock of {owner} was taken over (now held by {now:?}): this migrator stalled past its lease; run `pulse migrate` again")]
    LockLost { owner: String, now: Option<String> },
    #[error("inserts that started before the exchange in migration {version} are still running after {waited:?}")]
    WritersStillRunning { version: u32, waited: Duration },
    #[error("stopped after migration {version} statement {index} (test hook)")]
    Abandoned { version: u32, index: usize },
}

/// What a test hook tells the migrator after a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookAction {
    Continue,
    /// Stop at once, keeping the lock, as a migrator killed at this point would.
    Abandon,
}

/// Called after every statement (recorded as done): `(version, statement index, SQL)`.
pub type Hook = Arc<dyn Fn(u32, usize, &str) -> Pin<Box<dyn Future<Output = HookAction> + Send>> + Send + Sync>;

/// How `migrate_with` runs.
#[derive(Clone)]
pub struct MigrateOptions {
    /// A lock whose holder shows no sign of life for this long is taken over.
    pub lease: Duration,
    /// How long to wait for another migrator before giving up.
    pub lock_wait: Duration,
    /// How long to wait for inserts that started before an exchange.
    pub writers_wait: Duration,
    /// Apply migrations up to this version only (tests of upgrades from an older schema).
    pub up_to: Option<u32>,
    /// Tests only: runs after each statement.
    pub hook: Option<Hook>,
}

impl Default for MigrateOptions {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(60),
            lock_wait: Duration::from_secs(15 * 60),
            writers_wait: Duration::from_secs(10 * 60),
            up_to: None,
            hook: None,
        }
    }
}

/// One statement of a migration, as the runner treats it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    /// `EXCHANGE TABLES live AND built`.
    Exchange {
        live: String,
        built: String,
    },
    Other,
}

impl Statement {
    pub fn parse(sql: &str) -> Self {
        let words: Vec<&str> = sql.split_whitespace().collect();
        match words.as_slice() {
            [e, t, live, and, built]
                if e.eq_ignore_ascii_case("EXCHANGE")
                    && t.eq_ignore_ascii_case("TABLES")
                    && and.eq_ignore_ascii_case("AND") =>
            {
                Self::Exchange { live: (*live).to_owned(), built: (*built).to_owned() }
            }
            _ => Self::Other,
        }
    }
}

/// Splits a migration into statements: `--` comment lines removed, split on `;`.
pub fn statements(sql: &str) -> Vec<String> {
    let cleaned: String = sql.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
    cleaned.split(';').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

fn checksum(sql: &str) -> String {
    hex::encode(&Sha256::digest(sql.as_bytes())[..8])
}

/// Applies pending migrations; returns the versions applied by this call.
pub async fn migrate(cfg: &ClickHouseConfig, now_unix: u32) -> Result<Vec<u32>, MigrateError> {
    migrate_with(cfg, now_unix, &MigrateOptions::default()).await
}

#[derive(Debug, clickhouse::Row, serde::Deserialize)]
struct StepRow {
    step: u32,
    state: String,
    detail: String,
}

/// [`migrate`] with explicit options (lease, waits, a target version, a test hook).
pub async fn migrate_with(
    cfg: &ClickHouseConfig,
    now_unix: u32,
    opts: &MigrateOptions,
) -> Result<Vec<u32>, MigrateError> {
    let server = cfg.server_client();
    server.query(&format!("CREATE DATABASE IF NOT EXISTS {}", cfg.database)).execute().await?;
    let version = server_version(&server).await?;
    if version < MIN_SERVER_VERSION {
        return Err(MigrateError::ServerTooOld(version.0, version.1));
    }
    let db = cfg.client();
    db.query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, \
         checksum String, applied_at DateTime('UTC')) ENGINE = ReplacingMergeTree(applied_at) \
         ORDER BY version",
    )
    .execute()
    .await?;
    db.query(
        "CREATE TABLE IF NOT EXISTS schema_migration_steps (version UInt32, step UInt32, \
         state Enum8('started' = 1, 'done' = 2), detail String, owner String, \
         at DateTime64(3, 'UTC')) ENGINE = MergeTree ORDER BY (version, step, at)",
    )
    .execute()
    .await?;
    let wanted = |m: &&Migration| opts.up_to.is_none_or(|v| m.version <= v);
    let applied: Vec<u32> = db.query("SELECT DISTINCT version FROM schema_migrations").fetch_all().await?;
    if MIGRATIONS.iter().filter(wanted).all(|m| applied.contains(&m.version)) {
        return Ok(Vec::new());
    }
    let lock = MigrationLock::acquire(&db, opts.lease, opts.lock_wait).await?;
    let result = run_pending(&db, &lock, now_unix, opts).await;
    match result {
        Err(MigrateError::Abandoned { .. }) => lock.abandon(),
        _ => lock.release().await?,
    }
    result
}

async fn run_pending(
    db: &clickhouse::Client,
    lock: &MigrationLock,
    now_unix: u32,
    opts: &MigrateOptions,
) -> Result<Vec<u32>, MigrateError> {
    // Read again under the lock: a migrator that held it before us may have done the work.
    let applied: Vec<u32> = db.query("SELECT DISTINCT version FROM schema_migrations").fetch_all().await?;
    let mut done = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| opts.up_to.is_none_or(|v| m.version <= v)) {
        if applied.contains(&m.version) {
            continue;
        }
        let steps: Vec<StepRow> = db
            .query("SELECT step, toString(state) AS state, detail FROM schema_migration_steps WHERE version = ? ORDER BY at")
            .bind(m.version)
            .fetch_all()
            .await?;
        let finished = |i: usize| steps.iter().any(|s| s.step as usize == i && s.state == "done");
        if !steps.is_empty() {
            tracing::info!(version = m.version, name = m.name, "resuming an interrupted migration");
        }
        let mut after_exchange = false;
        for (index, stmt) in statements(m.sql).iter().enumerate() {
            let parsed = Statement::parse(stmt);
            if finished(index) {
                after_exchange |= matches!(parsed, Statement::Exchange { .. });
                continue;
            }
            lock.check().await?;
            let fail = |source| MigrateError::Statement { version: m.version, name: m.name, index, source };
            match &parsed {
                Statement::Exchange { live, built } => {
                    let intent = steps.iter().rev().find(|s| s.step as usize == index && s.state == "started");
                    let already = match intent {
                        Some(i) => table_uuid(db, live).await.map_err(fail)?.as_deref() == Some(i.detail.as_str()),
                        None => false,
                    };
                    if already {
                        tracing::info!(version = m.version, index, "exchange already done before the interruption");
                    } else {
                        let uuid = table_uuid(db, built).await.map_err(fail)?.unwrap_or_default();
                        record(db, m.version, index, "started", &uuid, &lock.owner).await?;
                        db.query(stmt).execute().await.map_err(fail)?;
                    }
                    after_exchange = true;
                    await_earlier_inserts(db, m.version, opts.writers_wait).await?;
                }
                Statement::Other => {
                    if after_exchange && index > 0 && steps.iter().any(|s| s.step as usize == index - 1) {
                        // Resumed right after an exchange: writers of the old table may still run.
                        await_earlier_inserts(db, m.version, opts.writers_wait).await?;
                    }
                    db.query(stmt).execute().await.map_err(fail)?;
                }
            }
            record(db, m.version, index, "done", "", &lock.owner).await?;
            if let Some(hook) = &opts.hook {
                if hook(m.version, index, stmt).await == HookAction::Abandon {
                    return Err(MigrateError::Abandoned { version: m.version, index });
                }
            }
        }
        let mut insert = db.insert::<MigrationRow>(tables::SCHEMA_MIGRATIONS).await?;
        insert
            .write(&MigrationRow {
                version: m.version,
                name: m.name.into(),
                checksum: checksum(m.sql),
                applied_at: pulse_storage::types::seconds(now_unix),
            })
            .await?;
        insert.end().await?;
        tracing::info!(version = m.version, name = m.name, "migration applied");
        done.push(m.version);
    }
    Ok(done)
}

async fn record(
    db: &clickhouse::Client,
    version: u32,
    step: usize,
    state: &str,
    detail: &str,
    owner: &str,
) -> Result<(), MigrateError> {
    db.query("INSERT INTO schema_migration_steps SELECT ?, ?, ?, ?, ?, now64(3)")
        .bind(version)
        .bind(u32::try_from(step).unwrap_or(u32::MAX))
        .bind(state)
        .bind(detail)
        .bind(owner)
        .execute()
        .await?;
    Ok(())
}

async fn table_uuid(db: &clickhouse::Client, name: &str) -> Result<Option<String>, clickhouse::error::Error> {
    db.query("SELECT toString(uuid) FROM system.tables WHERE database = currentDatabase() AND name = ?")
        .bind(name)
        .fetch_optional::<String>()
        .await
}

/// Waits until every insert into this database that started before now has finished:
/// after `EXCHANGE TABLES`, an insert that began earlier writes into the old table (now
/// under the built table's name), and the catch-up copy must see it.
async fn await_earlier_inserts(db: &clickhouse::Client, version: u32, wait: Duration) -> Result<(), MigrateError> {
    let start = tokio::time::Instant::now();
    let since = "SELECT count() FROM system.processes WHERE query_kind = 'Insert' \
                 AND current_database = currentDatabase() AND elapsed >= ?";
    loop {
        let waited = start.elapsed();
        let running: u64 = db.query(since).bind(waited.as_secs_f64()).fetch_one().await?;
        if running == 0 {
            return Ok(());
        }
        if waited >= wait {
            return Err(MigrateError::WritersStillRunning { version, waited });
        }
        tracing::info!(version, running, "waiting for inserts that started before the exchange");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ALTER TABLE t ADD COLUMN IF NOT EXISTS ..., ADD COLUMN IF NOT EXISTS ...`: every
    /// clause guarded, so a second run changes nothing.
    fn is_add_columns(s: &str) -> bool {
        let Some(rest) = s.strip_prefix("ALTER TABLE ") else { return false };
        rest.contains("ADD COLUMN")
            && rest.matches("ADD COLUMN").count() == rest.matches("ADD COLUMN IF NOT EXISTS").count()
            && !rest.contains("DROP")
            && !rest.contains("MODIFY")
    }

    /// `ALTER TABLE view MODIFY QUERY SELECT ...`: sets the view's query, the same again
    /// on a second run.
    fn is_modify_query(s: &str) -> bool {
        let words: Vec<&str> = s.split_whitespace().take(5).collect();
        matches!(words.as_slice(), ["ALTER", "TABLE", _, "MODIFY", "QUERY"])
    }

    #[test]
    fn add_columns_and_modify_query_are_recognized() {
        assert!(is_add_columns("ALTER TABLE t ADD COLUMN IF NOT EXISTS a UInt8, ADD COLUMN IF NOT EXISTS b String"));
        assert!(!is_add_columns("ALTER TABLE t ADD COLUMN IF NOT EXISTS a UInt8, ADD COLUMN b String"));
        assert!(!is_add_columns("ALTER TABLE t ADD COLUMN IF NOT EXISTS a UInt8, DROP COLUMN b"));
        assert!(!is_add_columns("ALTER TABLE t DELETE WHERE 1"));
        assert!(is_modify_query("ALTER TABLE v MODIFY QUERY SELECT 1"));
        assert!(!is_modify_query("ALTER TABLE v MODIFY COLUMN a UInt8"));
    }

    #[test]
    fn every_migration_statement_is_rerunnable() {
        for m in MIGRATIONS {
            let stmts = statements(m.sql);
            assert!(!stmts.is_empty(), "migration {} has no statements", m.version);
            for s in stmts {
                let ok = (s.starts_with("CREATE") && s.contains("IF NOT EXISTS"))
                    || s.starts_with("DROP TABLE IF EXISTS")
                    || matches!(Statement::parse(&s), Statement::Exchange { .. })
                    || s.starts_with("INSERT INTO")
                    || is_add_columns(&s)
                    || is_modify_query(&s);
                assert!(ok, "migration {}: not re-runnable: {s}", m.version);
            }
        }
    }
}
