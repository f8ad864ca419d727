//! ClickHouse client from configuration.
//!
//! Row validation is on: rows travel as `RowBinaryWithNamesAndTypes`, and the client checks
//! every struct field's name and type against what the server says, so a row struct that
//! drifts from the DDL in `schemas/clickhouse/` fails with a clear error on first use.

use std::{path::PathBuf, time::Duration};

use hyper_util::{client::legacy::connect::HttpConnector, rt::TokioExecutor};
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
    /// PEM bundle of extra CA certificates trusted for an `https://` url (a private CA),
    /// on top of Mozilla's roots. Read and checked at start-up.
    pub ca_file: Option<PathBuf>,
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8123".into(),
            database: "pulse".into(),
            user: "default".into(),
            password: None,
            compression: false,
            ca_file: None,
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
        )?;
        crate::tls::client_config_for(self.ca_file.as_deref(), "clickhouse.ca_file").map(|_| ())
    }

    /// A client bound to the configured database.
    pub fn client(&self) -> clickhouse::Client {
        self.server_client().with_database(&self.database)
    }

    /// A client without a database (for `CREATE DATABASE`).
    pub fn server_client(&self) -> clickhouse::Client {
        let mut c = self.base_client()
            .with_url(&self.url)
            .with_user(&self.user)
            .with_validation(true)
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

impl ClickHouseConfig {
    /// The HTTP(S) client: rustls (Mozilla roots + `ca_file`) for `https://`, plain TCP
    /// for `http://`, keep-alive like clickhouse-rs's default. An unreadable `ca_file` was
    /// refused by [`validate`](Self::validate) at start-up; here it falls back to the
    /// default roots (and the server's certificate is then refused, loudly).
    fn base_client(&self) -> clickhouse::Client {
        // With no extra CA the configuration cannot fail: the ring provider supports the
        // safe default protocol versions.
        #[allow(clippy::expect_used)]
        let tls = crate::tls::client_config_for(self.ca_file.as_deref(), "clickhouse.ca_file")
            .or_else(|_| crate::tls::client_config(&[], "clickhouse.ca_file"))
            .expect("rustls with ring and Mozilla's roots");
        let mut http = HttpConnector::new();
        http.set_keepalive(Some(Duration::from_secs(60)));
        http.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
        let http = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(2))
            .build(connector);
        clickhouse::Client::with_http_client(http)
    }
}

/// The server's version as (major, minor), e.g. (18, 16).
pub async fn server_version(client: &clickhouse::Client) -> Result<(u32, u32), clickhouse::error::Error> {
    let v: String = client.query("SELECT version()").fetch_one().await?;
    let mut it = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    Ok((it.next().unwrap_or(0), it.next().unwrap_or(0)))
}
