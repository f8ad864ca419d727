//! `schema_migrations`: one row per migration applied by `pulse migrate` (the table is
//! created by the migrator itself, before any migration runs).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One applied migration.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct MigrationRow {
    pub version: u32,
    pub name: String,
    /// The first 8 bytes of the SHA-256 of its SQL, hex.
    pub checksum: String,
    #[serde(with = "clickhouse::serde::chrono::datetime")]
    pub applied_at: DateTime<Utc>,
}
