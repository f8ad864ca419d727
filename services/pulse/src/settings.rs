//! The whole `pulse.toml`: one section per component, each documented on its struct.
//! Precedence: defaults < `pulse.toml` (or `--config FILE`) < `PULSE__SECTION__KEY` env.

use std::path::Path;

use anyhow::Context as _;
use pulse_api::ApiConfig;
use pulse_collect::CollectConfig;
use pulse_ingest::IngestConfig;
use pulse_runtime::{
    clickhouse::ClickHouseConfig,
    kafka::{KafkaConfig, TopicsConfig},
    telemetry::TelemetryConfig,
};
use pulse_scorer::ScorerConfig;
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub kafka: KafkaConfig,
    pub topics: TopicsConfig,
    pub clickhouse: ClickHouseConfig,
    pub telemetry: TelemetryConfig,
    pub ingest: IngestConfig,
    pub scorer: ScorerConfig,
    pub api: ApiConfig,
    pub collect: CollectConfig,
}

impl Settings {
    /// Loads and validates; the error names the offending key.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let s: Settings = pulse_runtime::settings::load(file).context("invalid configuration")?;
        s.validate()?;
        Ok(s)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        self.kafka.validate()?;
        self.topics.validate()?;
        self.clickhouse.validate()?;
        self.ingest.validate()?;
        self.ingest.validate_against_producer(self.kafka.message_max_bytes()?)?;
        self.scorer.validate()?;
        self.api.validate()?;
        self.collect.validate()?;
        self.scorer.load_scoring()?;
        Ok(())
    }
}
