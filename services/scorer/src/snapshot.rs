//! Snapshots of partition state in ClickHouse (`scorer_snapshots`).
//!
//! Keyed by (events topic, partition, scoring-config version): a snapshot taken under
//! other rules is never restored into an engine that would score by new ones (feature
//! bits and horizons differ); the partition is then rebuilt from the start of the log.
//!
//! # Format
//!
//! `PSNP` magic, a little-endian `u16` format version, a codec byte, then the body.
//! Version 1, codec 1: the state as MessagePack (self-describing, so the core's
//! internally tagged event enums round-trip), LZ4-compressed with its length in
//! front. Measured at 10k accounts / 200k users (`cargo bench -p pulse-scorer --bench
//! snapshot`, numbers in docs/benchmarks.md): several times smaller and faster than
//! the JSON it replaces. A body without the magic is the JSON of earlier releases and
//! still restores, so an upgrade does not rebuild every partition from the log.
//!
//! Encoding is CPU work: the service runs [`encode`] on the blocking pool, never on
//! the poll loop's thread.

use pulse_core::ScoringConfig;
use pulse_storage::{tables, types, SnapshotRef, SnapshotRow};

use crate::state::PartitionState;

/// Leading bytes of a binary snapshot.
pub const MAGIC: &[u8; 4] = b"PSNP";
/// The format [`encode`] writes.
pub const FORMAT_VERSION: u16 = 1;
/// MessagePack (named fields) in LZ4 blocks with the size prepended.
const CODEC_MSGPACK_LZ4: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("clickhouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    #[error("snapshot of partition {partition} at offset {offset} does not decode: {reason}")]
    Decode { partition: i32, offset: i64, reason: String },
    #[error("partition state does not encode: {0}")]
    Encode(String),
}

/// The bytes of a snapshot of `state` (see the module doc for the format).
pub fn encode(state: &PartitionState) -> Result<Vec<u8>, SnapshotError> {
    let body = rmp_serde::to_vec_named(state).map_err(|e| SnapshotError::Encode(e.to_string()))?;
    let packed = lz4_flex::compress_prepend_size(&body);
    let mut out = Vec::with_capacity(packed.len() + 7);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.push(CODEC_MSGPACK_LZ4);
    out.extend_from_slice(&packed);
    Ok(out)
}

/// A state from [`encode`]'s bytes, or from the JSON of earlier releases.
pub fn decode(bytes: &[u8]) -> Result<PartitionState, String> {
    let Some(rest) = bytes.strip_prefix(MAGIC) else {
        return serde_json::from_slice(bytes).map_err(|e| format!("legacy JSON snapshot: {e}"));
    };
    let [v0, v1, codec, body @ ..] = rest else { return Err("truncated header".into()) };
    let version = u16::from_le_bytes([*v0, *v1]);
    match (version, *codec) {
        (FORMAT_VERSION, CODEC_MSGPACK_LZ4) => {
            let raw = lz4_flex::decompress_size_prepended(body).map_err(|e| format!("lz4: {e}"))?;
            rmp_serde::from_slice(&raw).map_err(|e| format!("msgpack: {e}"))
        }
        _ => Err(format!(
            "format version {version} codec {codec} is not known to this release (it reads version {FORMAT_VERSION})"
        )),
    }
}

/// What [`SnapshotStore::load`] found.
#[derive(Debug, Default)]
pub struct Restored {
    /// The newest snapshot that decodes, if any.
    pub state: Option<PartitionState>,
    /// Newer snapshots that did not decode (offset, why), skipped.
    pub undecodable: Vec<(i64, String)>,
}

