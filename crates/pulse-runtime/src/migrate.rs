//! Versioned ClickHouse migrations (`schemas/clickhouse/NNN_*.sql`), applied in order and
//! recorded in `schema_migrations`.
//!
//! Every statement is `IF NOT EXISTS`, so two migrators racing, or a migration interrupted
//! half-way and re-run, are harmless. Migrations are templates: `{{lc_string}}` becomes
//! `LowCardinality(String)` on servers that support it by default (>= 20.1) and `String` on
//! older ones (18.16 needs a setting for it), so one DDL serves the old server we test on and
//! current ClickHouse.

use sha2::{Digest, Sha256};

use crate::clickhouse::{server_version, ClickHouseConfig};

pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// All migrations, in order. Adding one: add the file and a line here.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "raw_events",
        sql: include_str!("../../../schemas/clickhouse/001_raw_events.sql"),
    },
    Migration {
        version: 2,
        name: "scores",
        sql: include_str!("../../../schemas/clickhouse/002_scores.sql"),
    },
    Migration {
        version: 3,
        name: "scorer_snapshots",
        sql: include_str!("../../../schemas/clickhouse/003_scorer_snapshots.sql"),
    },
    Migration {
        version: 4,
        name: "alert_acks",
        sql: include_str!("../../../schemas/clickhouse/004_alert_acks.sql"),
    },
];

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("clickhouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    #[error("migration {version} ({name}) failed at statement {index}: {source}")]
    Statement {
        version: u32,
        name: &'static str,
        index: usize,
        source: clickhouse::error::Error,
    },
}

/// Renders a migration template for a server version.
pub fn render(sql: &str, version: (u32, u32)) -> String {
    let lc = if version >= (20, 1) { "LowCardinality(String)" } else { "String" };
    sql.replace("{{lc_string}}", lc)
}

/// Splits a migration into statements: `--` comment lines removed, split on `;`.
pub fn statements(sql: &str) -> Vec<String> {
    let cleaned: String = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    cleaned.split(';').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

fn checksum(sql: &str) -> String {
    hex::encode(&Sha256::digest(sql.as_bytes())[..8])
}

#[derive(clickhouse::Row, serde::Serialize, serde::Deserialize)]
struct Applied {
    version: u32,
    name: String,
    checksum: String,
    applied_at: u32,
}

/// Applies pending migrations; returns the versions applied by this call.
pub async fn migrate(cfg: &ClickHouseConfig, now_unix: u32) -> Result<Vec<u32>, MigrateError> {
    let server = cfg.server_client();
    server.query(&format!("CREATE DATABASE IF NOT EXISTS {}", cfg.database)).execute().await?;
    let version = server_version(&server).await?;
    let db = cfg.client();
    db.query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, \
         checksum String, applied_at DateTime('UTC')) ENGINE = ReplacingMergeTree(applied_at) \
         ORDER BY version",
    )
    .execute()
    .await?;
    let applied: Vec<u32> =
        db.query("SELECT DISTINCT version FROM schema_migrations").fetch_all().await?;
    let mut done = Vec::new();
    for m in MIGRATIONS {
        if applied.contains(&m.version) {
            continue;
        }
        let sql = render(m.sql, version);
        for (index, stmt) in statements(&sql).iter().enumerate() {
            db.query(stmt).execute().await.map_err(|source| MigrateError::Statement {
                version: m.version,
                name: m.name,
                index,
                source,
            })?;
        }
        let mut insert = db.insert::<Applied>("schema_migrations").await?;
        insert
            .write(&Applied {
                version: m.version,
                name: m.name.into(),
                checksum: checksum(m.sql),
                applied_at: now_unix,
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
    fn renders_low_cardinality_only_on_new_servers() {
        assert_eq!(render("a {{lc_string}}", (18, 16)), "a String");
        assert_eq!(render("a {{lc_string}}", (24, 8)), "a LowCardinality(String)");
    }

    #[test]
    fn every_migration_splits_into_create_statements() {
        for m in MIGRATIONS {
            let stmts = statements(&render(m.sql, (18, 16)));
            assert!(!stmts.is_empty(), "migration {} has no statements", m.version);
            for s in stmts {
                assert!(s.starts_with("CREATE"), "migration {}: unexpected statement {s}", m.version);
                assert!(s.contains("IF NOT EXISTS"), "migration {}: not idempotent: {s}", m.version);
            }
        }
    }
}
