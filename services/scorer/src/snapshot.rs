//! Snapshots of partition state in ClickHouse (`scorer_snapshots`).
//!
//! Keyed by (events topic, partition, scoring-config version): a snapshot taken under
//! other rules is never restored into an engine that would score by new ones (feature
//! bits and horizons differ); the partition is then rebuilt from the start of the log.

use pulse_core::ScoringConfig;
use serde::{Deserialize, Serialize};

use crate::state::PartitionState;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("clickhouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    #[error("snapshot of partition {partition} at offset {offset} does not decode: {source}")]
    Decode { partition: i32, offset: i64, source: serde_json::Error },
}

#[derive(Debug, clickhouse::Row, Serialize, Deserialize)]
struct SnapshotRow {
    topic: String,
    partition: i32,
    config_version: String,
    next_offset: i64,
    state: String,
    created_at: u32,
}

#[derive(Clone)]
pub struct SnapshotStore {
    ch: clickhouse::Client,
    topic: String,
    config: ScoringConfig,
    config_version: String,
}

impl SnapshotStore {
    pub fn new(ch: clickhouse::Client, topic: String, config: ScoringConfig) -> Self {
        let config_version = config.version();
        Self { ch, topic, config, config_version }
    }

    /// The newest snapshot of `partition` under the current config, if any.
    pub async fn load(&self, partition: i32) -> Result<Option<PartitionState>, SnapshotError> {
        let row = self
            .ch
            .query(
                "SELECT ?fields FROM scorer_snapshots WHERE topic = ? AND partition = ? AND config_version = ? \
                 ORDER BY next_offset DESC LIMIT 1",
            )
            .bind(&self.topic)
            .bind(partition)
            .bind(&self.config_version)
            .fetch_optional::<SnapshotRow>()
            .await?;
        let Some(row) = row else { return Ok(None) };
        let mut state: PartitionState = serde_json::from_str(&row.state).map_err(|source| SnapshotError::Decode {
            partition,
            offset: row.next_offset,
            source,
        })?;
        state.alerts.set_config(&self.config);
        Ok(Some(state))
    }

    /// Stores `state` as the newest snapshot of `partition`.
    pub async fn save(&self, partition: i32, state: &PartitionState, now: u32) -> Result<usize, SnapshotError> {
        let json = serde_json::to_string(state).map_err(|source| SnapshotError::Decode {
            partition,
            offset: state.next_offset,
            source,
        })?;
        let bytes = json.len();
        let mut insert = self.ch.insert::<SnapshotRow>("scorer_snapshots").await?;
        insert
            .write(&SnapshotRow {
                topic: self.topic.clone(),
                partition,
                config_version: self.config_version.clone(),
                next_offset: state.next_offset,
                state: json,
                created_at: now,
            })
            .await?;
        insert.end().await?;
        Ok(bytes)
    }
}
