//! Logging through `tracing`. Text for humans, JSON for log pipelines.

use serde::Deserialize;
use tracing_subscriber::{fmt, EnvFilter};

/// `[telemetry]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Log filter in `RUST_LOG` syntax, e.g. `info` or `info,pulse_ingest=debug`.
    /// `RUST_LOG`, when set, takes precedence.
    pub log_level: String,
    /// `text` (default) or `json` (one JSON object per line).
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self { log_level: "info".into(), log_format: LogFormat::Text }
    }
}

/// Installs the global subscriber. Safe to call more than once (later calls are no-ops),
/// which keeps tests that spawn several apps simple.
pub fn init(cfg: &TelemetryConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&cfg.log_level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match cfg.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
