//! Versioned ClickHouse migrations (`schemas/clickhouse/NNN_*.sql`), applied in order and
//! recorded in `schema_migrations`.
//!
//! Statements are written to be re-runnable (`IF NOT EXISTS`, or a build-beside-then-
//! `EXCHANGE TABLES` for a table whose engine changes), so a migration interrupted half-way
//! and run again is harmless. Supported servers: current ClickHouse (CI runs 26.9; the
//! compose file and k8s pin the same line); older releases are refused at start-up.

use pulse_storage::{migrations::MigrationRow, tables};
use sha2::{Digest, Sha256};

use crate::clickhouse::{server_version, ClickHouseConfig};

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
];

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("clickhouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    #[error("ClickHouse {0}.{1} is too old: Pulse needs {min}.{minor} or newer", min = MIN_SERVER_VERSION.0, minor = MIN_SERVER_VERSION.1)]
    ServerTooOld(u32, u32),
    #[error("migration {version} ({name}) failed at statement {index}: {source}")]
    Statement { version: u32, name: &'static str, index: usize, source: clickhouse::error::Error },
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
    let applied: Vec<u32> = db.query("SELECT DISTINCT version FROM schema_migrations").fetch_all().await?;
    let mut done = Vec::new();
    for m in MIGRATIONS {
        if applied.contains(&m.version) {
            continue;
        }
        for (index, stmt) in statements(m.sql).iter().enumerate() {
            db.query(stmt).execute().await.map_err(|source| MigrateError::Statement {
                version: m.version,
                name: m.name,
                index,
                source,
            })?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_statement_is_rerunnable() {
        for m in MIGRATIONS {
            let stmts = statements(m.sql);
            assert!(!stmts.is_empty(), "migration {} has no statements", m.version);
            for s in stmts {
                let ok = (s.starts_with("CREATE") && s.contains("IF NOT EXISTS"))
                    || s.starts_with("DROP TABLE IF EXISTS")
                    || s.starts_with("EXCHANGE TABLES")
                    || s.starts_with("INSERT INTO");
                assert!(ok, "migration {}: not re-runnable: {s}", m.version);
            }
        }
    }
}
