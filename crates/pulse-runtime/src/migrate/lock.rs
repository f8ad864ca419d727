//! The migration lock: one migrator at a time per database, with a lease, so two
//! `pulse migrate` runs racing (two init jobs, an operator and a deploy) cannot interleave
//! their statements, and a migrator that died holding the lock does not block the next
//! one for ever.
//!
//! ClickHouse has no compare-and-swap on rows, but DDL on one table name is atomic:
//! `CREATE TABLE schema_migration_lock` without `IF NOT EXISTS` succeeds for exactly one
//! caller. The table's comment names the holder; the holder inserts a heartbeat row
//! every quarter lease. A waiter that finds no sign of life (the newest heartbeat, or the
//! table's creation) for a whole lease, by the *server's* clock (so clocks of migrator
//! hosts never matter), takes the lock over by renaming the table to
//! `schema_migration_lock_expired_<holder>`: a rename to a name that already exists fails,
//! so of several waiters that saw the same holder expire, exactly one wins the takeover;
//! the renamed table stays as a tombstone (it is tiny) for that reason. Then it creates
//! the lock again like anyone else.
//!
//! Before every statement the migrator checks that the lock is still its own
//! ([`MigrationLock::check`]); a migrator paused for longer than its lease stops with
//! [`super::MigrateError::LockLost`] instead of racing the one that took over.

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::MigrateError;

pub const LOCK_TABLE: &str = "schema_migration_lock";

/// The lock, held. Dropping it does not release it (an async call is needed):
/// call [`MigrationLock::release`]; a lock left behind expires after its lease.
pub struct MigrationLock {
    db: clickhouse::Client,
    pub owner: String,
    heartbeat: tokio::task::JoinHandle<()>,
}

/// A random-enough, printable owner id: host, pid and the time, hashed.
pub fn new_owner() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_default();
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let seed = format!("{host}/{}/{nanos}/{n}", std::process::id());
    hex::encode(&Sha256::digest(seed.as_bytes())[..8])
}

#[derive(Debug, clickhouse::Row, serde::Deserialize)]
struct Holder {
    comment: String,
    idle_ms: i64,
}

impl MigrationLock {
    /// Waits for the lock (up to `wait`), taking over one whose holder showed no sign of
    /// life for `lease`.
    pub async fn acquire(db: &clickhouse::Client, lease: Duration, wait: Duration) -> Result<Self, MigrateError> {
        let owner = new_owner();
        let deadline = tokio::time::Instant::now() + wait;
        let mut logged = false;
        loop {
            let create = format!(
                "CREATE TABLE {LOCK_TABLE} (owner String, heartbeat DateTime64(3, 'UTC')) \
                 ENGINE = MergeTree ORDER BY heartbeat COMMENT '{owner}'"
            );
            match db.query(&create).execute().await {
                Ok(()) => {
                    tracing::info!(owner = %owner, "migration lock acquired");
                    let heartbeat = tokio::spawn(heartbeat_loop(db.clone(), owner.clone(), lease / 4));
                    return Ok(Self { db: db.clone(), owner, heartbeat });
                }
                Err(e) if is_already_exists(&e) => {}
                Err(e) => return Err(e.into()),
            }
            if let Some(holder) = holder(db).await? {
                if u128::try_from(holder.idle_ms).unwrap_or(0) > lease.as_millis() {
                    let tombstone = format!("{LOCK_TABLE}_expired_{}", sanitize(&holder.comment));
                    match db.query(&format!("RENAME TABLE {LOCK_TABLE} TO {tombstone}")).execute().await {
                        Ok(()) => tracing::warn!(
                            expired = %holder.comment,
                            idle_ms = holder.idle_ms,
                            "took over the migration lock of a migrator that stopped (lease expired)"
                        ),
                        // Another waiter took it over first, or the holder released it.
                        Err(e) if is_already_exists(&e) || is_unknown_table(&e) => {}
                        Err(e) => return Err(e.into()),
                    }
                    continue;
                }
                if !logged {
                    tracing::info!(holder = %holder.comment, "waiting for another migrator to finish");
                    logged = true;
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(MigrateError::LockBusy { holder: holder.comment, waited: wait });
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Fails unless the lock is still this migrator's (it may have been taken over after
    /// this process stalled for longer than the lease).
    pub async fn check(&self) -> Result<(), MigrateError> {
        match holder(&self.db).await? {
            Some(h) if h.comment == self.owner => Ok(()),
            other => Err(MigrateError::LockLost { owner: self.owner.clone(), now: other.map(|h| h.comment) }),
        }
    }

    /// Drops the lock table if it is still ours.
    pub async fn release(self) -> Result<(), MigrateError> {
        self.heartbeat.abort();
        if self.check().await.is_ok() {
            self.db.query(&format!("DROP TABLE IF EXISTS {LOCK_TABLE} SYNC")).execute().await?;
            tracing::info!(owner = %self.owner, "migration lock released");
        }
        Ok(())
    }

    /// Stops the heartbeat and leaves the lock in place, as a migrator that died would
    /// (tests of the takeover and of resuming an interrupted migration).
    pub fn abandon(self) {
        self.heartbeat.abort();
    }
}

async fn heartbeat_loop(db: clickhouse::Client, owner: String, every: Duration) {
    let every = every.max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(every).await;
        let sql = format!("INSERT INTO {LOCK_TABLE} SELECT '{owner}', now64(3)");
        if let Err(e) = db.query(&sql).execute().await {
            tracing::warn!(error = %e, "migration lock heartbeat failed");
        }
    }
}

/// The current holder and how long since its last sign of life (server clock).
async fn holder(db: &clickhouse::Client) -> Result<Option<Holder>, MigrateError> {
    let sql = format!(
        "SELECT t.comment AS comment, \
                dateDiff('millisecond', greatest(toDateTime64(t.metadata_modification_time, 3, 'UTC'), \
                    ifNull((SELECT max(heartbeat) FROM {LOCK_TABLE}), toDateTime64(0, 3, 'UTC'))), now64(3, 'UTC')) AS idle_ms \
         FROM system.tables AS t WHERE t.database = currentDatabase() AND t.name = '{LOCK_TABLE}'"
    );
    match db.query(&sql).fetch_optional::<Holder>().await {
        Ok(h) => Ok(h),
        // Released between the two reads of the statement.
        Err(e) if is_unknown_table(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn sanitize(s: &str) -> String {
    s.chars().filter(char::is_ascii_alphanumeric).take(32).collect()
}

fn is_already_exists(e: &clickhouse::error::Error) -> bool {
    e.to_string().contains("TABLE_ALREADY_EXISTS")
}

fn is_unknown_table(e: &clickhouse::error::Error) -> bool {
    e.to_string().contains("UNKNOWN_TABLE")
}