/// How many of a partition's newest snapshots a restore tries before starting empty.
const RESTORE_CANDIDATES: u64 = 3;

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

    /// The newest snapshot of `partition` under the current config that decodes.
    ///
    /// A snapshot that does not decode (corrupted, or written by a newer release) is
    /// skipped and reported in [`Restored::undecodable`], and the next older one is
    /// tried: retrying it would fail forever and stop the partition (issue 19). With
    /// none left the partition is rebuilt from the log. Only ClickHouse errors are
    /// errors (the caller retries those).
    pub async fn load(&self, partition: i32) -> Result<Restored, SnapshotError> {
        let offsets: Vec<i64> = self
            .ch
            .query(
                "SELECT DISTINCT next_offset FROM scorer_snapshots WHERE topic = {topic:String} \
                 AND partition = {part:Int32} AND config_version = {config_version:String} \
                 ORDER BY next_offset DESC LIMIT {n:UInt64}",
            )
            .param("topic", &self.topic)
            .param("part", partition)
            .param("config_version", &self.config_version)
            .param("n", RESTORE_CANDIDATES)
            .fetch_all()
            .await?;
        let mut restored = Restored::default();
        for offset in offsets {
            // Every snapshot at this offset (not yet merged away): the one saved last
            // wins, by its save count (see `PartitionState::saves`).
            let rows = self
                .ch
                .query(
                    "SELECT ?fields FROM scorer_snapshots WHERE topic = {topic:String} AND partition = {part:Int32} \
                     AND config_version = {config_version:String} AND next_offset = {offset:Int64}",
                )
                .param("topic", &self.topic)
                .param("part", partition)
                .param("config_version", &self.config_version)
                .param("offset", offset)
                .fetch_all::<SnapshotRow>()
                .await?;
            let mut best: Option<PartitionState> = None;
            for row in rows {
                match decode(&row.state) {
                    Ok(state) => {
                        if best.as_ref().is_none_or(|b| state.saves >= b.saves) {
                            best = Some(state);
                        }
                    }
                    Err(reason) => {
                        let e = SnapshotError::Decode { partition, offset, reason };
                        tracing::error!(error = %e, "snapshot skipped: it does not decode; trying another");
                        restored.undecodable.push((offset, e.to_string()));
                    }
                }
            }
            if let Some(mut state) = best {
                state.alerts.set_config(&self.config);
                restored.state = Some(state);
                break;
            }
        }
        Ok(restored)
    }

    /// The newest snapshot of `partition` taken under *another* scoring config that
    /// decodes: after a scoring-config change it tells which accounts the partition holds
    /// and up to which offset of the log they were scored (`next_offset`), so the
    /// partition is rebuilt from the raw events in ClickHouse and the log after that
    /// offset (`rebuild`), not from the start of a log whose retention may have dropped
    /// the oldest CRM events.
    pub async fn load_other_config(&self, partition: i32) -> Result<Option<PartitionState>, SnapshotError> {
        let offsets: Vec<(i64, String)> = self
            .ch
            .query(
                "SELECT next_offset, config_version FROM scorer_snapshots WHERE topic = {topic:String} \
                 AND partition = {part:Int32} AND config_version != {config_version:String} \
                 GROUP BY next_offset, config_version ORDER BY max(created_at) DESC, next_offset DESC LIMIT {n:UInt64}",
            )
            .param("topic", &self.topic)
            .param("part", partition)
            .param("config_version", &self.config_version)
            .param("n", RESTORE_CANDIDATES)
            .fetch_all()
            .await?;
        for (offset, version) in offsets {
            let row = self
                .ch
                .query(
                    "SELECT ?fields FROM scorer_snapshots WHERE topic = {topic:String} AND partition = {part:Int32} \
                     AND config_version = {config_version:String} AND next_offset = {offset:Int64} \
                     ORDER BY created_at DESC LIMIT 1",
                )
                .param("topic", &self.topic)
                .param("part", partition)
                .param("config_version", &version)
                .param("offset", offset)
                .fetch_optional::<SnapshotRow>()
                .await?;
            let Some(row) = row else { continue };
            match decode(&row.state) {
                Ok(state) => return Ok(Some(state)),
                Err(reason) => {
                    tracing::warn!(partition, offset, config_version = %version, %reason, "snapshot under another config does not decode; trying an older one")
                }
            }
        }
        Ok(None)
    }

    /// Stores `state` (the bytes of [`encode`], covering the log up to `next_offset`)
    /// as the newest snapshot of `partition`. The row borrows `state`: no copy of the
    /// (tens of megabytes of) encoded state is made.
    pub async fn save(&self, partition: i32, next_offset: i64, state: &[u8], now: u32) -> Result<(), SnapshotError> {
        let mut insert = self.ch.insert::<SnapshotRef<'_>>(tables::SCORER_SNAPSHOTS).await?;
        insert
            .write(&SnapshotRef {
                topic: &self.topic,
                partition,
                config_version: &self.config_version,
                next_offset,
                state,
                created_at: types::seconds(now),
            })
            .await?;
        insert.end().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use pulse_core::{parse_event, AlertTracker};

    fn state() -> PartitionState {
        let config = ScoringConfig::default();
        let mut st = PartitionState::new(&config);
        let lines = [
            r#"{"type":"account","event_id":"a1","account_id":"acme","timestamp":"2026-11-01T08:00:00Z","licensed_seats":5,"lifecycle_stage":"onboarding"}"#,
            r#"{"type":"usage","event_id":"u1","account_id":"acme","user_id":"ann","event":"open","timestamp":"2026-11-02T10:00:00Z","properties":{"x":[1,{"y":null}]}}"#,
            r#"{"type":"ticket","event_id":"t1","account_id":"acme","timestamp":"2026-11-03T10:00:00Z","ticket_id":"T","severity":"critical","status":"open"}"#,
            r#"{"type":"renewal","event_id":"r1","account_id":"acme","timestamp":"2026-11-04T10:00:00Z","outcome":"renewed","renewal_on":"2026-11-04","arr_before":1,"arr_after":2}"#,
        ];
        for l in lines {
            st.engine.apply(&parse_event(l.as_bytes()).expect("valid"));
        }
        let day = NaiveDate::from_ymd_opt(2026, 11, 4).expect("date");
        let evs: Vec<_> = (1..=4).filter_map(|d| st.engine.evaluate("acme", day - chrono::Days::new(4 - d))).collect();
        let mut alerts = AlertTracker::new(&config);
        for t in alerts.update_many(&evs) {
            st.held.hold(t);
        }
        st.alerts = alerts;
        st.last_tick = Some(day);
        st.next_offset = 42;
        st
    }

    #[test]
    fn binary_snapshots_round_trip_and_carry_their_version() {
        let st = state();
        let bytes = encode(&st).expect("encodes");
        assert_eq!(&bytes[..4], MAGIC);
        assert_eq!(u16::from_le_bytes([bytes[4], bytes[5]]), FORMAT_VERSION);
        let back = decode(&bytes).expect("decodes");
        assert_eq!(back.engine, st.engine);
        assert_eq!(back.next_offset, 42);
        assert_eq!(back.last_tick, st.last_tick);
        assert_eq!(serde_json::to_value(&back.alerts).ok(), serde_json::to_value(&st.alerts).ok());
        // Transitions held for notification survive too, in order (a crash or a
        // rebalance while catching up loses none of them).
        assert!(!st.held.is_empty(), "the scenario holds transitions");
        assert_eq!(back.held, st.held);
        // A snapshot of a release before `held` existed restores with nothing held.
        let mut old = serde_json::to_value(&st).expect("json");
        old.as_object_mut().expect("object").remove("held");
        let back = decode(&serde_json::to_vec(&old).expect("json")).expect("decodes");
        assert!(back.held.is_empty());
    }

    #[test]
    fn legacy_json_snapshots_still_restore() {
        let st = state();
        let json = serde_json::to_vec(&st).expect("json");
        let back = decode(&json).expect("decodes");
        assert_eq!(back.engine, st.engine);
    }

    #[test]
    fn unknown_versions_and_damage_are_errors_not_panics() {
        let mut bytes = encode(&state()).expect("encodes");
        bytes[4] = 9;
        assert!(decode(&bytes).expect_err("future version").contains("format version 9"));
        assert!(decode(b"PSNP\x01").is_err());
        let mut cut = encode(&state()).expect("encodes");
        cut.truncate(cut.len() / 2);
        assert!(decode(&cut).is_err());
        assert!(decode(b"").is_err());
    }
}
