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
        ensure(self.url.starts_with("http://") || self.url.starts_with("https://"), "clickhouse.url", || {
            format!("`{}` must start with http:// or https://", self.url)
        })?;
        ensure(
            !self.database.is_empty() && self.database.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "clickhouse.database",
            || format!("`{}` must be [A-Za-z0-9_]+", self.database),
        )?;
        crate::tls::client_config_for(self.ca_file.as_deref(), "clickhouse.ca_file").map(|_| ())
    }

    /// A client bound to the configured database.
    pub fn client(&self) -> clickhouse::Client {
        self.server_client().with_database(&self.database)
    }

    /// A client bound to the configured database, once the server has answered: the
    /// start-up check of every command that needs ClickHouse, failing with the
    /// `clickhouse.url` key named.
    pub async fn connect(&self) -> anyhow::Result<clickhouse::Client> {
        use anyhow::Context as _;
        server_version(&self.server_client())
            .await
            .with_context(|| format!("clickhouse.url: cannot reach ClickHouse at {}", self.url))?;
        Ok(self.client())
    }

    /// A client without a database (for `CREATE DATABASE`).
    pub fn server_client(&self) -> clickhouse::Client {
        let mut c =
            self.base_client().with_url(&self.url).with_user(&self.user).with_validation(true).with_compression(
                if self.compression { clickhouse::Compression::Lz4 } else { clickhouse::Compression::None },
            );
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

/// What a failed ClickHouse call means for the caller (retry, isolate, or stop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The server or the network is unavailable or overloaded: retry with backoff, with
    /// consumption paused and `/readyz` failing, until it passes.
    Transient,
    /// The server refuses the *content* (a value it cannot parse or store, a constraint):
    /// retrying the same rows fails forever. Isolate the offending rows (split the batch),
    /// dead-letter them with the server's reason, store the rest and go on.
    Data,
    /// The setup is wrong (credentials, grants, a missing table or column, a row type that
    /// does not match the table, an untrusted certificate): nothing will pass until an
    /// operator fixes it, so the service stops with the server's message.
    Setup,
}

/// The server's error code in a `Code: N. DB::Exception: ...` answer.
pub fn error_code(err: &clickhouse::error::Error) -> Option<u32> {
    let clickhouse::error::Error::BadResponse(text) = err else { return None };
    let rest = &text[text.find("Code: ")? + 6..];
    rest[..rest.find(|c: char| !c.is_ascii_digit())?].parse().ok()
}

/// Classifies a ClickHouse error. Unknown codes are transient: a retry that cannot pass
/// is visible (metrics, logs, readiness), a dropped batch would not be.
pub fn classify(err: &clickhouse::error::Error) -> Failure {
    use clickhouse::error::Error as E;
    match err {
        E::SchemaMismatch(_) | E::InvalidColumnsHeader(_) | E::InvalidParams(_) | E::Unsupported(_) => Failure::Setup,
        E::Network(e) if format!("{e:?}").to_lowercase().contains("certificate") => Failure::Setup,
        E::BadResponse(_) => match error_code(err) {
            // AUTHENTICATION_FAILED, ACCESS_DENIED, UNKNOWN_TABLE, UNKNOWN_DATABASE,
            // NO_SUCH_COLUMN_IN_TABLE, UNKNOWN_IDENTIFIER, READONLY, UNKNOWN_SETTING,
            // THERE_IS_NO_COLUMN, REQUIRED_PASSWORD, UNKNOWN_USER
            Some(516 | 497 | 60 | 81 | 16 | 47 | 164 | 115 | 8 | 194 | 192) => Failure::Setup,
            // CANNOT_PARSE_TEXT, CANNOT_PARSE_INPUT_ASSERTION_FAILED, TYPE_MISMATCH,
            // ARGUMENT_OUT_OF_BOUND, CANNOT_CONVERT_TYPE, INCORRECT_DATA,
            // TOO_LARGE_STRING_SIZE, VIOLATED_CONSTRAINT, CANNOT_PARSE_DATETIME,
            // CANNOT_PARSE_DATE, VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE, TOO_LARGE_ARRAY_SIZE
            Some(6 | 27 | 53 | 69 | 70 | 117 | 131 | 469 | 41 | 38 | 321 | 128) => Failure::Data,
            _ => Failure::Transient,
        },
        _ => Failure::Transient,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified_by_the_servers_code() {
        let bad = |s: &str| clickhouse::error::Error::BadResponse(s.to_owned());
        let table = [
            ("Code: 469. DB::Exception: Constraint `c` for table t is violated. (VIOLATED_CONSTRAINT)", Failure::Data),
            ("Code: 27. DB::Exception: Cannot parse input. (CANNOT_PARSE_INPUT_ASSERTION_FAILED)", Failure::Data),
            ("Code: 516. DB::Exception: default: Authentication failed. (AUTHENTICATION_FAILED)", Failure::Setup),
            ("Code: 60. DB::Exception: Unknown table. (UNKNOWN_TABLE)", Failure::Setup),
            ("Code: 241. DB::Exception: Memory limit exceeded. (MEMORY_LIMIT_EXCEEDED)", Failure::Transient),
            ("Code: 252. DB::Exception: Too many parts. (TOO_MANY_PARTS)", Failure::Transient),
            ("bad response: 503 Service Unavailable", Failure::Transient),
        ];
        for (text, want) in table {
            assert_eq!(classify(&bad(text)), want, "{text}");
        }
        assert_eq!(error_code(&bad("Code: 469. DB::Exception: x")), Some(469));
        assert_eq!(classify(&clickhouse::error::Error::SchemaMismatch("x".into())), Failure::Setup);
        assert_eq!(classify(&clickhouse::error::Error::TimedOut), Failure::Transient);
    }
}
