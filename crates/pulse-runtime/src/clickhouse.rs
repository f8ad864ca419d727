//! ClickHouse client from configuration.
//!
//! Row validation is switched off: it needs `RowBinaryWithNamesAndTypes`, which the
//! ClickHouse 18.16 we test on does not have. Row structs are therefore kept in the same
//! column order as the DDL in `schemas/clickhouse/`, and integration tests read every row
//! type back to catch a mismatch.

use serde::Deserialize;

use crate::settings::{ensure, Secret, SettingsError};

/// `[clickhouse]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseConfig {
    /// HTTP endpoint, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    /// Database holding Pulse's tables (created by `pulse migrate`).
    pub database: String,
    pub user: String,
    /// Never logged.
    pub password: Option<Secret>,
    /// Use ClickHouse's LZ4 compression on the HTTP transport.
    pub compression: bool,
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8123".into(),
            database: "pulse".into(),
            user: "default".into(),
            password: None,
            compression: false,
        }
    }
}

impl ClickHouseConfig {
    pub fn validate(&self) -> Result<(), SettingsError> {
        ensure(
            self.url.starts_with("http://") || self.url.starts_with("https://"),
            "clickhouse.url",
            || format!("`{}` must start with http:// or https://", self.url),
        )?;
        ensure(
            !self.database.is_empty()
                && self.database.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "clickhouse.database",
            || format!("`{}` must be [A-Za-z0-9_]+", self.database),
        )
    }

    /// A client bound to the configured database.
    pub fn client(&self) -> clickhouse::Client {
        self.server_client().with_database(&self.database)
    }

    /// A client without a database (for `CREATE DATABASE`).
    pub fn server_client(&self) -> clickhouse::Client {
        let mut c = clickhouse::Client::default()
            .with_url(&self.url)
            .with_user(&self.user)
            .with_validation(false)
            .with_compression(if self.compression {
                clickhouse::Compression::Lz4
            } else {
                clickhouse::Compression::None
            });
        if let Some(p) = &self.password {
            c = c.with_password(p.expose());
        }
        c
    }
}

/// The server's version as (major, minor), e.g. (18, 16).
pub async fn server_version(client: &clickhouse::Client) -> Result<(u32, u32), clickhouse::error::Error> {
    let v: String = client.query("SELECT version()").fetch_one().await?;
    let mut it = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    Ok((it.next().unwrap_or(0), it.next().unwrap_or(0)))
}
